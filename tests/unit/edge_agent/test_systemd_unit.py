"""The shipped systemd files, checked by systemd's own tools (they are on every CI machine,
a Debian with systemd installed; a missing tool is a failure, not a skip)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SYSTEMD = ROOT / "systemd"
UNIT = SYSTEMD / "edge-agent.service"
MAX_EXPOSURE = 2.0


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found is not None, f"{name} is not installed (apt-get install systemd)"
    return found


def directives(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_security_exposure_is_at_most_2() -> None:
    proc = subprocess.run(
        [tool("systemd-analyze"), "security", "--offline=true", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"Overall exposure level for edge-agent\.service: (\d+\.\d+)", proc.stdout)
    assert m is not None, proc.stdout[-2000:]
    assert float(m.group(1)) <= MAX_EXPOSURE, proc.stdout


def test_security_threshold_gate_agrees() -> None:
    # --threshold is on a 0-100 scale: 20 is the 2.0 above. A second opinion on the parse.
    proc = subprocess.run(
        [tool("systemd-analyze"), "security", "--offline=true", "--threshold=20", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_key_directives_are_present() -> None:
    d = directives(UNIT)
    expected = {
        "Type": "notify",
        "NotifyAccess": "main",
        "Restart": "on-failure",
        "User": "edge-agent",
        "SupplementaryGroups": "dialout",
        "StateDirectory": "edge-agent",
        "RuntimeDirectory": "edge-agent",
        "CacheDirectory": "edge-agent",
        "ExecStart": "/usr/bin/edge-agent run -c /etc/edge-agent/gateway.toml",
        "ExecReload": "/bin/kill -HUP $MAINPID",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "DevicePolicy": "closed",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "SystemCallArchitectures": "native",
        "UMask": "0027",
    }
    for key, value in expected.items():
        assert value in d.get(key, []), f"{key}={value} missing from {UNIT.name}"
    assert "Environment" in d
    assert "NUMBA_CACHE_DIR=/var/cache/edge-agent/numba" in d["Environment"]
    assert "@system-service" in d["SystemCallFilter"]
    for key in ("WatchdogSec", "RestartSec"):
        assert d.get(key), f"{key} missing"
    for dev in ("char-ttyS rw", "char-ttyUSB rw", "char-ttyAMA rw"):
        assert dev in d["DeviceAllow"]
    # numba's LLVM JIT needs writable+executable pages: this must stay off.
    assert "MemoryDenyWriteExecute" not in d


def fake_root(tmp_path: Path) -> Path:
    """A root with the distribution's units, the unit under test and its binaries."""
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copytree("/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    exe = root / "usr/bin/edge-agent"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    shutil.copy2("/bin/kill", root / "bin/kill")
    shutil.copy2(UNIT, root / "etc/systemd/system" / UNIT.name)
    return root


def test_systemd_analyze_verify_finds_nothing_to_complain_about(tmp_path: Path) -> None:
    root = fake_root(tmp_path)
    proc = subprocess.run(
        [tool("systemd-analyze"), "verify", "--man=no", f"--root={root}", UNIT.name],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # verify exits 0 even for an unknown key or a bad value; it only warns on stderr.
    assert proc.returncode == 0, proc.stderr
    assert UNIT.name not in proc.stderr, proc.stderr


def test_verify_would_catch_a_misspelled_directive(tmp_path: Path) -> None:
    root = fake_root(tmp_path)
    unit = root / "etc/systemd/system" / UNIT.name
    unit.write_text(unit.read_text().replace("ProtectHome=yes", "ProtectHom=yes"))
    proc = subprocess.run(
        [tool("systemd-analyze"), "verify", "--man=no", f"--root={root}", UNIT.name],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Unknown key 'ProtectHom'" in proc.stderr


SECRETS = ("mqtt.pass", "client.key", "commands.key")


def test_sysusers_and_tmpfiles_make_the_user_and_private_directories(tmp_path: Path) -> None:
    # Runs the real tools on a scratch root. Needs root (tmpfiles chowns), as CI and
    # `make test` do per the README.
    root = tmp_path / "root"
    for d in ("etc", "usr/lib/sysusers.d", "usr/lib/tmpfiles.d"):
        (root / d).mkdir(parents=True)
    shutil.copy2("/etc/passwd", root / "etc/passwd")
    shutil.copy2("/etc/group", root / "etc/group")
    shutil.copy2(SYSTEMD / "edge-agent.sysusers.conf", root / "usr/lib/sysusers.d/edge-agent.conf")
    shutil.copy2(SYSTEMD / "edge-agent.tmpfiles.conf", root / "usr/lib/tmpfiles.d/edge-agent.conf")
    # Written as an installer would (root, umask 022), before tmpfiles sets them right.
    (root / "etc/edge-agent").mkdir()
    for name in ("gateway.toml", *SECRETS):
        (root / "etc/edge-agent" / name).write_text("x")
        (root / "etc/edge-agent" / name).chmod(0o644)
    for cmd in (
        [tool("systemd-sysusers"), f"--root={root}", "edge-agent.conf"],
        [tool("systemd-tmpfiles"), f"--root={root}", "--create", "edge-agent.conf"],
    ):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert "ignoring" not in proc.stderr.lower(), proc.stderr

    passwd = {
        line.split(":")[0]: line.split(":")
        for line in (root / "etc/passwd").read_text().split("\n")
        if line
    }
    groups = {
        line.split(":")[0]: line.split(":")
        for line in (root / "etc/group").read_text().split("\n")
        if line
    }
    user = passwd["edge-agent"]
    uid, gid = int(user[2]), int(user[3])
    assert user[6] == "/usr/sbin/nologin"
    assert int(groups["edge-agent"][2]) == gid
    assert "edge-agent" in groups["dialout"][3].split(",")

    etc = (root / "etc/edge-agent").stat()
    assert (etc.st_uid, etc.st_gid, etc.st_mode & 0o7777) == (0, gid, 0o750)
    config = (root / "etc/edge-agent/gateway.toml").stat()
    assert (config.st_uid, config.st_gid, config.st_mode & 0o7777) == (0, gid, 0o640)
    for name in SECRETS:  # the daemon's alone: its group (the technicians) reads nothing
        st = (root / "etc/edge-agent" / name).stat()
        assert (st.st_uid, st.st_mode & 0o7777) == (uid, 0o400), name
        assert st.st_gid != gid, name
    state = (root / "var/lib/edge-agent").stat()
    assert (state.st_uid, state.st_gid, state.st_mode & 0o7777) == (uid, gid, 0o750)


MDWE_PROBE = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
# PR_SET_MDWE (65), PR_MDWE_REFUSE_EXEC_GAIN (1): the kernel's own form of
# systemd's MemoryDenyWriteExecute= (Linux 6.3 and later).
if libc.prctl(65, 1, 0, 0, 0) != 0:
    sys.exit("PR_SET_MDWE not supported: " + os.strerror(ctypes.get_errno()))
from numba import njit
print(njit(lambda x: x + 1)(1))
"""


def test_numba_cannot_live_with_memory_deny_write_execute() -> None:
    """Why the unit leaves MemoryDenyWriteExecute= off: the JIT needs W+X memory."""
    free = subprocess.run(
        [sys.executable, "-c", MDWE_PROBE.replace("if libc.prctl", "if 0 and libc.prctl")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert free.returncode == 0, free.stderr
    assert free.stdout.strip() == "2"
    denied = subprocess.run(
        [sys.executable, "-c", MDWE_PROBE], capture_output=True, text=True, timeout=120
    )
    assert "PR_SET_MDWE not supported" not in denied.stderr, denied.stderr
    assert denied.returncode != 0
    assert "cannot allocate executable memory" in denied.stderr
