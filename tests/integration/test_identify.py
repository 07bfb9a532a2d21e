"""`scan --identify` building blocks against real servers: 0x2B objects and fingerprints."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.bus import open_bus
from drivers.errors import DeviceException
from drivers.identify import identify, read_identification, scan_units, suggest
from drivers.profiles import load_profiles
from drivers.settings import ModbusRtuBusConfig, ModbusTcpBusConfig
from fieldsim.modbus_device import SimulatedDevice
from fieldsim.modbus_server import SimServer
from fieldsim.ptypair import PtyPair

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

PROFILES = load_profiles([])
FMR20_ID = {
    "VendorName": "Endress+Hauser",
    "ProductCode": "FMR20",
    "MajorMinorRevision": "1.02",
    "ProductName": "Micropilot FMR20",
}


def devices() -> list[SimulatedDevice]:
    return [
        SimulatedDevice(1, PROFILES["endress-hauser-fmr20"], identity=FMR20_ID),
        SimulatedDevice(2, PROFILES["dfrobot-urm12"], {"vid": 0x3343, "pid": 1}),
        SimulatedDevice(3, PROFILES["generic-level-int16"]),
    ]


async def test_identify_over_tcp() -> None:
    devs = devices()
    devs[2].silent = True
    server = SimServer(devs)
    port = await server.start()
    cfg = ModbusTcpBusConfig(
        kind="modbus-tcp", name="tcp", host="127.0.0.1", port=port, timeout_s=0.2, retries=0
    )
    try:
        async with open_bus(cfg) as bus:
            objects = await read_identification(bus, 1)
            assert objects["VendorName"] == "Endress+Hauser"
            assert objects["ProductName"] == "Micropilot FMR20"
            assert objects["MajorMinorRevision"] == "1.02"

            with pytest.raises(DeviceException) as err:
                await read_identification(bus, 2)
            assert err.value.code == 1

            fmr = await identify(bus, 1, PROFILES)
            urm = await identify(bus, 2, PROFILES)
            silent = await identify(bus, 3, PROFILES)
    finally:
        await server.stop()
    assert [(c.profile_id, c.by) for c in fmr.candidates] == [
        ("endress-hauser-fmr20", "identification")
    ]
    assert urm.objects == {}
    assert urm.reason == "exception code 1"
    assert [(c.profile_id, c.by) for c in urm.candidates] == [("dfrobot-urm12", "registers")]
    assert (silent.reason, silent.candidates) == ("timeout", ())
    text = suggest([fmr, urm, silent])
    assert "unit 1: VendorName=Endress+Hauser" in text
    assert "unit 2: no 0x2B (exception code 1) -> dfrobot-urm12 (by registers)" in text
    assert "unit 3: no 0x2B (timeout) -> no profile" in text


async def test_identify_over_rtu(tmp_path: Path) -> None:
    async with PtyPair(tmp_path) as pair:
        server = SimServer(devices(), kind="rtu", serial_port=str(pair.a))
        await server.start()
        cfg = ModbusRtuBusConfig(kind="modbus-rtu", name="rtu", port=str(pair.b), timeout_s=0.2)
        try:
            async with open_bus(cfg) as bus:
                fmr = await identify(bus, 1, PROFILES)
                urm = await identify(bus, 2, PROFILES)
        finally:
            await server.stop()
    assert fmr.objects["ProductCode"] == "FMR20"
    assert [c.profile_id for c in fmr.candidates] == ["endress-hauser-fmr20"]
    assert [c.profile_id for c in urm.candidates] == ["dfrobot-urm12"]


async def test_scan_finds_answering_units_and_identifies_them() -> None:
    devs = devices()
    devs[2].exception_code = 2  # unit 3 is there but refuses the probe address
    server = SimServer(devs)
    port = await server.start()
    cfg = ModbusTcpBusConfig(
        kind="modbus-tcp", name="tcp", host="127.0.0.1", port=port, timeout_s=0.15, retries=0
    )
    try:
        async with open_bus(cfg) as bus:
            results = [
                r
                async for r in scan_units(bus, [1, 2, 3, 4], identify_unit=True, profiles=PROFILES)
            ]
    finally:
        await server.stop()
    by_unit = {r.unit: r for r in results}
    assert [r.unit for r in results] == [1, 2, 3, 4]
    assert by_unit[1].answer == "registers"
    assert by_unit[1].identity is not None
    assert by_unit[1].identity["vendor"] == "Endress+Hauser"
    assert by_unit[1].candidates == ("endress-hauser-fmr20",)
    assert by_unit[2].candidates == ("dfrobot-urm12",)
    assert by_unit[2].identity is None
    assert (by_unit[3].answer, by_unit[3].exception_code) == ("exception", 2)
    assert by_unit[4].answer is None
    assert by_unit[4].as_dict()["registers"] is None
    assert by_unit[1].as_dict()["exception_code"] is None
