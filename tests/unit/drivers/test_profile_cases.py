"""Data-driven profile cases: tests/cases/profiles/<case>/profile.toml and what loading says.

Each case folder holds `profile.toml` and one expected file, as a gateway's own profile
file is loaded next to the packaged ones (what `edge-agent profiles check` does):

    expected.out   the profile loads; its read plan at 9600 baud (`format_plan`)
    expected.err   the problems, one `file: loc: msg` line each (ProfileError)

Paths are written relative: the case's file as `profile.toml`, packaged profiles as
`firmware_profiles/<id>.toml`. After a deliberate change, regenerate with
`UPDATE_CASES=1 pytest tests/unit/drivers/test_profile_cases.py` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from drivers.errors import ProfileError
from drivers.planner import format_plan
from drivers.profiles import load_profiles
from firmware_profiles import PROFILE_DIR

CASES = Path(__file__).resolve().parents[2] / "cases" / "profiles"
UPDATE = os.environ.get("UPDATE_CASES") == "1"


def run_case(case: Path) -> tuple[str, str]:
    """(name of the expected file, its text) for the case folder `case`."""
    source = case / "profile.toml"
    try:
        profiles = load_profiles([source])
    except ProfileError as err:
        text = str(err).replace(str(source), "profile.toml")
        text = text.replace(str(PROFILE_DIR), "firmware_profiles")
        return "expected.err", text + "\n"
    [profile] = [p for p in profiles.values() if p.path == source]
    return "expected.out", format_plan(profile) + "\n"


CASE_DIRS = sorted(p for p in CASES.iterdir() if p.is_dir())


def test_there_are_cases_of_both_kinds() -> None:
    kinds = {f.name for case in CASE_DIRS for f in case.glob("expected.*")}
    assert kinds == {"expected.out", "expected.err"}


@pytest.mark.parametrize("case", CASE_DIRS, ids=lambda p: p.name)
def test_profile_case(case: Path) -> None:
    name, got = run_case(case)
    if UPDATE:
        for old in case.glob("expected.*"):
            old.unlink()
        (case / name).write_text(got, encoding="utf-8")
    expected = sorted(f.name for f in case.glob("expected.*"))
    assert expected == [name], f"{case.name}: loading gives {name}, the case has {expected}"
    assert got == (case / name).read_text(encoding="utf-8")
