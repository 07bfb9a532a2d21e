"""Errors of the detection package. `RuleError` carries every problem found in the rule files."""

from __future__ import annotations

from typing import NamedTuple


class RuleProblem(NamedTuple):
    """One fault in a rule file: file, key path (`rules[2].levels[0].limit`), what is allowed."""

    file: str
    loc: str
    msg: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.loc}" if self.loc else self.file
        return f"{where}: {self.msg}"


class RuleError(Exception):
    """Rule files that cannot be used (or an engine call that names an unknown thing).

    `problems` holds one `(file, loc, msg)` tuple per fault, so a caller can
    report them all at once, as `edge-agent rules check` does.
    """

    def __init__(self, problems: list[tuple[str, str, str]]) -> None:
        self.problems = [RuleProblem(*p) for p in problems]
        super().__init__("\n".join(str(p) for p in self.problems))
