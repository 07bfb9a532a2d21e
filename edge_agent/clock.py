"""The daemon's time: wall-clock `ts` for records, a monotonic rule time for detection.

Two clocks, two jobs. Records and payloads carry wall time (Unix epoch ms, UTC): that is
what a platform files them under. Detection measures durations (on- and off-delays,
windows, stale timers), and a duration measured on the wall clock is wrong across a
step: an NTP correction at boot on a gateway without a real-time clock steps it by
minutes or hours, and a one-hour step back held an on-delay for an hour.

So each stamp carries both: `wall_ms` for the record and `rule_ms`, the monotonic
clock expressed in epoch milliseconds (equal to the wall clock when the clock was
created, then advancing with the monotonic clock only). The rule engine gets `rule_ms`
and never sees a step; what it emits is turned back into wall time with `to_wall`.

A step is the wall clock moving against the monotonic clock by more than
`step_tolerance_ms` between two stamps (NTP's slewing moves it by at most 0.5 ms/s).
It is logged once (WARNING, with its size), counted, and reported in `health` and
`status` (`clock`); stamps taken after it carry the corrected wall time, and
`on_step` listeners repair wall times kept in memory (when an active alarm was
raised, a device's last good reading) by the step's size.

Calendar-bound rules (night_flow's local night) see rule time, which drifts from the
wall clock by the sum of the steps since start; `clock.offset_ms` in health shows it,
and a restart re-anchors.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

STEP_TOLERANCE_MS = 1_000
# The wall time of a stamp is rule time + the offset as last set, so stamps are exactly
# consistent with each other (no millisecond jitter between reading the two clocks);
# the offset follows the wall clock once it has drifted this far (NTP slewing).
FOLLOW_MS = 100


def now_ms() -> int:
    """Unix epoch milliseconds, UTC: the `ts` of every record and payload."""
    return time.time_ns() // 1_000_000


def t_mono() -> float:
    """Monotonic seconds: deadlines and intervals never follow wall-clock jumps."""
    return time.monotonic()


@dataclass(frozen=True, slots=True)
class Stamp:
    """One moment on both clocks: `wall_ms` for the record, `rule_ms` for detection."""

    wall_ms: int
    rule_ms: int


StepListener = Callable[[int], None]  # the step's size in ms (negative: back)


@dataclass
class Clock:
    """Stamps with step detection. `wall_ns` and `mono_ns` are injectable for tests."""

    wall_ns: Callable[[], int] = time.time_ns
    mono_ns: Callable[[], int] = time.monotonic_ns
    step_tolerance_ms: int = STEP_TOLERANCE_MS
    steps: int = 0
    last_step_ms: int | None = None
    last_step_ts_ms: int | None = None
    on_step: list[StepListener] = field(default_factory=list)

    def __post_init__(self) -> None:
        wall, mono = self._read()
        self._anchor_ms = wall - mono  # rule_ms = mono + anchor: fixed for the clock's life
        self._offset_ms = 0  # wall - rule, as last seen

    def _read(self) -> tuple[int, int]:
        return self.wall_ns() // 1_000_000, self.mono_ns() // 1_000_000

    def now(self) -> Stamp:
        """Both clocks now; notices (and reports) a step of the wall clock."""
        wall, mono = self._read()
        rule = mono + self._anchor_ms
        moved = wall - rule - self._offset_ms
        if abs(moved) >= FOLLOW_MS:  # slewing is followed silently; a step is reported
            self._offset_ms += moved
        if abs(moved) > self.step_tolerance_ms:
            self.steps += 1
            self.last_step_ms = moved
            self.last_step_ts_ms = wall
            log.warning(
                "wall clock stepped step_s=%+.3f now_ms=%d steps=%d "
                "(rule timing is monotonic and goes on; records carry the new wall time)",
                moved / 1000, wall, self.steps,
            )  # fmt: skip
            for listener in self.on_step:
                listener(moved)
        return Stamp(rule + self._offset_ms, rule)

    def wall_now(self) -> int:
        return self.now().wall_ms

    def rule_now(self) -> int:
        return self.now().rule_ms

    def to_wall(self, rule_ms: int) -> int:
        """The wall time of a rule time, with the wall clock as it stands now."""
        return rule_ms + self._offset_ms

    @property
    def offset_ms(self) -> int:
        """Wall minus rule time: the sum of the steps (and slewing) since the clock began."""
        return self._offset_ms

    def health(self) -> dict[str, int | None]:
        """The `clock` section of health and status."""
        return {
            "steps": self.steps,
            "last_step_ms": self.last_step_ms,
            "last_step_ts": self.last_step_ts_ms,
            "offset_ms": self._offset_ms,
        }
