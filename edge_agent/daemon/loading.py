"""Everything a gateway runs on, read from disk: the config, the firmware profiles it can
use, its rule files, the points detection binds to, and its buffer. Every problem in a
file is a ConfigError."""

from __future__ import annotations

from pathlib import Path

from drivers.errors import ProfileError
from drivers.profiles import Profile, load_profiles
from edge_agent.config import GatewayConfig, load_config
from edge_agent.config.actions import check_actions
from edge_agent.errors import ConfigError, Problem
from edge_agent.store import Store
from edge_agent.uplink.payloads import STORED_READINGS
from rules.errors import RuleError
from rules.events import PointMeta
from rules.spec import RuleSet, load_rules

DEFAULT_PACKS = ("gas", "water", "drainage")


def load_everything(path: Path) -> tuple[GatewayConfig, dict[str, Profile], RuleSet]:
    """Config, the profiles it can use, and its rules; every problem as a ConfigError."""
    cfg = load_config(path)
    try:
        profiles = load_profiles([cfg.resolve(p) for p in cfg.gateway.profiles])
    except ProfileError as err:
        raise ConfigError([Problem(f, loc, m) for f, loc, m in err.problems]) from err
    ruleset = load_ruleset(cfg)
    problems = check_actions(ruleset, cfg.devices, profiles)
    if problems:
        raise ConfigError(problems)
    return cfg, profiles, ruleset


def load_ruleset(cfg: GatewayConfig) -> RuleSet:
    refs = cfg.gateway.rules or list(DEFAULT_PACKS)
    try:
        return load_rules(refs, cfg.base_dir)
    except RuleError as err:
        raise ConfigError([Problem(f, loc, m) for f, loc, m in err.problems]) from err


def point_metas(cfg: GatewayConfig, profiles: dict[str, Profile]) -> list[PointMeta]:
    """Every point of every enabled device, as detection sees it."""
    metas = []
    for d in cfg.devices:
        if not d.enabled:
            continue
        for p in profiles[d.profile].points:
            lo, hi = p.range if p.range is not None else (float("-inf"), float("inf"))
            metas.append(PointMeta(d.name, p.name, p.quantity, p.unit, lo, hi, dict(d.tags),
                                   poll_s=d.poll_interval_s))  # fmt: skip
    return metas


def sampling_problems(
    cfg: GatewayConfig, profiles: dict[str, Profile], ruleset: RuleSet, file: str
) -> list[Problem]:
    """Rule bindings that could never raise at their device's poll_interval_s (one Problem
    each, at the device's key path): `config check` and `rules check -c` refuse them."""
    # here, not at the top: binding rules needs numpy, and `status` starts without it
    from rules.sampling import not_assessing

    index = {d.name: i for i, d in enumerate(cfg.devices)}
    out = []
    for n in not_assessing(ruleset, point_metas(cfg, profiles)):
        device = n.point.split("/", 1)[0]
        loc = f"devices[{index[device]}].poll_interval_s" if device in index else "rules"
        out.append(Problem(file, loc, n.message()))
    return out


def open_store(cfg: GatewayConfig) -> Store:
    """`{data_dir}/buffer.db` with the `[buffer]` settings; telemetry kept in the form the
    uplink sends it (the store itself knows no wire format)."""
    return Store.open(
        cfg.data_dir / "buffer.db",
        codec=STORED_READINGS,
        commit_interval_s=cfg.buffer.commit_interval_s,
        max_message_bytes=cfg.buffer.max_message_kb * 1024,
        max_held_readings=cfg.buffer.max_held_readings,
    )
