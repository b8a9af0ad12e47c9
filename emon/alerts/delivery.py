"""Who is told what: agencies by the routing table, devices by one warning each.

Pure logic on an injected clock, so that it is tested without a broker: it
returns the MQTT messages to publish. A device is told what everything open
for it says (emon/alerts/warnings.py), when that changes; a re-send repeats
its latest message; a victim's warning that is not acknowledged is escalated
to the monitoring centre (someone must phone her), a "clear" never. At a
pre-alert the offender is told first and the victim after a while, unless the
risk is high (emon/alerts/routing.py). A device that cannot acknowledge (an
OwnTracks phone) is sent each warning once, on the topic and in the form its
app shows, and the centre is told at once that this victim cannot confirm.
"""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from emon import topics
from emon.alerts.commands import Commands, message
from emon.alerts.kinds import Channels, Kind, kind
from emon.alerts.model import ShownAlert, closed
from emon.alerts.routing import ROUTING, FirstTold, Routing, channels_for, who_is_told
from emon.alerts.texts import Language, language_of, offender_text, victim_text
from emon.alerts.types import AlertType
from emon.alerts.warnings import CLEAR, LEVELS, WarningBoard, offender_summary, victim_summary
from emon.ingest import owntracks
from emon.orders import Order
from emon.timeutil import Millis, format_ts

#: alerts whose notifications are kept in memory for the console
HISTORY_ALERTS = 10_000
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


@dataclass
class _Waiting:
    """A victim's warning held back while the offender is told first."""

    due: Millis
    device: str
    key: str
    language: Language


