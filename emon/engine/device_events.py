"""Device events (panic, tamper, battery, shielding, power off) and the
battery level fixes carry."""

from __future__ import annotations

from typing import Any

from emon.alerts.model import Alert, AlertType
from emon.engine.base import EngineBase, Message
from emon.engine.battery import CHARGE_STEP_PCT, dies_soon, empty_at
from emon.engine.devices import NONE_TS
from emon.engine.episode import Episode
from emon.engine.orders_index import CompiledOrder
from emon.ingest.messages import Beacon, Event, Fix
from emon.timeutil import Millis, format_ts

#: device events that are alerts of the same name
EVENT_ALERTS = frozenset(
    {AlertType.PANIC, AlertType.TAMPER, AlertType.SHIELDING, AlertType.BATTERY_LOW,
     AlertType.UNPAIRED, AlertType.APP_DEGRADED}
)  # fmt: skip


class DeviceEvents(EngineBase):
    def _on_event(self, message: Message, event: Event) -> None:
        dev = self.devices.index.get(event.device_id)
        if dev is None:
            self.rejections.reject(
                message.recv, message.topic, "unknown_device", event.device_id, message.payload
            )
            return
        if not self.events.first_time(dev, event.seq):
            self.rejections.reject(
                message.recv, message.topic, "duplicate", f"event seq {event.seq}", message.payload
            )
            return
        self.stats["events"] += 1
        self.devices.signs_of_life(dev, self.clock)
        late = self.clock - event.ts > self.policy.late_after_s * 1000
        for role in self.index.roles[dev]:
            order = role.order
            if not order.active_at(event.ts):
                continue
            subject = self.devices.ids[dev]
            if event.type in EVENT_ALERTS:
                self._device_alert(order, AlertType(event.type), subject, event.ts, late, dev,
                                   event.reason)  # fmt: skip
            elif event.type == "charging":
                self._end((order.index, AlertType.BATTERY_LOW, subject), event.ts)
                self._end((order.index, AlertType.BATTERY_CRITICAL, subject), event.ts)
                self.devices.batt_run_ts[dev] = NONE_TS  # a new run from the next reading
            elif event.type == "power_off":
                self.events.power_off[dev] = event.ts

    def _on_beacon(self, message: Message, beacon: Beacon) -> None:
        """A home unit says whether it hears the ankle monitor: at home, an open
        violation of an inclusion zone holding the residence ends there."""
        dev = self.devices.index.get(beacon.beacon_id)
        roles = [r for r in self.index.roles[dev] if r.beacon] if dev is not None else []
        if dev is None or not roles:
            self.rejections.reject(message.recv, message.topic, "unknown_device",
                                   beacon.beacon_id, message.payload)  # fmt: skip
            return
        if not self.events.first_time(dev, beacon.seq):
            self.rejections.reject(message.recv, message.topic, "duplicate",
                                   f"beacon seq {beacon.seq}", message.payload)  # fmt: skip
            return
        self._heard_from(dev)  # its own liveness: a silent unit is signal_lost
        for role in roles:
            order = role.order
            offender = order.offender
            if offender is None or self.devices.ids[offender] != beacon.device_id:
                self.rejections.reject(message.recv, message.topic, "device_mismatch",
                                       beacon.device_id, message.payload)  # fmt: skip
                continue
            self.presence.report(dev, beacon.ts, beacon.present)
            if not (beacon.present and order.active_at(beacon.ts)):
                continue
            for zone in order.zones:
                if zone.holds_residence:
                    key = (order.index, AlertType.ZONE_VIOLATION, zone.spec.zone_id)
                    self._stop(key, beacon.ts, self.episodes)

    def _device_alert(
        self,
        order: CompiledOrder,
        alert_type: AlertType,
        subject: str,
        ts: Millis,
        late: bool,
        dev: int,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """``reason``: what the device said of it (app_degraded), kept in its
        details with ``details`` (in the alert as raised, not after it)."""
        key = (order.index, alert_type, subject)
        episode = self.episodes.setdefault(key, Episode())
        alert = episode.alert
        merge = self.policy.event_merge_s * 1000
        if alert is not None and alert.ended_at is None and ts - episode.since <= merge:
            episode.since = max(episode.since, ts)
            alert.details["count"] = int(alert.details.get("count", 1)) + 1
            if reason:
                alert.details["reason"] = reason
            self._emit(alert)
            return
        episode.phase = episode.phase.ACTIVE
        episode.episodes += 1
        episode.since = ts
        alert = Alert.raised(
            order.order, alert_type, subject, episode.episodes, self.devices.ids[dev], ts,
            self.clock, late=late,
            details={"count": 1, **({"reason": reason} if reason else {}), **(details or {})},
        )  # fmt: skip
        episode.alert = alert
        self._emit(alert)

    def _battery(self, dev: int, fix: Fix) -> None:
        if fix.batt is None:
            return
        before = float(self.devices.battery[dev])
        self.devices.battery[dev] = fix.batt
        self._discharge(dev, fix.ts, fix.batt, before)
        subject = self.devices.ids[dev]
        for role in self.index.roles[dev]:
            key = (role.order.index, AlertType.BATTERY_LOW, subject)
            episode = self.episodes.get(key)
            is_open = episode is not None and episode.alert is not None and episode.open
            if fix.batt <= self.policy.battery_low_pct and not is_open:
                if role.order.active_at(fix.ts):
                    self._device_alert(role.order, AlertType.BATTERY_LOW, subject, fix.ts, False,
                                       dev, details={"battery_pct": fix.batt})  # fmt: skip
            elif fix.batt >= self.policy.battery_ok_pct and is_open:
                self._end(key, fix.ts)

    def _discharge(self, dev: int, ts: Millis, batt: float, before: float) -> None:
        """The discharge run (emon/engine/battery.py): started, ended by a
        charge, or predicting an empty battery within the horizon."""
        devices, subject = self.devices, self.devices.ids[dev]
        charged = before == before and batt >= before + CHARGE_STEP_PCT
        if devices.batt_run_ts[dev] == NONE_TS or charged:
            devices.batt_run_ts[dev], devices.batt_run_pct[dev] = ts, batt
            for role in self.index.roles[dev] if charged else ():
                self._end((role.order.index, AlertType.BATTERY_CRITICAL, subject), ts)
            return
        run_ts, run_pct = float(devices.batt_run_ts[dev]), float(devices.batt_run_pct[dev])
        if not dies_soon(self.policy, run_ts, run_pct, float(ts), float(batt)):
            return
        for role in self.index.roles[dev]:
            key = (role.order.index, AlertType.BATTERY_CRITICAL, subject)
            episode = self.episodes.get(key)
            if not role.order.active_at(ts) or (episode is not None and episode.open):
                continue
            when = format_ts(empty_at(run_ts, run_pct, float(ts), batt))
            self._device_alert(role.order, AlertType.BATTERY_CRITICAL, subject, ts, False, dev,
                               details={"battery_pct": batt, "empty_at": when})  # fmt: skip

    def _end_shielding(self, dev: int, ts: Millis, acc: float) -> None:
        if acc > self.policy.unusable_accuracy_m:
            return
        for role in self.index.roles[dev]:
            self._end((role.order.index, AlertType.SHIELDING, self.devices.ids[dev]), ts)
