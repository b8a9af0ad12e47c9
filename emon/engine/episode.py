"""One condition episode, one alert: the dwell-and-hysteresis state machine."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from emon.alerts.model import Alert
from emon.engine.policy import Policy
from emon.timeutil import Millis


class Evidence(IntEnum):
    UNSURE = 0
    BREACH = 1
    CLEAR = 2


class Phase(IntEnum):
    IDLE = 0
    PENDING = 1  # breach seen, not yet confirmed
    ACTIVE = 2  # alert open
    CLEARING = 3  # clear seen while open, not yet confirmed


class Change(IntEnum):
    NONE = 0
    RAISE = 1
    END = 2


@dataclass(slots=True)
class Episode:
    """State of one condition (a zone, a contact pair) for one order.

    ``since`` is when the current run of evidence began; ``boundary`` the
    estimated crossing time that becomes ``started_at`` or ``ended_at``.
    """

    phase: Phase = Phase.IDLE
    since: Millis = 0
    boundary: Millis = 0
    counts: dict[int, int] = field(default_factory=dict)
    alert: Alert | None = None
    episodes: int = 0

    def step(
        self, evidence: Evidence, ts: Millis, boundary: Millis, policy: Policy, source: int = 0
    ) -> Change:
        """Apply one piece of evidence from one device's fix.

        Consecutive evidence is counted per source device: a contact ban is
        judged from two devices' fixes, and one outlier of one device must not
        be confirmed by the other device's next fix measured against it.
        """
        if self.phase == Phase.IDLE:
            if evidence == Evidence.BREACH:
                self._begin_run(Phase.PENDING, ts, boundary, source)
                return self._maybe_confirm(ts, policy)
            return Change.NONE
        if self.phase == Phase.PENDING:
            if evidence == Evidence.BREACH:
                self._count(source)
                return self._maybe_confirm(ts, policy)
            if evidence == Evidence.CLEAR:
                self.phase = Phase.IDLE
            return Change.NONE
        if self.phase == Phase.ACTIVE:
            if evidence == Evidence.CLEAR:
                self._begin_run(Phase.CLEARING, ts, boundary, source)
                return self._maybe_end(ts, policy)
            return Change.NONE
        # CLEARING
        if evidence == Evidence.CLEAR:
            self._count(source)
            return self._maybe_end(ts, policy)
        if evidence == Evidence.BREACH:
            self.phase = Phase.ACTIVE
        return Change.NONE

    def confirm_now(self) -> Change:
        """A pending breach shown real by the track around it (see
        ZoneRules._confirmed_by_track): raised without a second fix inside."""
        if self.phase != Phase.PENDING:
            return Change.NONE
        self.phase = Phase.ACTIVE
        self.episodes += 1
        return Change.RAISE

    def stop(self) -> Change:
        """The rule stopped applying (schedule or validity ended)."""
        was_open = self.phase in (Phase.ACTIVE, Phase.CLEARING)
        self.phase = Phase.IDLE
        return Change.END if was_open else Change.NONE

    @property
    def open(self) -> bool:
        return self.phase in (Phase.ACTIVE, Phase.CLEARING)

    def _begin_run(self, phase: Phase, ts: Millis, boundary: Millis, source: int) -> None:
        self.phase = phase
        self.since = ts
        self.boundary = min(boundary, ts)
        self.counts = {source: 1}

    def _count(self, source: int) -> None:
        self.counts[source] = self.counts.get(source, 0) + 1

    @property
    def count(self) -> int:
        return max(self.counts.values(), default=0)

    def _maybe_confirm(self, ts: Millis, policy: Policy) -> Change:
        if self.count >= policy.confirm_fixes and ts - self.since >= policy.confirm_span_s * 1000:
            self.phase = Phase.ACTIVE
            self.episodes += 1
            return Change.RAISE
        return Change.NONE

    def _maybe_end(self, ts: Millis, policy: Policy) -> Change:
        if self.count >= policy.clear_fixes and ts - self.since >= policy.clear_span_s * 1000:
            self.phase = Phase.IDLE
            return Change.END
        return Change.NONE
