"""Logs under journald carry their level as a syslog prefix and no second timestamp."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from edge_agent.system.logs import JournalFormatter, JsonFormatter, stderr_is_journal

SCRIPT = """
import logging, sys
from edge_agent.system.logs import setup_logging
setup_logging("info", sys.argv[1])
log = logging.getLogger("edge_agent.poller")
log.warning("device not answering device=%s reason=%s", "pt-102", "timeout")
log.info("device answering again device=%s", "pt-102")
log.debug("not shown")
"""


def run_logging(tmp_path: Path, fmt: str, journal: bool) -> list[str]:
    err = tmp_path / "stderr.txt"
    err.touch()
    st = err.stat()
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    if journal:
        env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"  # what systemd sets
    with err.open("w") as f:
        subprocess.run(
            [sys.executable, "-c", SCRIPT, fmt], stderr=f, env=env, check=True, timeout=60
        )
    return err.read_text().splitlines()


def test_under_journald_lines_carry_priority_and_no_timestamp(tmp_path: Path) -> None:
    assert run_logging(tmp_path, "text", journal=True) == [
        "<4>WARNING edge_agent.poller: device not answering device=pt-102 reason=timeout",
        "<6>INFO edge_agent.poller: device answering again device=pt-102",
    ]


def test_on_a_terminal_lines_carry_a_timestamp_and_no_prefix(tmp_path: Path) -> None:
    lines = run_logging(tmp_path, "text", journal=False)
    assert len(lines) == 2
    assert lines[0].endswith(
        " WARNING edge_agent.poller: device not answering device=pt-102 reason=timeout"
    )
    assert lines[0][:4].isdigit()  # 2026-...


def test_json_under_journald_is_one_prefixed_json_object(tmp_path: Path) -> None:
    (line, _) = run_logging(tmp_path, "json", journal=True)
    assert line.startswith("<4>{")
    assert json.loads(line[3:])["msg"] == "device not answering device=pt-102 reason=timeout"


def test_journal_stream_of_another_file_is_not_ours(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.touch()
    b.touch()
    sa = a.stat()
    with b.open() as f:
        assert not stderr_is_journal({"JOURNAL_STREAM": f"{sa.st_dev}:{sa.st_ino}"}, f)
    with a.open() as f:
        assert stderr_is_journal({"JOURNAL_STREAM": f"{sa.st_dev}:{sa.st_ino}"}, f)
        assert not stderr_is_journal({}, f)


def test_every_line_of_a_traceback_keeps_the_level() -> None:
    try:
        raise ValueError("bad frame")
    except ValueError:
        record = logging.LogRecord(
            "edge_agent.x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info()
        )
    lines = JournalFormatter(logging.Formatter("%(message)s")).format(record).split("\n")
    assert len(lines) > 2
    assert all(line.startswith("<3>") for line in lines)
    assert JsonFormatter().format(record).count("\n") == 0


def test_pymodbus_errors_and_frame_dumps_stay_out_unless_debugging() -> None:
    # In a child: setup_logging replaces the root handlers (pytest's capture among them).
    code = (
        "import logging; from edge_agent.system.logs import setup_logging\n"
        "pm = logging.getLogger('pymodbus.logging')\n"
        "for level in ('info', 'warning', 'debug'):\n"
        "    setup_logging(level)\n"
        "    print(level, pm.isEnabledFor(logging.ERROR), pm.isEnabledFor(logging.DEBUG))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    # Its per-request ERROR with hex dumps: never, unless a technician debugs the line.
    assert r.stdout.splitlines() == ["info False False", "warning False False", "debug True True"]
