"""What one section cannot check alone: references between sections (buses, profiles,
unique names and units) and the defaults the firmware profiles supply."""

from __future__ import annotations

from collections.abc import Mapping

from drivers.profiles import Profile
from edge_agent.config.devices import DeviceConfig
from edge_agent.config.gateway import GatewayConfig
from edge_agent.errors import Problem

MODBUS_BUS_KINDS = ("modbus-tcp", "modbus-rtu", "modbus-rtu-over-tcp")
BUS_KINDS = frozenset({*MODBUS_BUS_KINDS, "serial-line"})
RTU_BUS_KINDS = ("modbus-rtu", "modbus-rtu-over-tcp")
_SERIAL_KEYS = ("baudrate", "parity", "stopbits", "bytesize")


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
        if d.unit == 0 and kinds.get(d.bus) in RTU_BUS_KINDS:
            problems.append(
                Problem(
                    file,
                    f"devices[{i}].unit",
                    "unit 0 is the broadcast address on an RTU line, which no device "
                    "answers: use the device's own address (1-247)",
                )
            )
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


def apply_profile_defaults(
    cfg: GatewayConfig, profiles: Mapping[str, Profile], file: str
) -> tuple[GatewayConfig, list[Problem]]:
    """What the config leaves out, the profiles supply: a device's unit id (the
    profile's `default_unit`) and a serial bus's line settings (the factory settings of
    the profiles on it, when they agree)."""
    problems: list[Problem] = []
    devices = []
    for d in cfg.devices:
        prof = profiles.get(d.profile)
        if prof is not None and prof.default_unit is not None and "unit" not in d.model_fields_set:
            d = d.model_copy(update={"unit": prof.default_unit})
        devices.append(d)
    buses = []
    for i, b in enumerate(cfg.buses):
        unset = [k for k in _SERIAL_KEYS if hasattr(b, k) and k not in b.model_fields_set]
        serials = {
            profiles[d.profile].serial
            for d in devices
            if d.bus == b.name and d.profile in profiles and profiles[d.profile].protocol != "line"
        }
        if unset and len(serials) == 1:
            (serial,) = serials
            b = b.model_copy(update={k: getattr(serial, k) for k in unset})
        elif unset and len(serials) > 1:
            problems.append(
                Problem(
                    file,
                    f"buses[{i}]",
                    "the devices on this bus come with different factory serial settings; "
                    f"set {', '.join(unset)} on the bus",
                )
            )
        buses.append(b)
    out = cfg.model_copy(update={"devices": devices, "buses": buses})
    out._base_dir = cfg._base_dir
    return out, problems
