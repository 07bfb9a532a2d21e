"""A simulated field with every bus kind, for the demo, soak tests and benchmarks.

`SimField` starts, on loopback and pseudo-terminals only, one simulator per bus:
Modbus TCP, Modbus RTU on a pty pair, RTU over TCP (a serial device server), and
an ASCII serial line. It hands back the `[[buses]]` settings that reach them, so
a gateway config (or a test) can point the agent at the simulated field, and
keeps every simulated device reachable for fault injection.

    field = SimField(tmp, [
        FieldDevice("pt-101", "tcp-1", 1, "generic-pressure-float32", {"pressure": 0.35}),
        FieldDevice("pt-201", "rs485-1", 1, "ptmb-pressure"),
        FieldDevice("us-301", "ascii-1", 1, "maxbotix-hrxl-serial", template="R{distance:04.0f}"),
    ], kinds={"tcp-1": "modbus-tcp", "rs485-1": "modbus-rtu", "ascii-1": "serial-line"})
    async with field:
        field.buses()                      # [ModbusTcpBusConfig(...), ...]
        field.modbus("pt-201").silent = True
        await field.unplug("rs485-1")      # the USB adapter is pulled out
        await field.plug("rs485-1")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from drivers.profiles import Profile, load_profiles
from drivers.settings import (
    BusConfig,
    ModbusRtuBusConfig,
    ModbusRtuOverTcpBusConfig,
    ModbusTcpBusConfig,
    SerialLineBusConfig,
)
from fieldsim.line import LineSensor, LineSimServer
from fieldsim.modbus_device import SimulatedDevice
from fieldsim.modbus_server import SimServer
from fieldsim.ptypair import PtyPair
from fieldsim.signals import Signal

BusKind = Literal["modbus-tcp", "modbus-rtu", "modbus-rtu-over-tcp", "serial-line"]


@dataclass(frozen=True)
class FieldDevice:
    """One simulated device: its name, bus, unit, profile and signals."""

    name: str
    bus: str
    unit: int
    profile: str
    signals: Mapping[str, Signal | float] = field(default_factory=dict)
    template: str | None = None  # line sensors: the printed line (see LineSensor)
    period_s: float = 0.1  # streaming line sensors


class SimField:
    """Simulators for a set of buses; `buses()` gives the settings that reach them."""

    def __init__(
        self,
        folder: Path,
        devices: Sequence[FieldDevice],
        kinds: Mapping[str, BusKind],
        *,
        profiles: Mapping[str, Profile] | None = None,
        timeout_s: float = 0.3,
        retries: int = 1,
    ) -> None:
        self.folder = folder
        self.kinds = dict(kinds)
        self.timeout_s = timeout_s
        self.retries = retries
        catalogue = dict(profiles) if profiles is not None else load_profiles([])
        self.specs = list(devices)
        self._modbus: dict[str, SimulatedDevice] = {}
        self._lines: dict[str, LineSensor] = {}
        by_bus: dict[str, list[FieldDevice]] = {}
        for d in devices:
            if d.bus not in self.kinds:
                raise ValueError(f"device {d.name}: no bus {d.bus!r} in kinds")
            by_bus.setdefault(d.bus, []).append(d)
            prof = catalogue[d.profile]
            if self.kinds[d.bus] == "serial-line":
                if d.template is None:
                    raise ValueError(f"device {d.name}: a line sensor needs a template")
                self._lines[d.name] = LineSensor(
                    prof, d.template, d.signals, unit=d.unit, period_s=d.period_s
                )
            else:
                self._modbus[d.name] = SimulatedDevice(d.unit, prof, d.signals)
        self._by_bus = by_bus
        self._pairs: dict[str, PtyPair] = {}
        self._servers: dict[str, SimServer | LineSimServer] = {}
        self._ports: dict[str, int] = {}

    def modbus(self, name: str) -> SimulatedDevice:
        return self._modbus[name]

    def line(self, name: str) -> LineSensor:
        return self._lines[name]

    def _server(self, bus: str) -> SimServer | LineSimServer:
        kind = self.kinds[bus]
        devs = self._by_bus.get(bus, [])
        if kind == "serial-line":
            return LineSimServer([self._lines[d.name] for d in devs], str(self._pairs[bus].a))
        sims = [self._modbus[d.name] for d in devs]
        if kind == "modbus-rtu":
            return SimServer(sims, kind="rtu", serial_port=str(self._pairs[bus].a))
        server_kind: Literal["tcp", "rtu-over-tcp"] = (
            "rtu-over-tcp" if kind == "modbus-rtu-over-tcp" else "tcp"
        )
        return SimServer(sims, kind=server_kind, port=self._ports.get(bus, 0))

    async def _start_bus(self, bus: str) -> None:
        if self.kinds[bus] in ("modbus-rtu", "serial-line"):
            pair = self._pairs.setdefault(bus, PtyPair(self.folder, bus))
            await pair.start()
        server = self._server(bus)
        port = await server.start()
        if isinstance(port, int) and port:
            self._ports[bus] = port
        self._servers[bus] = server

    async def _stop_bus(self, bus: str) -> None:
        server = self._servers.pop(bus, None)
        if server is not None:
            await server.stop()
        pair = self._pairs.get(bus)
        if pair is not None:
            await pair.stop()

    async def start(self) -> None:
        for bus in self.kinds:
            await self._start_bus(bus)

    async def stop(self) -> None:
        for bus in list(self.kinds):
            await self._stop_bus(bus)

    async def unplug(self, bus: str) -> None:
        """The bus disappears: server stopped, serial device links removed."""
        await self._stop_bus(bus)

    async def plug(self, bus: str) -> None:
        """The bus comes back under the same address or device names."""
        await self._start_bus(bus)

    def buses(self) -> list[BusConfig]:
        """`[[buses]]` settings reaching each simulated bus."""
        out: list[BusConfig] = []
        common = {"timeout_s": self.timeout_s, "retries": self.retries}
        for bus, kind in self.kinds.items():
            if kind == "modbus-tcp":
                out.append(
                    ModbusTcpBusConfig(
                        kind=kind, name=bus, host="127.0.0.1", port=self._ports[bus], **common
                    )
                )
            elif kind == "modbus-rtu-over-tcp":
                out.append(
                    ModbusRtuOverTcpBusConfig(
                        kind=kind, name=bus, host="127.0.0.1", port=self._ports[bus], **common
                    )
                )
            elif kind == "modbus-rtu":
                port = str(self._pairs[bus].b)
                out.append(ModbusRtuBusConfig(kind=kind, name=bus, port=port, **common))
            else:
                port = str(self._pairs[bus].b)
                out.append(SerialLineBusConfig(kind=kind, name=bus, port=port, **common))
        return out

    def buses_toml(self) -> str:
        """The same settings as `[[buses]]` tables for a gateway.toml."""
        chunks = []
        for cfg in self.buses():
            lines = ["[[buses]]"]
            for key, value in cfg.model_dump().items():
                lines.append(f"{key} = {value!r}".replace("'", '"'))
            chunks.append("\n".join(lines))
        return "\n\n".join(chunks) + "\n"

    def devices_toml(self) -> str:
        """`[[devices]]` tables for every simulated device."""
        chunks = []
        for d in self.specs:
            chunks.append(
                f'[[devices]]\nname = "{d.name}"\nbus = "{d.bus}"\nunit = {d.unit}\n'
                f'profile = "{d.profile}"'
            )
        return "\n\n".join(chunks) + "\n"

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
