"""The arguments of every operation, one typed set for both ways in: the control socket
(the CLI) and MQTT commands (the platform). pydantic validates them; `parse` turns a
validation failure into an OpError that names the argument and what is allowed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from drivers.base import Table
from drivers.profiles import UnitId
from edge_agent.errors import validation_brief
from edge_agent.ops.errors import OpError

Address = Annotated[int, Field(ge=0, le=65535)]
POINT_KEY = (
    r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"  # `device/point`, as rules, topics and the CLI name it
)
PointKey = Annotated[str, Field(pattern=POINT_KEY, min_length=3, max_length=129)]


class Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoArgs(Args):
    pass


class AckArgs(Args):
    id: Annotated[str, Field(min_length=1, max_length=128)]


class ModeArgs(Args):
    mode: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", min_length=1, max_length=64)]


class PointArgs(Args):
    """One configured point, `device/point` (the MQTT `read` command)."""

    point: PointKey


class WriteArgs(Args):
    """`write`: one writable configured point and the value for it (as read: after scale
    and offset)."""

    point: PointKey
    value: Annotated[float, Field(allow_inf_nan=False)]


class AlarmsArgs(Args):
    recent: Annotated[int, Field(ge=0, le=10_000)] = 20


class ReadArgs(Args):
    """The control socket's `read`: a configured point, or raw registers."""

    point: PointKey | None = None
    bus: str | None = None
    target: dict[str, Any] | None = None
    unit: UnitId | None = None
    table: Table = "holding"
    address: Address | None = None
    count: Annotated[int, Field(ge=1, le=125)] | None = None
    type: str | None = None
    byte_order: str = "ABCD"
    bit: int | None = None
    scale: float = 1.0
    offset: float = 0.0

    @model_validator(mode="after")
    def _point_or_raw(self) -> ReadArgs:
        if self.point is None:
            if self.unit is None or self.address is None:
                raise ValueError("give a `point`, or a `unit` and an `address` to read raw")
            if self.bus is None and self.target is None:
                raise ValueError("give a configured `bus` or an ad-hoc `target`")
        return self


class ScanArgs(Args):
    bus: str | None = None
    target: dict[str, Any] | None = None
    units: Annotated[list[UnitId], Field(min_length=1, max_length=248)] = Field(
        default_factory=lambda: list(range(1, 248))
    )
    table: Table = "holding"
    address: Address = 0
    identify: bool = False
    # Per-unit answer timeout (`scan --timeout-each`): one attempt each, waiting this long.
    timeout_s: Annotated[float, Field(gt=0, le=60)] | None = None

    @model_validator(mode="after")
    def _one_bus(self) -> ScanArgs:
        if self.bus is None and self.target is None:
            raise ValueError("give a configured `bus` or an ad-hoc `target`")
        return self


A = TypeVar("A", bound=Args)


def parse(model: type[A], params: Mapping[str, Any]) -> A:
    """Validate request arguments; a failure names the argument and what is allowed."""
    try:
        return model.model_validate(dict(params))
    except ValidationError as err:
        raise OpError(validation_brief(err)) from err
