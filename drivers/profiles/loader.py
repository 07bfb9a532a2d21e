"""Loading firmware profiles: the packaged ones plus a gateway's own files or folders.

Every problem of every file (bad TOML, unknown keys, bad values, duplicate ids) is
collected into one ProfileError of (file, loc, msg), so an installer sees them all at once.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from drivers.errors import ProfileError
from drivers.profiles.models import Profile
from firmware_profiles import PROFILE_DIR

log = logging.getLogger(__name__)


def format_loc(loc: Iterable[int | str], skip: Collection[str] = ()) -> str:
    """('points', 2, 'type') -> 'points[2].type'; leaves out the parts in `skip`
    (pydantic's union-tag segments: ('buses', 0, 'modbus-tcp', 'host') -> 'buses[0].host')."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in skip:
            continue
        else:
            out += f".{part}" if out else part
    return out


def _problems(file: str, err: ValidationError) -> list[tuple[str, str, str]]:
    problems = []
    for e in err.errors(include_url=False):
        msg = e["msg"].removeprefix("Value error, ")
        loc = format_loc(e["loc"])
        if e["type"] == "extra_forbidden":
            msg = "unknown key (not allowed here; check the spelling)"
        elif e["type"] == "missing":
            msg = "required key is missing"
        elif (
            e["type"] == "value_error"
            and msg.startswith(("points[", "identify.", "line:"))
            and ": " in msg
        ):
            # The root validator names the point itself: move that into the loc.
            sub, msg = msg.split(": ", 1)
            loc = f"{loc}.{sub}" if loc else sub
        problems.append((file, loc, msg))
    return problems


def _parse(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError as err:
        raise ProfileError([(str(path), "", "file not found")]) from err
    except OSError as err:
        raise ProfileError([(str(path), "", f"cannot read: {err.strerror}")]) from err
    except tomllib.TOMLDecodeError as err:
        raise ProfileError([(str(path), "", f"not valid TOML: {err}")]) from err
    except UnicodeDecodeError as err:
        raise ProfileError([(str(path), "", f"not a text file (UTF-8): {err.reason}")]) from err


def load_profile(path: Path | str) -> Profile:
    """Read and validate one profile file. Raises ProfileError naming file and key."""
    path = Path(path)
    raw = _parse(path)
    try:
        profile = Profile.model_validate(raw)
    except ValidationError as err:
        raise ProfileError(_problems(str(path), err)) from err
    profile._path = path
    return profile


def _files(ref: Path) -> list[Path]:
    try:
        if ref.is_dir():
            return sorted(ref.glob("*.toml"))
        if ref.exists():
            return [ref]
    except OSError as err:  # too long a name, no permission, an I/O error
        raise ProfileError([(str(ref), "", f"cannot read: {err.strerror}")]) from err
    raise ProfileError([(str(ref), "", "no such profile file or folder")])


def packaged_profile_files() -> list[Path]:
    return sorted(PROFILE_DIR.glob("*.toml"))


def load_profiles(extra: Sequence[Path]) -> dict[str, Profile]:
    """Every packaged profile plus the extra files/folders, by id.

    Collects every problem of every file (bad TOML, bad keys, duplicate ids) into one
    ProfileError, so an installer sees them all at once.
    """
    problems: list[tuple[str, str, str]] = []
    files = packaged_profile_files()
    for ref in extra:
        try:
            files += _files(Path(ref))
        except ProfileError as err:
            problems += err.problems
    profiles: dict[str, Profile] = {}
    for f in files:
        try:
            p = load_profile(f)
        except ProfileError as err:
            problems += err.problems
            continue
        if p.id in profiles:
            first = profiles[p.id].path
            if first is not None and first.resolve() == f.resolve():
                continue  # the same file named twice
            problems.append((str(f), "id", f"duplicate profile id {p.id!r} (also in {first})"))
            continue
        profiles[p.id] = p
    if problems:
        raise ProfileError(problems)
    log.debug("profiles loaded count=%d", len(profiles))
    return profiles
