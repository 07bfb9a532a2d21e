"""The Debian package, built by scripts/package.sh (what `make package` runs) and installed
for real on this machine with apt-get, as an installer would: `edge-agent --version`,
`config check` on the installed example, `systemd-analyze verify` on the installed unit;
then an upgrade that keeps the edited config and buffer.db, a removal that keeps them,
and a purge that removes them. CI runs as root; the test purges what it installed.

The bundled dependencies are built once and reused from build/package/ while
pyproject.toml is unchanged (`--reuse`); `--fast` packs without compression instead of xz.
"""

from __future__ import annotations

import grp
import os
import re
import shutil
import sqlite3
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PKG = "edge-agent"
TAG = "+citest"  # versions this test installs; it may purge those, and only those
CONF = Path("/etc/edge-agent/gateway.toml")
DATA = Path("/var/lib/edge-agent")
UNIT = Path("/usr/lib/systemd/system/edge-agent.service")
APT = ["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=120"]
ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


def sh(*cmd: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, env=ENV
    )
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def installed_version() -> str | None:
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f", "${db:Status-Abbrev} ${Version}", PKG],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if proc.returncode != 0:
        return None
    status, _, version = proc.stdout.partition(" ")
    return version.strip() if status.strip() in ("ii", "rc", "iU", "iF") else None


def purge_ours() -> None:
    version = installed_version()
    if version is not None and TAG in version:
        sh(*APT, "purge", PKG)


def repack(deb: Path, version: str, out: Path) -> Path:
    """The same package under another version: an upgrade without a second build."""
    tree = out / "tree"
    sh("dpkg-deb", "-R", deb, tree)
    control = tree / "DEBIAN" / "control"
    control.write_text(re.sub(r"(?m)^Version: .*$", f"Version: {version}", control.read_text()))
    new = out / f"edge-agent_{version}_{deb.name.rsplit('_', 1)[1]}"
    sh("dpkg-deb", "--root-owner-group", "-Znone", "--build", tree, new)
    shutil.rmtree(tree)
    return new


@pytest.mark.timeout(1200)
def test_deb_installs_offline_checks_upgrades_keeps_data_and_purges(tmp_path: Path) -> None:
    assert os.geteuid() == 0, "installs a .deb: run as root, as CI does"
    purge_ours()
    found = installed_version()
    assert found is None, (
        f"{PKG} {found} is installed on this machine and was not installed by this test; "
        "it would be purged: remove it first"
    )
    sh(ROOT / "scripts" / "package.sh", "--reuse", "--fast", "--version", f"0.1.0{TAG}1",
       "--out", tmp_path / "v1", timeout=1000)  # fmt: skip
    (deb,) = (tmp_path / "v1").glob("edge-agent_*.deb")
    assert re.fullmatch(r"edge-agent_0\.1\.0\+citest1_[a-z0-9]+\.deb", deb.name)
    (wheel,) = (tmp_path / "v1").glob("edge_agent-*.whl")
    names = "\n".join(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "rules/packs/water.toml",
        "firmware_profiles/generic-pressure-float32.toml",
        "share/edge-agent/systemd/edge-agent.service",
        "share/edge-agent/gateway.toml",
    ):
        assert needed in names, f"the wheel lacks {needed}"  # fmt: skip
    contents = sh("dpkg-deb", "-c", deb).stdout
    for tool in ("/pytest/", "/hypothesis/", "/mypy/", "/ruff", "site-packages/pip/"):
        assert tool not in contents, f"the .deb carries {tool.strip('/')}"
    upgrade = repack(deb, f"0.1.0{TAG}2", tmp_path)
    try:
        started = time.monotonic()
        sh(*APT, "install", deb)
        assert sh("edge-agent", "--version").stdout.strip() == "edge-agent 0.1.0"
        checked = sh("edge-agent", "config", "check", "-c", CONF).stdout
        elapsed_s = time.monotonic() - started
        assert checked.startswith(f"OK: {CONF}"), checked
        print(f"\napt-get install to a checked config: {elapsed_s:.1f} s")
        verify = sh("systemd-analyze", "verify", UNIT)
        assert verify.stdout + verify.stderr == ""
        assert "dialout" in sh("id", "-nG", "edge-agent").stdout.split()
        # The distribution's python3.X by its versioned name, not whatever python3 becomes.
        interpreter = Path("/opt/edge-agent/bin/python3").resolve()
        assert re.fullmatch(r"/usr/bin/python3\.\d+", str(interpreter)), interpreter
        st = CONF.parent.stat()
        assert (oct(st.st_mode & 0o777), st.st_gid) == ("0o750", grp.getgrnam("edge-agent").gr_gid)
        assert DATA.is_dir()
        # The service user can read its config (it is 0640 root:edge-agent).
        sh("runuser", "-u", "edge-agent", "--", "edge-agent", "config", "check", "-c", CONF)

        # Upgrade: the edited config (a conffile) and the buffer stay as they are.
        edited = CONF.read_text().replace('"gw-example-01"', '"gw-upgraded-07"')
        CONF.write_text(edited)
        buffer = DATA / "buffer.db"
        with sqlite3.connect(buffer) as db:
            db.execute("CREATE TABLE kept (v INTEGER)")
            db.execute("INSERT INTO kept VALUES (42)")
        db.close()
        sh(*APT, "install", upgrade)
        assert installed_version() == f"0.1.0{TAG}2"
        assert CONF.read_text() == edited
        with sqlite3.connect(buffer) as db:
            assert db.execute("SELECT v FROM kept").fetchall() == [(42,)]
        db.close()
        assert "gw-upgraded-07" in sh("edge-agent", "config", "check", "-c", CONF).stdout

        # Remove: program gone, config and data kept. Purge: all gone.
        sh(*APT, "remove", PKG)
        assert not Path("/usr/bin/edge-agent").exists()
        assert not Path("/opt/edge-agent").exists()
        assert CONF.read_text() == edited
        assert buffer.exists()
        sh(*APT, "purge", PKG)
        assert installed_version() is None
        assert not CONF.parent.exists()
        assert not DATA.exists()
    finally:
        purge_ours()
