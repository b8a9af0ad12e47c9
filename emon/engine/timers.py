"""What the clock decides: silence (signal_lost) and the end of an order's
validity, fired as the clock passes them."""

from __future__ import annotations

import numpy as np

from emon.alerts.model import Alert, alert_id_for, severity_for
from emon.engine.base import EngineBase
from emon.engine.devices import NONE_TS
from emon.engine.episode import Episode
from emon.engine.orders_index import CompiledOrder
from emon.timeutil import Millis


class Timers(EngineBase):
    def _fire_timers(self, now: Millis) -> None:
        due: list[tuple[Millis, int, int]] = []  # (when, kind, index)
        while self._expired < len(self._expiries) and self._expiries[self._expired][0] <= now:
            when, order_index = self._expiries[self._expired]
            due.append((when, 0, order_index))
            self._expired += 1
        if now >= self._next_silence_check:
            deadlines = np.maximum(self.devices.last_recv, self._watch_from) + self._silence_ms
            watched = ~self._lost & (self._silence_ms < np.iinfo(np.int64).max)
            for dev in np.flatnonzero(watched & (deadlines <= now)):
                due.append((int(deadlines[dev]), 1, int(dev)))
            pending = deadlines[watched & (deadlines > now)]
            self._next_silence_check = int(pending.min()) if len(pending) else 2**62
        for when, kind, i in sorted(due):
            saved = self.clock
            self.clock = max(self.clock, when)
            if kind == 0:
                self._expire(self.index.orders[i], when)
            else:
                self._signal_lost(i, when)
            self.clock = saved

    def _signal_lost(self, dev: int, when: Millis) -> None:
        self._lost[dev] = True
        subject = self.devices.ids[dev]
        last_ts = int(self.devices.last_ts[dev])
        for role in self.index.roles[dev]:
            order = role.order
            if not order.active_at(when):
                continue
            key = (order.index, "signal_lost", subject)
            episode = self.episodes.setdefault(key, Episode())
            episode.phase = episode.phase.ACTIVE
            episode.episodes += 1
            alert = Alert(
                alert_id_for(order.order.order_id, "signal_lost", subject, when, episode.episodes),
                "signal_lost",
                severity_for("signal_lost", order.order.risk),
                order.order.order_id,
                order.order.case_id,
                None,
                subject,
                when,
                when,
                details={"silence_s": order.silence_ms / 1000},
            )
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
