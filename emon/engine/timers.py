"""What the clock decides: silence (signal_lost) and the end of an order's
validity, fired as the clock passes them."""

from __future__ import annotations

import heapq

import numpy as np

from emon.alerts.model import Alert, AlertType
from emon.engine.base import EngineBase
from emon.engine.devices import NONE_TS
from emon.engine.episode import Episode
from emon.engine.orders_index import CompiledOrder
from emon.timeutil import Millis

#: how far ahead silence deadlines are queued between full scans
SILENCE_HORIZON_MS = 60_000


class Timers(EngineBase):
    def _fire_timers(self, now: Millis) -> None:
        due: list[tuple[Millis, int, int]] = []  # (when, kind, index)
        while self._expired < len(self._expiries) and self._expiries[self._expired][0] <= now:
            when, order_index = self._expiries[self._expired]
            due.append((when, 0, order_index))
            self._expired += 1
        if now >= self._next_silence_check:
            self._check_silence(now, due)
        for when, kind, i in sorted(due):
            saved = self.clock
            self.clock = max(self.clock, when)
            if kind == 0:
                self._expire(self.index.orders[i], when)
            else:
                self._signal_lost(i, when)
            self.clock = saved

    def _check_silence(self, now: Millis, due: list[tuple[Millis, int, int]]) -> None:
        """Devices silent past their deadline. All deadlines are scanned (one
        vectorised pass) only when the clock passes a horizon; in between, a
        heap holds the few devices whose deadline falls before it. Deadlines
        only move later (a fix), so nobody is missed; a device heard from since
        it was queued is queued again at its new deadline. Cost: O(devices)
        per horizon, not per tick, which at a million devices is the
        difference between microseconds and seconds a batch."""
        if now >= self._silence_horizon:
            self._scan_silence(now)
        queue = self._silence_queue
        while queue and queue[0][0] <= now:
            deadline, dev = heapq.heappop(queue)
            if self._lost[dev]:
                continue
            current = self._deadline(dev)
            if current > deadline:
                if current <= self._silence_horizon:
                    heapq.heappush(queue, (current, dev))
                continue
            due.append((deadline, 1, dev))
        self._next_silence_check = min(queue[0][0] if queue else 2**62, self._silence_horizon)

    def _scan_silence(self, now: Millis) -> None:
        horizon = now + SILENCE_HORIZON_MS
        deadlines = np.maximum(self.devices.last_recv, self._watch_from) + self._silence_ms
        watched = ~self._lost & (self._silence_ms < np.iinfo(np.int64).max)
        soon = np.flatnonzero(watched & (deadlines <= horizon))
        self._silence_queue = list(zip(deadlines[soon].tolist(), soon.tolist(), strict=True))
        heapq.heapify(self._silence_queue)
        self._silence_horizon = horizon

    def _deadline(self, dev: int) -> Millis:
        last = max(int(self.devices.last_recv[dev]), int(self._watch_from[dev]))
        return last + int(self._silence_ms[dev])

    def _signal_lost(self, dev: int, when: Millis) -> None:
        self._lost[dev] = True
        subject = self.devices.ids[dev]
        last_ts = int(self.devices.last_ts[dev])
        for role in self.index.roles[dev]:
            order = role.order
            if not order.active_at(when):
                continue
            key = (order.index, AlertType.SIGNAL_LOST, subject)
            episode = self.episodes.setdefault(key, Episode())
            episode.phase = episode.phase.ACTIVE
            episode.episodes += 1
            alert = Alert.raised(
                order.order, AlertType.SIGNAL_LOST, subject, episode.episodes, subject, when,
                when, details={"silence_s": order.silence_ms / 1000},
            )  # fmt: skip
            if last_ts != NONE_TS:
                alert.details["last_fix_ts"] = last_ts
            if dev in self._power_off:
                alert.details["after_power_off"] = True
            episode.alert = alert
            self._emit(alert)

    def _expire(self, order: CompiledOrder, when: Millis) -> None:
        """Nothing is enforced after valid_until: open conditions end there."""
        for key in sorted(self.episodes.by_order.get(order.index, ())):
            episode = self.episodes[key]
            if episode.alert is not None and episode.open:
                self._stop(key, when, self.episodes)
