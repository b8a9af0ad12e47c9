"""What the clock decides: silence (signal_lost, when emon/engine/silence.py
says a device is overdue) and the end of an order's validity, fired in time
order as the clock passes them."""

from __future__ import annotations

import heapq

from emon.alerts.model import Alert, AlertType
from emon.engine.base import EngineBase
from emon.engine.devices import NONE_TS
from emon.engine.episode import Episode
from emon.engine.orders_index import CompiledOrder
from emon.timeutil import Millis


class Timers(EngineBase):
    def _fire_timers(self, now: Millis) -> None:
        due: list[tuple[Millis, int, int]] = []  # (when, kind, index)
        while self._expiries and self._expiries[0][0] <= now:
            when, order_index = heapq.heappop(self._expiries)
            if order_index in self.index.orders:  # not since replaced or revoked
                due.append((when, 0, order_index))
        for deadline, dev in self.silence.due(now, self.devices.last_recv):
            due.append((deadline, 1, dev))
        for when, kind, i in sorted(due):
            saved = self.clock
            self.clock = max(self.clock, when)
            if kind == 0:
                self._expire(self.index.orders[i], when)
            else:
                self._signal_lost(i, when)
            self.clock = saved

    def _signal_lost(self, dev: int, when: Millis) -> None:
        self.silence.lost[dev] = True
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
            heard = int(self.devices.last_heard[dev])
            if heard > int(self.devices.last_recv[dev]):  # heard since, though no fix
                alert.details["last_heard_ts"] = heard
            if dev in self.events.power_off:
                alert.details["after_power_off"] = True
            episode.alert = alert
            self._emit(alert)

    def _expire(self, order: CompiledOrder, when: Millis) -> None:
        """Nothing is enforced after valid_until: open conditions end there."""
        for key in sorted(self.episodes.by_order.get(order.index, ())):
            episode = self.episodes[key]
            if episode.alert is not None and episode.open:
                self._stop(key, when, self.episodes)
