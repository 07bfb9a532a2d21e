"""Bus settings as they appear in `[[buses]]` of gateway.toml, one model per kind."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", min_length=1, max_length=64)]
Port = Annotated[int, Field(ge=1, le=65535)]

# Serial line settings, as buses and firmware profiles (factory defaults) name them.
Baudrate = Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200]
BAUDRATES: tuple[int, ...] = get_args(Baudrate)
Parity = Literal["N", "E", "O"]
StopBits = Literal[1, 2]
ByteSize = Literal[7, 8]


class _BusBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    retries: Annotated[int, Field(ge=0, le=10)] = 1
    # Quiet time between two transactions on this bus (serial lines need >= 3.5 chars).
    inter_frame_delay_s: Annotated[float, Field(ge=0, le=5)] = 0.0


class ModbusTcpBusConfig(_BusBase):
    kind: Literal["modbus-tcp"]
    host: str
    port: Port = 502


class ModbusRtuOverTcpBusConfig(_BusBase):
    kind: Literal["modbus-rtu-over-tcp"]
    host: str
    port: Port = 502


class _SerialBase(_BusBase):
    port: str
    baudrate: Baudrate = 9600
    parity: Parity = "N"
    stopbits: StopBits = 1
    bytesize: ByteSize = 8


class ModbusRtuBusConfig(_SerialBase):
    kind: Literal["modbus-rtu"]


class SerialLineBusConfig(_SerialBase):
    kind: Literal["serial-line"]


BusConfig = Annotated[
    ModbusTcpBusConfig | ModbusRtuOverTcpBusConfig | ModbusRtuBusConfig | SerialLineBusConfig,
    Field(discriminator="kind"),
]
