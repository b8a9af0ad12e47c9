"""Who is told what: agencies by a routing table, devices by notifications.

Pure logic on an injected clock, so that it is tested without a broker: it
returns the MQTT messages to publish. A victim's device is told that there is
danger and what to do, never where the offender is or how far; an offender's
device is told to turn back, never where the victim is. A victim notification
that is not acknowledged is re-sent, then escalated to the monitoring centre
(someone must phone the victim). A device that cannot acknowledge (an
OwnTracks phone) is sent each warning once, on the topic and in the form its
app shows, and the centre is told at once that this victim cannot confirm.
"""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from emon import topics
from emon.alerts.model import AlertType
from emon.ingest import owntracks
from emon.orders import Order
from emon.timeutil import Millis, format_ts

Channels = tuple[str, ...]
ALL = ("police", "reclassering", "monitoring")
CENTRE = ("reclassering", "monitoring")

#: Alert type -> channels for risk (low, medium, high). Configuration may
#: replace any row; these defaults send police only what needs police.
ROUTING: dict[str, tuple[Channels, Channels, Channels]] = {
    AlertType.PANIC: (ALL, ALL, ALL),
    AlertType.CONTACT_VIOLATION: (CENTRE, ALL, ALL),
    AlertType.ZONE_VIOLATION: (CENTRE, ALL, ALL),
    AlertType.TAMPER: (CENTRE, CENTRE, ALL),
    AlertType.CONTACT_PREALERT: (("monitoring",), ("monitoring",), CENTRE),
    AlertType.ZONE_PREALERT: (("monitoring",), ("monitoring",), ("monitoring",)),
    AlertType.SIGNAL_LOST: (CENTRE, CENTRE, CENTRE),
    AlertType.SHIELDING: (CENTRE, CENTRE, CENTRE),
    AlertType.BATTERY_LOW: (("monitoring",), ("monitoring",), ("monitoring",)),
}
_RISK = {"low": 0, "medium": 1, "high": 2}
#: the approaches a victim is warned of (a panic is answered separately)
WARNS_VICTIM = frozenset({AlertType.ZONE_VIOLATION, AlertType.CONTACT_VIOLATION,
                          AlertType.ZONE_PREALERT, AlertType.CONTACT_PREALERT})  # fmt: skip
#: alerts whose notifications are kept in memory for the console
HISTORY_ALERTS = 10_000

VICTIM_TEXT = {
    "alert": "Danger: the person you are protected from may be near. Go to a safe place "
    "now. The police have been alerted.",
    "prealert": "Be alert: the person you are protected from may be coming closer. Stay "
    "near other people or a safe place.",
    "clear": "The earlier warning has ended. Stay alert.",
    "panic": "Your alarm has been received. Help is on its way.",
}
OFFENDER_TEXT = {
    "zone_prealert": "You are approaching an area you may not enter. Turn back now.",
    "contact_prealert": "You are too close to a person you may not approach. Move away now.",
    "clear": "The warning has ended.",
}


def routing_from_config(
    overrides: dict[str, dict[str, list[str]]],
) -> dict[str, tuple[Channels, Channels, Channels]]:
    """The default table with rows replaced from configuration, e.g.
    ``{"zone_violation": {"low": ["monitoring"], "medium": [...], "high": [...]}}``."""
    table = dict(ROUTING)
    for alert_type, by_risk in overrides.items():
        default = table.get(alert_type, (CENTRE, CENTRE, CENTRE))
        row = [tuple(by_risk.get(risk, default[i])) for i, risk in enumerate(_RISK)]
        for channels in row:
            unknown = set(channels) - set(ALL)
            if unknown:
                raise ValueError(f"routing for {alert_type}: unknown channels {sorted(unknown)}")
        table[alert_type] = (row[0], row[1], row[2])
    return table


_NAMESPACE = uuid.UUID("5f0e7b1c-3a53-4f57-9d53-2b2d6a0c9f11")


