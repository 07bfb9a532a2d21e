"""The gateway config (gateway.toml): pydantic models, loading, and problem reports.

`load_config(path)` returns a validated `GatewayConfig` or raises `ConfigError`
with one `Problem` per fault, each naming the file, the key path
(`devices[3].unit`) and what is allowed. Validation touches no bus or network.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    model_validator,
)

from drivers.errors import ProfileError
from drivers.settings import BusConfig, Name, Port
from edge_agent.errors import ConfigError, Problem

DEFAULT_CONFIG = Path("/etc/edge-agent/gateway.toml")

GatewayId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$", min_length=1, max_length=64)]
TopicWord = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", min_length=1, max_length=64)]
TopicPrefix = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", min_length=1, max_length=128)
]
UnitId = Annotated[int, Field(ge=0, le=247)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


MonthDay = Annotated[str, Field(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]


class ModeWindow(_Model):
    """`[[gateway.mode_schedule]]`: an operating mode for a yearly date range (local time),
    e.g. flood season 06-01..09-30; a range may wrap the new year (11-15..02-28)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    mode: TopicWord
    from_: MonthDay = Field(alias="from")
    to: MonthDay


class GatewaySection(_Model):
    id: GatewayId
    site: TopicWord
    data_dir: Path = Path("/var/lib/edge-agent")
    rules: list[str] = Field(default_factory=list)
    profiles: list[str] = Field(default_factory=list)
    mode: TopicWord = "normal"
    mode_schedule: list[ModeWindow] = Field(default_factory=list)
    # Where the CLI reaches the running daemon; unset: $RUNTIME_DIRECTORY, else data_dir.
    control_socket: Path | None = None