class Delivery:
    def __init__(
        self,
        routing: Routing | None = None,
        resend_after_s: float = 30.0,
        max_attempts: int = 3,
        owntracks_keys: dict[str, bytes] | None = None,
        first_told: FirstTold | None = None,
        language: Language | None = None,
    ) -> None:
        self.routing = routing or ROUTING
        self.first_told = first_told or FirstTold()
        self.language = language
        #: OwnTracks phones with a secret get their commands encrypted with it
        self.owntracks_keys = owntracks_keys or {}
        self.resend_after_ms = int(resend_after_s * 1000)
        self.max_attempts = max_attempts
        self.victims = WarningBoard(victim_summary)
        self.offenders = WarningBoard(offender_summary)
        #: commands to devices: report faster at a pre-alert (emon/alerts/commands.py)
        self.commands = Commands()
        #: (alert id, device) -> a victim's warning waiting for its time
        self.waiting: dict[tuple[str, str], _Waiting] = {}
        self.pending: dict[str, Pending] = {}
        #: each device's latest notification (the only one re-sent)
        self.latest: dict[str, str] = {}
        self.changed: list[Pending] = []  # for storage
        #: every notification of recent alerts, for the console's escalation timers
        self.by_alert: OrderedDict[str, list[Pending]] = OrderedDict()

    # -- alerts -------------------------------------------------------------------
    def on_alert(self, alert: dict[str, Any], order: Order | None, now: Millis) -> list[Outgoing]:
        """Route an alert change to agencies, and tell devices what changed for them."""
        out = [
            Outgoing(topics.alerts(channel), json.dumps(alert).encode())
            for channel in self.channels(alert, order)
        ]
        if order is not None:
            first_new = len(self.changed)
            out.extend(self._tell_devices(alert, order, now))
            out.extend(self._unconfirmable(self.changed[first_new:], now))
            out.extend(Outgoing(*message(c)) for c in self.commands.at_alert(alert, order, now))
        return out

    def channels(self, alert: Mapping[str, Any], order: Order | None) -> Channels:
        return channels_for(self.routing, alert["type"], order.risk if order else None)

    def victim_delay_ms(self, alert: Mapping[str, Any], order: Order | None) -> int:
        """How long her device waits at this alert (for the decision trail too)."""
        return self.first_told.victim_delay_ms(alert["type"], order.risk if order else None)

    def who_is_told(self, alert: Mapping[str, Any], order: Order | None) -> dict[str, Any]:
        """Who hears of it, and when (the decision trail's part)."""
        return who_is_told(alert, order, self.channels(alert, order),
                           self.victim_delay_ms(alert, order) / 1000)  # fmt: skip

    def _tell_devices(self, alert: dict[str, Any], order: Order, now: Millis) -> list[Outgoing]:
        record = kind(alert["type"])
        alert_id, over = alert["alert_id"], closed(alert)
        out: list[Outgoing] = []
        if record.victim_level is not None:
            key = _victim_key(record)
            delay = self.victim_delay_ms(alert, order)
            for device in _victims_of(alert, order):
                language = self._language(order, device)
                if over:
                    self.waiting.pop((alert_id, device), None)
                    out += self._update(self.victims, device, alert_id, None, language, now)
                elif (alert_id, device) in self.waiting:
                    continue  # still held back
                elif delay and self.victims.told.get(device, CLEAR) == CLEAR:
                    # held back only while she is told nothing: once warned of
                    # anything, she is told of everything open for her; a
                    # "clear" not yet confirmed is no longer true: not re-sent
                    self.waiting[(alert_id, device)] = _Waiting(now + delay, device, key, language)
                    self.pending.pop(self.latest.get(device, ""), None)
                else:
                    self._release_waiting(device)  # told of one thing: told of all
                    out += self._update(self.victims, device, alert_id, key, language, now)
        offender = order.offender.device_id
        if offender and record.turns_offender_back:
            out += self._update(self.offenders, offender, alert_id,
                                None if over else str(record.type),
                                self._language(order, offender), now)  # fmt: skip
        return out

    def _release_waiting(self, device: str) -> None:
        """A victim told of something is told of everything open for her: a
        held-back pre-alert counts from now (her "clear" waits for it too)."""
        for (alert_id, waiting_device), wait in list(self.waiting.items()):
            if waiting_device == device:
                del self.waiting[(alert_id, device)]
                self.victims.open.setdefault(device, {})[alert_id] = wait.key

    def _language(self, order: Order, device: str) -> Language:
        if order.offender.device_id == device and order.offender.language:
            return order.offender.language
        own = next((v.language for v in order.victims if v.device_id == device), None)
        return own or order.language or self.language or language_of(order.timezone)

    def _update(
        self, board: WarningBoard, device: str, alert_id: str, key: str | None,
        language: Language, now: Millis,
    ) -> list[Outgoing]:  # fmt: skip
        """A condition of a device opened or ended: told what it says now, if that changed."""
        says = board.update(device, alert_id, key)
        if says is None:
            return []
        victim = board is self.victims
        text = victim_text(says, language) if victim else offender_text(says, language)
        return self._send(alert_id, device, says, text, now, victim)

    def _send(
        self, alert_id: str, device: str, says: str, text: str, now: Millis, victim: bool
    ) -> list[Outgoing]:
        """One notification; its id from the alert that changed what the device
        says and what it says now (the same on every worker: a repeat after a
        handover is dropped by the device)."""
        nid = str(uuid.uuid5(_NAMESPACE, f"{alert_id}|{device}|{says}"))
        level = LEVELS[says]
        confirmable = not owntracks.is_owntracks(device)
        record = Pending(nid, alert_id, device, level, text, now, 1, victim,
                         confirmable=confirmable)  # fmt: skip
        self._make_latest(device, nid)
        if confirmable:
            self.pending[nid] = record
        self._remember(record)
        self.changed.append(record)
        if confirmable:
            return [self._message(record)]
        # the contract's notification as for every device, and the command its app shows
        return [self._message(record), self._command(record)]

    def _make_latest(self, device: str, nid: str) -> None:
        """A device's newest notification: the one before it is never re-sent."""
        superseded = self.latest.get(device)
        if superseded is not None:
            self.pending.pop(superseded, None)
        self.latest[device] = nid

    def _unconfirmable(self, sent: list[Pending], now: Millis) -> list[Outgoing]:
        """The centre is told at once, and once an alert, that a victim was
        warned on a device that cannot confirm: someone must phone her."""
        out: list[Outgoing] = []
        for record in sent:
            if record.confirmable or not record.victim or record.escalated:
                continue
            if record.level == CLEAR:
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

    # -- acknowledgements and time --------------------------------------------------
    def acknowledged(self, device_id: str, payload: bytes, now: Millis) -> Pending | None:
        """A device's message on its ack topic: the notification it confirms, if pending."""
        try:
            body = json.loads(payload)
            notification_id, command_id = body.get("notification_id"), body.get("command_id")
        except (ValueError, AttributeError):
            return None
        if notification_id is None and isinstance(command_id, str):
            self.commands.acknowledge(device_id, command_id, now)
            return None
        return self.acknowledge(device_id, str(notification_id), now)

    def acknowledge(self, device_id: str, notification_id: str, now: Millis) -> Pending | None:
        record = self.pending.get(notification_id)
        if record is None or record.device_id != device_id or record.acked_at is not None:
            return None
        record.acked_at = now
        self.changed.append(record)
        del self.pending[notification_id]
        return record

    def tick(self, now: Millis) -> list[Outgoing]:
        """Victims' warnings whose time has come; re-send what is
        unacknowledged; escalate a victim's warning (never a clear) after the
        last try."""
        out: list[Outgoing] = []
        first_new = len(self.changed)
        for (alert_id, device), wait in sorted(self.waiting.items(), key=lambda w: w[1].due):
            if wait.due <= now and (alert_id, device) in self.waiting:
                del self.waiting[(alert_id, device)]
                self._release_waiting(device)
                out += self._update(self.victims, device, alert_id, wait.key, wait.language, now)
        out.extend(self._unconfirmable(self.changed[first_new:], now))
        for record in list(self.pending.values()):
            if now - record.sent_at < self.resend_after_ms * record.attempts:
                continue
            if record.attempts < self.max_attempts:
                record.attempts += 1
                self.changed.append(record)
                out.append(self._message(record))
                continue
            del self.pending[record.notification_id]
            if record.victim and not record.escalated and record.level != CLEAR:
                record.escalated = True
                self.changed.append(record)
                out.append(self._escalation(record, now, "notification_unacknowledged"))
        return out

    def _escalation(self, record: Pending, now: Millis, kind_: str) -> Outgoing:
        action = (
            "phone the victim: her phone cannot confirm warnings"
            if kind_ == "notification_unconfirmable"
            else "phone the victim"
        )
        escalation = {
            "type": kind_,
            "alert_id": record.alert_id,
            "notification_id": record.notification_id,
            "device_id": record.device_id,
            "attempts": record.attempts,
            "ts": format_ts(now),
            "action": action,
        }
        return Outgoing(topics.alerts("monitoring"), json.dumps(escalation).encode())

    # -- after a restart or a handover -------------------------------------------------
    def restore(self, rows: list[tuple[Any, ...]], victims: set[str]) -> None:
        """Notifications still waiting for their device: the latest of each."""
        for row in sorted(rows, key=lambda r: int(r[5])):
            nid, alert_id, device, level, text, sent_at, attempts, acked_at, escalated = row
            if owntracks.is_owntracks(device):
                continue  # sent once; it never confirms, so nothing waits
            self._make_latest(device, nid)
            self.pending[nid] = Pending(
                nid, alert_id, device, level, text, int(sent_at), int(attempts),
                device in victims, acked_at, bool(escalated),
            )  # fmt: skip
            self._remember(self.pending[nid])

    def forget(self) -> None:
        """What each device was told: forgotten (before ``recall``)."""
        self.victims = WarningBoard(victim_summary)
        self.offenders = WarningBoard(offender_summary)
        self.waiting.clear()

    def recall(
        self, alerts: Iterable[ShownAlert], order_of: Callable[[str], Order | None], now: Millis
    ) -> None:
        """What is open for each device, from the alerts as they stand (after a
        restart the engine's replay sends nothing): what was open is taken as
        told; a victim's warning still within its wait waits on."""
        for shown in alerts:
            order = order_of(shown.order_id)
            if order is None or closed(shown.body):
                continue
            record = kind(shown.type)
            if record.victim_level is not None:
                key = _victim_key(record)
                due = shown.span.detected_at + self.victim_delay_ms(shown.body, order)
                for device in _victims_of(shown.body, order):
                    if due > now:
                        language = self._language(order, device)
                        self.waiting[(shown.alert_id, device)] = _Waiting(due, device, key,
                                                                          language)  # fmt: skip
                    else:
                        self.victims.open.setdefault(device, {})[shown.alert_id] = key
            offender = order.offender.device_id
            if offender and record.turns_offender_back:
                self.offenders.open.setdefault(offender, {})[shown.alert_id] = shown.type
        self.victims.assume_told()
        self.offenders.assume_told()

    def drain_changed(self) -> list[Pending]:
        out, self.changed = self.changed, []
        return out


def _victim_key(record: Kind) -> str:
    """What a protected victim's device says while this kind is open: her own
    panic is answered (help is coming), any other danger is danger."""
    return "panic" if record.type == AlertType.PANIC else str(record.victim_level)


def _victims_of(alert: Mapping[str, Any], order: Order) -> list[str]:
    """The victim devices an alert concerns: hers for a contact ban and her
    own panic, every victim's for a zone."""
    if alert["type"] == AlertType.PANIC:
        return [alert["device_id"]]
    if alert["type"].startswith("contact"):
        device = (alert.get("details") or {}).get("victim_device_id")
        return [device] if device else []
    return [v.device_id for v in order.victims if v.device_id]