@dataclass
class Pending:
    notification_id: str
    alert_id: str
    device_id: str
    level: str
    text: str
    sent_at: Millis
    attempts: int
    victim: bool
    acked_at: Millis | None = None
    escalated: bool = False
    #: False for a device that has no way to acknowledge (an OwnTracks phone)
    confirmable: bool = True

    def row(self) -> tuple[Any, ...]:
        return (
            self.notification_id, self.alert_id, self.device_id, self.level, self.text,
            self.sent_at, self.attempts, self.acked_at, self.escalated,
        )  # fmt: skip


@dataclass
class Outgoing:
    topic: str
    payload: bytes


class Delivery:
    def __init__(
        self,
        routing: dict[str, tuple[Channels, Channels, Channels]] | None = None,
        resend_after_s: float = 30.0,
        max_attempts: int = 3,
        owntracks_keys: dict[str, bytes] | None = None,
    ) -> None:
        self.routing = routing or ROUTING
        #: OwnTracks phones with a secret get their commands encrypted with it
        self.owntracks_keys = owntracks_keys or {}
        self.resend_after_ms = int(resend_after_s * 1000)
        self.max_attempts = max_attempts
        self.pending: dict[str, Pending] = {}
        self.changed: list[Pending] = []  # for storage
        #: every notification of recent alerts, for the console's escalation timers
        self.by_alert: OrderedDict[str, list[Pending]] = OrderedDict()

    # -- alerts -------------------------------------------------------------------
    def on_alert(self, alert: dict[str, Any], order: Order | None, now: Millis) -> list[Outgoing]:
        """Route an alert change to agencies, and notify devices."""
        out = [
            Outgoing(topics.alerts(channel), json.dumps(alert).encode())
            for channel in self.channels(alert, order)
        ]
        if order is not None:
            first_new = len(self.changed)
            out.extend(self._notify_devices(alert, order, now))
            out.extend(self._unconfirmable(self.changed[first_new:], now))
        return out

    def channels(self, alert: Mapping[str, Any], order: Order | None) -> Channels:
        row = self.routing.get(alert["type"], (CENTRE, CENTRE, CENTRE))
        return row[_RISK.get(order.risk if order else "high", 2)]

    def _notify_devices(self, alert: dict[str, Any], order: Order, now: Millis) -> list[Outgoing]:
        kind, ended = alert["type"], alert["state"] in ("ended", "resolved")
        first = alert["state"] == "open" and alert["ended_at"] is None
        if not (first or ended):
            return []  # acknowledgements and updates change nothing for devices
        out: list[Outgoing] = []
        victims = self._victims_of(alert, order)
        if kind in WARNS_VICTIM:
            level = "clear" if ended else ("prealert" if kind.endswith("prealert") else "alert")
            for device in victims:
                out.extend(self._send(alert, device, level, VICTIM_TEXT[level], now, victim=True))
        if kind == AlertType.PANIC and first:
            device = alert["device_id"]
            out.extend(self._send(alert, device, "alert", VICTIM_TEXT["panic"], now, victim=True))
        offender = order.offender.device_id
        if offender and kind in OFFENDER_TEXT:
            level, text = (
                ("clear", OFFENDER_TEXT["clear"]) if ended else ("prealert", OFFENDER_TEXT[kind])
            )
            out.extend(self._send(alert, offender, level, text, now, victim=False))
        return out

    def _victims_of(self, alert: dict[str, Any], order: Order) -> list[str]:
        if alert["type"].startswith("contact"):
            device = alert["details"].get("victim_device_id")
            return [device] if device else []
        return [v.device_id for v in order.victims if v.device_id]

    def _send(
        self, alert: dict[str, Any], device: str, level: str, text: str, now: Millis, victim: bool
    ) -> list[Outgoing]:
        nid = str(uuid.uuid5(_NAMESPACE, f"{alert['alert_id']}|{device}|{level}"))
        confirmable = not owntracks.is_owntracks(device)
        record = Pending(nid, alert["alert_id"], device, level, text, now, 1, victim,
                         confirmable=confirmable)  # fmt: skip
        if confirmable:
            self.pending[nid] = record
        self._remember(record)
        self.changed.append(record)
        if confirmable:
            return [self._message(record)]
        # the contract's notification as for every device, and the command its app shows
        return [self._message(record), self._command(record)]

    def _unconfirmable(self, sent: list[Pending], now: Millis) -> list[Outgoing]:
        """The centre is told at once, and once an alert, that a victim was
        warned on a device that cannot confirm: someone must phone her."""
        out: list[Outgoing] = []
        for record in sent:
            if record.confirmable or not record.victim or record.escalated:
                continue
            if record.level == "clear":
                continue  # an ending needs no call
            told = self.by_alert.get(record.alert_id, [])
            if any(r.escalated and r.device_id == record.device_id for r in told):
                continue
            record.escalated = True
            out.append(self._escalation(record, now, "notification_unconfirmable"))
        return out

    def _remember(self, record: Pending) -> None:
        self.by_alert.setdefault(record.alert_id, []).append(record)
        self.by_alert.move_to_end(record.alert_id)
        while len(self.by_alert) > HISTORY_ALERTS:
            self.by_alert.popitem(last=False)

    def _command(self, record: Pending) -> Outgoing:
        """The warning as a remote command the OwnTracks app shows (encrypted
        with its secret where it has one)."""
        payload = owntracks.warning_command(record.text)
        key = self.owntracks_keys.get(record.device_id)
        if key is not None:
            payload = owntracks.encrypt(key, payload)
        return Outgoing(owntracks.command_topic(record.device_id), payload)

    def _message(self, record: Pending) -> Outgoing:
        body = {
            "notification_id": record.notification_id,
            "alert_id": record.alert_id,
            "ts": format_ts(record.sent_at),
            "level": record.level,
            "text": record.text,
        }
        return Outgoing(topics.notify(record.device_id), json.dumps(body).encode())

    # -- acknowledgements -----------------------------------------------------------
    def acknowledge(self, device_id: str, notification_id: str, now: Millis) -> Pending | None:
        record = self.pending.get(notification_id)
        if record is None or record.device_id != device_id or record.acked_at is not None:
            return None
        record.acked_at = now
        self.changed.append(record)
        del self.pending[notification_id]
        return record

    def tick(self, now: Millis) -> list[Outgoing]:
        """Re-send what is unacknowledged; escalate a victim's after the last try."""
        out: list[Outgoing] = []
        for record in list(self.pending.values()):
            if now - record.sent_at < self.resend_after_ms * record.attempts:
                continue
            if record.attempts < self.max_attempts:
                record.attempts += 1
                self.changed.append(record)
                out.append(self._message(record))
                continue
            del self.pending[record.notification_id]
            if record.victim and not record.escalated:
                record.escalated = True
                self.changed.append(record)
                out.append(self._escalation(record, now, "notification_unacknowledged"))
        return out

    def _escalation(self, record: Pending, now: Millis, kind: str) -> Outgoing:
        action = (
            "phone the victim: her phone cannot confirm warnings"
            if kind == "notification_unconfirmable"
            else "phone the victim"
        )
        escalation = {
            "type": kind,
            "alert_id": record.alert_id,
            "notification_id": record.notification_id,
            "device_id": record.device_id,
            "attempts": record.attempts,
            "ts": format_ts(now),
            "action": action,
        }
        return Outgoing(topics.alerts("monitoring"), json.dumps(escalation).encode())

    def restore(self, rows: list[tuple[Any, ...]], victims: set[str]) -> None:
        """After a restart: notifications still waiting for their device."""
        for row in rows:
            nid, alert_id, device, level, text, sent_at, attempts, acked_at, escalated = row
            if owntracks.is_owntracks(device):
                continue  # sent once; it never confirms, so nothing waits
            self.pending[nid] = Pending(
                nid, alert_id, device, level, text, int(sent_at), int(attempts),
                device in victims, acked_at, bool(escalated),
            )  # fmt: skip
            self._remember(self.pending[nid])

    def drain_changed(self) -> list[Pending]:
        out, self.changed = self.changed, []
        return out
