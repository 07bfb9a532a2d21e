"""Store before publish: the step between detection and everything that shows or sends.

An alarm transition is committed durably before any listener (the uplink's wake-up, the
`tail` stream, the demo's printer, adaptive polling) hears of it. When the disk is full
even after old telemetry made way, transitions wait in memory, in order, and every later
call (the agent ticks once a second) tries again: delivered late, never dropped.
A poll's readings go to the store's batch (committed at most once per
`commit_interval_s`), the ones the reporting policy chooses (pipeline.report) as
telemetry, and then to the reading listeners.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from edge_agent.clock import now_ms
from edge_agent.pipeline.report import Reporter
from edge_agent.pipeline.upkeep import STORE_FAULTS
from edge_agent.records import AlarmState, AlarmTransition, DevicePoll, Reading
from edge_agent.store import Store
from edge_agent.system.logs import Episode

log = logging.getLogger(__name__)

AlarmListener = Callable[[AlarmTransition], None]
PollListener = Callable[[DevicePoll], None]


class Commit:
    """The pipeline's last stage. `raised_at` tells when each active alarm was raised."""

    def __init__(
        self,
        store: Store,
        gateway_id: str,
        active: Sequence[AlarmTransition],
        reporter: Reporter | None = None,
    ) -> None:
        self.store = store
        self.gateway_id = gateway_id
        self.reporter = reporter if reporter is not None else Reporter({})
        self.raised_at: dict[str, int] = store.raised_at([t.alarm_id for t in active])
        self.alarm_listeners: list[AlarmListener] = []
        self.poll_listeners: list[PollListener] = []
        self._unstored: list[AlarmTransition] = []
        self._fault = Episode(log)

    def clock_stepped(self, step_ms: int) -> None:
        """After a wall-clock step, when each active alarm was raised, in the new time."""
        self.raised_at = {k: ts + step_ms for k, ts in self.raised_at.items()}

    @property
    def held(self) -> int:
        """Transitions a full disk could not take yet."""
        return len(self._unstored)

    def alarms(self, transitions: Sequence[AlarmTransition]) -> None:
        """Store transitions durably (with any held ones first), then tell the listeners."""
        if not transitions and not self._unstored:
            return
        batch = [*self._unstored, *transitions]
        try:
            self.store.add_alarms(batch, self.gateway_id)
        except STORE_FAULTS as err:
            self._unstored = batch
            self._fault.fault(
                "cannot store alarms, holding them in memory until the disk has room "
                "held=%d reason=%s", len(batch), err,
            )  # fmt: skip
        else:
            self._unstored = []
            self._fault.recovered("alarms stored again")
        for t in transitions:
            if t.state is AlarmState.RAISED:
                self.raised_at[t.alarm_id] = t.ts_ms
            elif t.state is AlarmState.CLEARED:
                self.raised_at.pop(t.alarm_id, None)
            log.info(
                "alarm %s rule=%s point=%s/%s level=%d value=%s limit=%s id=%s",
                t.state, t.rule, t.device, t.point, t.level, t.value, t.limit, t.alarm_id,
            )  # fmt: skip
            for listener in self.alarm_listeners:
                listener(t)

    def poll(self, poll: DevicePoll) -> None:
        """Buffer a poll's readings (and the reported ones as telemetry) for the next
        batched commit, then tell the listeners."""
        try:
            self.store.add_poll(poll, self.gateway_id, self.reporter.take(poll))
        except STORE_FAULTS as err:
            self._fault.fault("cannot store readings device=%s reason=%s", poll.device, err)
        for listener in self.poll_listeners:
            listener(poll)

    def tick(self, ts_ms: int) -> None:
        """Telemetry batches whose `report_interval_s` passed with no poll to carry them."""
        self._report(self.reporter.due(ts_ms), ts_ms)

    def _report(self, batches: Mapping[str, Sequence[Reading]], ts_ms: int) -> None:
        for device, readings in batches.items():
            carrier = DevicePoll(device, ts_ms, (), ok=True)
            try:
                self.store.add_poll(carrier, self.gateway_id, readings)
            except STORE_FAULTS as err:
                self._fault.fault("cannot store telemetry device=%s reason=%s", device, err)

    def flush(self) -> None:
        """At stop: what a full disk held, held telemetry batches, then the batched
        readings, if there is room."""
        self.alarms([])
        self._report(self.reporter.drain(), now_ms())
        try:
            self.store.flush()
        except STORE_FAULTS as err:
            log.error("readings not stored at stop reason=%s", err)
