"""Errors of the daemon core. The CLI turns any EdgeAgentError into one line and exit 1."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError


class EdgeAgentError(Exception):
    """Base of every error a user can cause or meet (bad file, broker down...)."""


@dataclass(frozen=True)
class Problem:
    """One problem in an input file: where it is and what is allowed."""

    file: str
    loc: str
    msg: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.loc}" if self.loc else self.file
        return f"{where}: {self.msg}"


class ConfigError(EdgeAgentError):
    """A gateway config (or a file it names) that cannot be used. Carries every problem."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def validation_brief(err: ValidationError, limit: int = 3, root: str = "") -> str:
    """`where: what` for the first few problems of a pydantic error (a request's
    arguments, a command); `root` names the whole input when a problem has no key.
    Files get one Problem per line instead."""
    parts = []
    for e in err.errors(include_url=False)[:limit]:
        loc = ".".join(str(x) for x in e["loc"]) or root
        msg = str(e["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)
