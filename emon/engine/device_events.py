"""Device events (panic, tamper, battery, shielding, power off) and the
battery level fixes carry."""

from __future__ import annotations

from emon.alerts.model import Alert, AlertType
from emon.engine.base import EngineBase, Message
from emon.engine.episode import Episode
from emon.engine.orders_index import CompiledOrder
from emon.ingest.messages import Beacon, Event, Fix
from emon.timeutil import Millis

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
    ) -> None:
        """``reason``: what the device said of it (app_degraded), kept in its details."""
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
            self.clock, late=late, details={"count": 1, **({"reason": reason} if reason else {})},
        )  # fmt: skip
        episode.alert = alert
        self._emit(alert)

    def _battery(self, dev: int, fix: Fix) -> None:
        if fix.batt is None:
            return
        self.devices.battery[dev] = fix.batt
        subject = self.devices.ids[dev]
        for role in self.index.roles[dev]:
            key = (role.order.index, AlertType.BATTERY_LOW, subject)
            episode = self.episodes.get(key)
            is_open = episode is not None and episode.alert is not None and episode.open
            if fix.batt <= self.policy.battery_low_pct and not is_open:
                if role.order.active_at(fix.ts):
                    self._device_alert(
                        role.order, AlertType.BATTERY_LOW, subject, fix.ts, False, dev
                    )
                    assert self.episodes[key].alert is not None
                    self.episodes[key].alert.details["battery_pct"] = fix.batt  # type: ignore[union-attr]
            elif fix.batt >= self.policy.battery_ok_pct and is_open:
                self._end(key, fix.ts)

    def _end_shielding(self, dev: int, ts: Millis, acc: float) -> None:
        if acc > self.policy.unusable_accuracy_m:
            return
        for role in self.index.roles[dev]:
            self._end((role.order.index, AlertType.SHIELDING, self.devices.ids[dev]), ts)