class TlsConfig(_Model):
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    @model_validator(mode="after")
    def _cert_needs_key(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (mutual TLS needs both)")
        return self


CommandName = Literal["ping", "ack", "reload", "mode", "read", "diag"]


class CommandsConfig(_Model):
    """[mqtt.commands]: which commands run, and how they must be signed."""

    # Read-only commands by default; ack, mode and reload change the gateway's state.
    allow: tuple[CommandName, ...] = ("ping", "read", "diag")
    hmac_key_file: Path | None = None  # when set, every command must carry a valid `sig`
    max_skew_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    max_bytes: Annotated[int, Field(ge=64, le=1_048_576)] = 4096


class MqttConfig(_Model):
    host: str = "127.0.0.1"
    port: Port = 1883
    client_id: str | None = None
    username: str | None = None
    password_file: Path | None = None
    password_env: str | None = None
    tls: TlsConfig | None = None
    topic_prefix: TopicPrefix = "lifeline"
    payload: Literal["json", "msgpack"] = "json"
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 30
    telemetry_qos: Literal[0, 1] = 1
    max_inflight: Annotated[int, Field(ge=1, le=1000)] = 20
    health_interval_s: Annotated[float, Field(ge=1, le=86400)] = 60.0
    commands: CommandsConfig = CommandsConfig()

    def password(self, base_dir: Path = Path(".")) -> SecretStr | None:
        """The broker password, read from its file or environment variable, never inline.
        A relative `password_file` is relative to `base_dir` (the config file's folder)."""
        if self.password_file is not None:
            return SecretStr((base_dir / self.password_file).read_text().strip())
        if self.password_env is not None:
            value = os.environ.get(self.password_env)
            return SecretStr(value) if value is not None else None
        return None


class BufferConfig(_Model):
    """[buffer]: the store-and-forward database (buffer.db in data_dir)."""

    max_mb: Annotated[float, Field(gt=0)] = 512.0  # oldest telemetry is dropped beyond this
    retention_days: Annotated[float, Field(ge=0)] = 7.0  # delivered readings kept this long
    commit_interval_s: Annotated[float, Field(ge=0, le=60)] = 1.0  # readings batch commits
    max_message_kb: Annotated[int, Field(ge=1, le=65536)] = 128  # one backlog message


class DeviceConfig(_Model):
    name: Name
    bus: Name
    unit: UnitId = 1
    profile: str
    poll_interval_s: Annotated[float, Field(gt=0, le=86400)] = 5.0
    # Poll this often while one of the device's alarms is active (adaptive polling).
    poll_interval_alarm_s: Annotated[float, Field(gt=0, le=86400)] | None = None
    # Failed polls in a row before the device counts as offline (kind `device` alarm).
    offline_after: Annotated[int, Field(ge=1, le=100)] = 3
    tags: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True


class GatewayConfig(_Model):
    gateway: GatewaySection
    mqtt: MqttConfig = MqttConfig()
    buffer: BufferConfig = BufferConfig()
    buses: list[BusConfig] = Field(default_factory=list)
    devices: list[DeviceConfig] = Field(default_factory=list)

    # Where the file was read from: relative paths in it resolve against this folder.
    _base_dir: Path = PrivateAttr(default=Path("."))

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    @property
    def root_topic(self) -> str:
        return f"{self.mqtt.topic_prefix}/{self.gateway.site}/{self.gateway.id}"

    @property
    def data_dir(self) -> Path:
        return self.resolve(self.gateway.data_dir)

    def resolve(self, p: Path | str) -> Path:
        p = Path(p)
        return p if p.is_absolute() else self.base_dir / p

    def bus(self, name: str) -> BusConfig:
        return next(b for b in self.buses if b.name == name)


def format_loc(loc: tuple[int | str, ...], tags: set[str] | None = None) -> str:
    """('devices', 3, 'unit') -> 'devices[3].unit'; drops pydantic's union-tag segments."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif tags and part in tags:
            continue
        else:
            out += f".{part}" if out else part
    return out


MODBUS_BUS_KINDS = ("modbus-tcp", "modbus-rtu", "modbus-rtu-over-tcp")
_BUS_KINDS = {*MODBUS_BUS_KINDS, "serial-line"}


def problems_from_validation(file: str, err: ValidationError) -> list[Problem]:
    problems = []
    for e in err.errors(include_url=False):
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (not allowed here; check the spelling)"
        elif e["type"] == "missing":
            msg = "required key is missing"
        problems.append(Problem(file, format_loc(tuple(e["loc"]), _BUS_KINDS), msg))
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


def _bus_fits_profile(
    file: str, i: int, d: DeviceConfig, kind: str, protocol: str, buses: Mapping[str, str]
) -> Problem | None:
    """A line profile needs a serial-line bus; a Modbus profile any other kind."""
    line = protocol == "line"
    if line == (kind == "serial-line"):
        return None
    wanted: tuple[str, ...]
    if line:
        wanted, what = ("serial-line",), 'an ASCII line sensor (protocol = "line")'
    else:
        wanted, what = MODBUS_BUS_KINDS, "a Modbus profile"
    fitting = ", ".join(sorted(n for n, k in buses.items() if k in wanted)) or "none defined"
    return Problem(
        file,
        f"devices[{i}].bus",
        f"bus {d.bus!r} is {kind}, but devices[{i}].profile {d.profile!r} is {what}: "
        f"put the device on a {' or '.join(wanted)} bus (such buses here: {fitting})",
    )


def cross_check(
    cfg: GatewayConfig, file: str, profile_protocols: Mapping[str, str] | None
) -> list[Problem]:
    """References between sections: buses, profiles (and whether a device's profile
    speaks its bus's protocol), unique names and units. `profile_protocols` maps each
    known profile id to its protocol ("modbus" or "line"); None when the profiles could
    not be loaded (their own problems are reported then)."""
    problems: list[Problem] = []
    seen_bus: set[str] = set()
    kinds: dict[str, str] = {}
    for i, b in enumerate(cfg.buses):
        if b.name in seen_bus:
            problems.append(Problem(file, f"buses[{i}].name", f"duplicate bus name {b.name!r}"))
        seen_bus.add(b.name)
        kinds.setdefault(b.name, b.kind)
    seen_dev: set[str] = set()
    units: dict[tuple[str, int], str] = {}
    for i, d in enumerate(cfg.devices):
        if d.name in seen_dev:
            problems.append(
                Problem(file, f"devices[{i}].name", f"duplicate device name {d.name!r}")
            )
        seen_dev.add(d.name)
        if d.bus not in seen_bus:
            allowed = ", ".join(sorted(seen_bus)) or "none defined"
            problems.append(
                Problem(file, f"devices[{i}].bus", f"no bus named {d.bus!r} (buses: {allowed})")
            )
        elif (d.bus, d.unit) in units:
            problems.append(
                Problem(
                    file,
                    f"devices[{i}].unit",
                    f"unit {d.unit} on bus {d.bus!r} is already used by device "
                    f"{units[(d.bus, d.unit)]!r}",
                )
            )
        else:
            units[(d.bus, d.unit)] = d.name
        if profile_protocols is None:
            continue
        protocol = profile_protocols.get(d.profile)
        if protocol is None:
            problems.append(
                Problem(
                    file,
                    f"devices[{i}].profile",
                    f"unknown firmware profile {d.profile!r} (see `edge-agent profiles list`)",
                )
            )
        elif d.bus in kinds:
            misfit = _bus_fits_profile(file, i, d, kinds[d.bus], protocol, kinds)
            if misfit is not None:
                problems.append(misfit)
    return problems


def load_config(path: Path | str, *, check_files: bool = True) -> GatewayConfig:
    """Read and validate gateway.toml and the profiles it names. Raises ConfigError."""
    from drivers.profiles import load_profiles  # the catalogue is the drivers' business

    path = Path(path)
    raw = read_toml(path)
    file = str(path)
    try:
        cfg = GatewayConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(problems_from_validation(file, err)) from err
    cfg._base_dir = path.parent.resolve()

    problems: list[Problem] = []
    protocols: dict[str, str] | None = None
    try:
        profiles = load_profiles([cfg.resolve(p) for p in cfg.gateway.profiles])
        protocols = {pid: prof.protocol for pid, prof in profiles.items()}
    except ProfileError as err:
        problems += [Problem(f, loc, msg) for f, loc, msg in err.problems]
    problems += cross_check(cfg, file, protocols)
    if check_files:
        m = cfg.mqtt
        for key, p in (("mqtt.password_file", m.password_file),):
            if p is not None and not cfg.resolve(p).is_file():
                problems.append(Problem(file, key, f"file not found: {cfg.resolve(p)}"))
        if m.tls is not None:
            for key, p in (
                ("mqtt.tls.ca_file", m.tls.ca_file),
                ("mqtt.tls.cert_file", m.tls.cert_file),
                ("mqtt.tls.key_file", m.tls.key_file),
            ):
                if p is not None and not cfg.resolve(p).is_file():
                    problems.append(Problem(file, key, f"file not found: {cfg.resolve(p)}"))
    if problems:
        raise ConfigError(problems)
    return cfg
