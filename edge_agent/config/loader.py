"""Loading gateway.toml: `load_config(path)` returns a validated `GatewayConfig` or
raises `ConfigError` with one `Problem` per fault, each naming the file, the key path
(`devices[3].unit`) and what is allowed. Validation touches no bus or network."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from drivers.errors import ProfileError
from drivers.profiles import format_loc, load_profiles
from edge_agent.config.checks import BUS_KINDS, apply_profile_defaults, cross_check
from edge_agent.config.gateway import GatewayConfig
from edge_agent.errors import ConfigError, Problem

DEFAULT_CONFIG = Path("/etc/edge-agent/gateway.toml")


def problems_from_validation(file: str, err: ValidationError) -> list[Problem]:
    problems = []
    for e in err.errors(include_url=False):
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (not allowed here; check the spelling)"
        elif e["type"] == "missing":
            msg = "required key is missing"
        problems.append(Problem(file, format_loc(e["loc"], BUS_KINDS), msg))
    return problems


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file; a missing, unreadable or malformed file is a ConfigError."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError as err:
        raise ConfigError([Problem(str(path), "", "file not found")]) from err
    except OSError as err:
        raise ConfigError([Problem(str(path), "", f"cannot read: {err.strerror}")]) from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError([Problem(str(path), "", f"not valid TOML: {err}")]) from err


def parse_config(path: Path | str) -> GatewayConfig:
    """gateway.toml alone, validated: no profiles loaded, no cross-checks, no named files
    looked at. Relative paths in it resolve against the file's folder."""
    path = Path(path)
    raw = read_toml(path)
    try:
        cfg = GatewayConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(problems_from_validation(str(path), err)) from err
    cfg._base_dir = path.parent.resolve()
    return cfg


def load_config(path: Path | str, *, check_files: bool = True) -> GatewayConfig:
    """Read and validate gateway.toml and the profiles it names. Raises ConfigError."""
    path = Path(path)
    cfg = parse_config(path)
    file = str(path)
    problems: list[Problem] = []
    protocols: dict[str, str] | None = None
    try:
        profiles = load_profiles([cfg.resolve(p) for p in cfg.gateway.profiles])
        protocols = {pid: prof.protocol for pid, prof in profiles.items()}
        cfg, unfit = apply_profile_defaults(cfg, profiles, file)
        problems += unfit
    except ProfileError as err:
        problems += [Problem(f, loc, msg) for f, loc, msg in err.problems]
    problems += cross_check(cfg, file, protocols)
    if check_files:
        problems += _missing_files(cfg, file)
    if problems:
        raise ConfigError(problems)
    return cfg


def secret_files(cfg: GatewayConfig) -> list[tuple[str, Path]]:
    """The files only the daemon may read: broker password, signing key, TLS key."""
    m = cfg.mqtt
    named = [
        ("mqtt.password_file", m.password_file),
        ("mqtt.commands.hmac_key_file", m.commands.hmac_key_file),
        ("mqtt.tls.key_file", m.tls.key_file if m.tls is not None else None),
    ]
    return [(key, cfg.resolve(p)) for key, p in named if p is not None]


def secret_warnings(cfg: GatewayConfig, file: str) -> list[Problem]:
    """Secrets that others than their owner can read. Technicians join the daemon's
    group for the CLI: a group-readable signing key lets them forge commands."""
    out = []
    for key, path in secret_files(cfg):
        try:
            mode = path.stat().st_mode & 0o777
        except OSError:
            continue  # missing: a problem of its own
        if mode & 0o077:
            out.append(
                Problem(
                    file,
                    key,
                    f"{path} is readable by {'everyone' if mode & 0o004 else 'its group'} "
                    f"(mode {mode:04o}): make it the daemon's alone "
                    f"(chown edge-agent {path} && chmod 0400 {path})",
                )
            )
    return out


def _missing_files(cfg: GatewayConfig, file: str) -> list[Problem]:
    """The secrets and certificates the config names must exist."""
    m = cfg.mqtt
    named = [
        ("mqtt.password_file", m.password_file),
        ("mqtt.commands.hmac_key_file", m.commands.hmac_key_file),
    ]
    if m.tls is not None:
        named += [
            ("mqtt.tls.ca_file", m.tls.ca_file),
            ("mqtt.tls.cert_file", m.tls.cert_file),
            ("mqtt.tls.key_file", m.tls.key_file),
        ]
    return [
        Problem(file, key, f"file not found: {cfg.resolve(p)}")
        for key, p in named
        if p is not None and not cfg.resolve(p).is_file()
    ]
