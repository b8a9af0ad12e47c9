"""Asking a device for more: report every N s until a time, or report now.

The engine asks at a pre-alert (the offender's device, and at a contact ban
the victim's too: both positions matter for the distance), so that the
approach is followed closely without waiting for the device's own pursuit
mode; operators ask from the console or the API. Commands go on
``emon/v1/cmd/{device_id}`` (the contract's); devices confirm with
``{"command_id"}`` on their ack topic. Pure, on an injected clock.
"""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from emon import topics
from emon.alerts.types import AlertType
from emon.orders import Order
from emon.timeutil import Millis, format_ts

#: at a pre-alert, how often (s) the devices concerned are asked to report, and for how long
PURSUIT_INTERVAL_S = 5
PURSUIT_FOR_S = 600
#: what an operator may ask: between these intervals (s), for at most this long
MIN_INTERVAL_S = 1
MAX_INTERVAL_S = 3600
MAX_FOR_S = 86_400
#: commands remembered for their confirmation
HISTORY = 10_000
_NAMESPACE = uuid.UUID("2d7b0a8e-41f3-4c55-9a3f-6f1e0c8b7d42")


class CommandError(ValueError):
    """A command that cannot be sent as asked (the field named)."""


@dataclass
class Sent:
    command_id: str
    device_id: str
    body: dict[str, Any]
    sent_at: Millis
    acked_at: Millis | None = None


def report_interval(
    command_id: str, device_id: str, interval_s: float, until: Millis, now: Millis
) -> dict[str, Any]:
    if not MIN_INTERVAL_S <= interval_s <= MAX_INTERVAL_S:
        raise CommandError(f"interval_s: from {MIN_INTERVAL_S} to {MAX_INTERVAL_S} seconds")
    if not now < until <= now + MAX_FOR_S * 1000:
        raise CommandError(f"until: after now and at most {MAX_FOR_S // 3600} hours ahead")
    return {"command_id": command_id, "ts": format_ts(now), "command": "report_interval",
            "interval_s": interval_s, "until": format_ts(until)}  # fmt: skip


def report_now(command_id: str, now: Millis) -> dict[str, Any]:
    return {"command_id": command_id, "ts": format_ts(now), "command": "report_now"}


class Commands:
    def __init__(self) -> None:
        self.sent: OrderedDict[str, Sent] = OrderedDict()

    def at_alert(self, alert: Mapping[str, Any], order: Order | None, now: Millis) -> list[Sent]:
        """A pre-alert just raised: the devices concerned report every few seconds."""
        raised = alert["state"] == "open" and alert.get("ended_at") is None
        if order is None or not raised:
            return []
        devices: list[str] = []
        if alert["type"] in (AlertType.ZONE_PREALERT, AlertType.CONTACT_PREALERT):
            devices.append(order.offender.device_id or "")
        if alert["type"] == AlertType.CONTACT_PREALERT:
            devices.append((alert.get("details") or {}).get("victim_device_id") or "")
        out = []
        for device in (d for d in devices if d and not d.startswith(topics.OWNTRACKS)):
            command_id = str(uuid.uuid5(_NAMESPACE, f"{alert['alert_id']}|{device}"))
            if command_id in self.sent:
                continue  # asked once an alert (its updates ask nothing more)
            body = report_interval(command_id, device, PURSUIT_INTERVAL_S,
                                   now + PURSUIT_FOR_S * 1000, now)  # fmt: skip
            out.append(self._keep(Sent(command_id, device, body, now)))
        return out

    def ask(self, device_id: str, request: Mapping[str, Any], now: Millis) -> Sent:
        """An operator's command: ``{"command": "report_now"}`` or
        ``{"command": "report_interval", "interval_s": 5, "until": ms}``."""
        command_id = uuid.uuid4().hex
        kind = request.get("command")
        if kind == "report_now":
            body = report_now(command_id, now)
        elif kind == "report_interval":
            interval, until = request.get("interval_s"), request.get("until")
            if isinstance(interval, bool) or not isinstance(interval, int | float):
                raise CommandError("interval_s: a number of seconds")
            if not isinstance(until, int):
                raise CommandError("until: a time (RFC 3339)")
            body = report_interval(command_id, device_id, float(interval), until, now)
        else:
            raise CommandError("command: report_now or report_interval")
        return self._keep(Sent(command_id, device_id, body, now))

    def acknowledge(self, device_id: str, command_id: str, now: Millis) -> Sent | None:
        sent = self.sent.get(command_id)
        if sent is None or sent.device_id != device_id or sent.acked_at is not None:
            return None
        sent.acked_at = now
        return sent

    def _keep(self, sent: Sent) -> Sent:
        self.sent[sent.command_id] = sent
        while len(self.sent) > HISTORY:
            self.sent.popitem(last=False)
        return sent


def message(sent: Sent) -> tuple[str, bytes]:
    """The MQTT topic and payload of a command."""
    return topics.command(sent.device_id), json.dumps(sent.body).encode()
