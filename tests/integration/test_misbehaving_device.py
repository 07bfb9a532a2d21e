"""A device that answers wrongly (fieldsim.misbehaving) over TCP and RTU over TCP: no
answer that is not the answer to its request may become a reading.

Judged as the store would see it: every value the driver hands on belongs to the
address and table it was asked for, and no answer with a fault in it is taken.
"""

from __future__ import annotations

from typing import Any

import pytest

from drivers.bus import open_bus
from drivers.errors import DriverError
from drivers.settings import ModbusRtuOverTcpBusConfig, ModbusTcpBusConfig
from fieldsim.misbehaving import Fault, MisbehavingDevice, register_value

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ADDRESSES = (0, 10)  # two blocks of the same shape: a misplaced answer decodes fine
TIMEOUT_S = 0.15

COMMON: list[Fault] = ["good", "wrong-fc", "good", "late", "good", "good", "duplicate", "good"]
CASES: dict[str, list[Fault]] = {
    "tcp": [*COMMON, "trailing", "good", "padded", "good", "tid0", "good", "other-unit"],
    "rtu": [*COMMON, "trailing", "good", "good", "other-unit", "good"],
}
# Faults whose own answer must be refused (late and other-unit never arrive in time;
# a duplicated answer may be refused or taken, but its copy must not be the next one).
REFUSED = {"wrong-fc", "late", "trailing", "padded", "tid0", "other-unit"}


def bus_config(framing: str, port: int) -> Any:
    common = {"host": "127.0.0.1", "port": port, "timeout_s": TIMEOUT_S, "retries": 0}
    if framing == "tcp":
        return ModbusTcpBusConfig(kind="modbus-tcp", name="tcp-1", **common)
    return ModbusRtuOverTcpBusConfig(kind="modbus-rtu-over-tcp", name="gw-1", **common)


@pytest.mark.parametrize("framing", ["tcp", "rtu"])
async def test_no_answer_but_the_answer_to_its_request_becomes_a_reading(framing: str) -> None:
    faults = CASES[framing]
    rounds = 2 * len(faults)
    # A late answer comes after the client gave up, while its next request is out.
    device = MisbehavingDevice(
        unit=7,
        faults=faults,
        framing=framing,  # type: ignore[arg-type]
        late_s=1.5 * TIMEOUT_S,
    )
    taken: list[tuple[int, str, int, list[int]]] = []  # (read n, table, address, values)
    refused = 0
    async with device, open_bus(bus_config(framing, device.port)) as bus:
        for n in range(rounds):
            table = "holding" if n % 3 else "input"
            address = ADDRESSES[n % 2]
            try:
                values = await bus.read(7, table, address, 2)
            except DriverError:
                refused += 1
                continue
            taken.append((n, table, address, values))
    # One request per read (retries 0; draining sends nothing): request n is read n.
    assert len(device.requests) == rounds
    fault_of = {n: f for n, *_, f in device.requests}
    wrong = [
        (n, fault_of[n], table, address, values)
        for n, table, address, values in taken
        if values != [register_value(3 if table == "holding" else 4, address + i) for i in (0, 1)]
    ]
    assert wrong == [], "readings under the wrong point"
    accepted_faulty = [(n, fault_of[n]) for n, *_ in taken if fault_of[n] in REFUSED]
    assert accepted_faulty == [], "answers with a fault taken as readings"
    good = [n for n, *_ in taken if fault_of[n] == "good"]
    assert len(good) >= rounds // 3, (len(good), refused)  # the line recovers after each
