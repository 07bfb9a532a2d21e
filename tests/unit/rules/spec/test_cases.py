"""Rule-file regression cases, one folder each under tests/cases/rules/<case>/:

    *.toml        the rule files
    args          optional: the refs `edge-agent rules check` gets (files or pack names),
                  space separated; default `rules.toml`
    expected.out  a valid set: what `rules check` prints (`OK: N rules`)
    expected.err  a refused set: one problem a line, as `rules check` prints each after
                  `edge-agent: error: ` (file: key path: what is allowed), the case
                  folder left out of file names

After a deliberate change of a message, rewrite the expected files with
`UPDATE_CASES=1 .venv/bin/pytest tests/unit/rules/spec/test_cases.py` and read the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rules.errors import RuleError
from rules.spec import load_rules

CASES = Path(__file__).resolve().parents[3] / "cases" / "rules"


def check(case: Path) -> tuple[str, str]:
    """(name of the expected file, its text) for the case's rule files."""
    args = case / "args"
    refs = args.read_text().split() if args.is_file() else ["rules.toml"]
    try:
        ruleset = load_rules(refs, case)
    except RuleError as err:
        return "expected.err", str(err).replace(f"{case}{os.sep}", "") + "\n"
    return "expected.out", f"OK: {len(ruleset.rules)} rules\n"


def test_there_are_cases() -> None:
    assert len(list(CASES.iterdir())) >= 5


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_case(case: str) -> None:
    folder = CASES / case
    name, got = check(folder)
    if os.environ.get("UPDATE_CASES"):
        for old in ("expected.out", "expected.err"):
            (folder / old).unlink(missing_ok=True)
        (folder / name).write_text(got)
    assert (folder / name).is_file(), f"{case}: the set gives {name}, which the case lacks"
    assert got == (folder / name).read_text()
