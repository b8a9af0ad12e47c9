"""Escalation that acts: an alert nobody takes on is taken further.

Showing "police have not confirmed: 5 min 35 s" is not enough when nobody is
looking. Each open alert is watched against a ladder: a critical (or high)
alert no operator has acknowledged within its time, and an alert routed to
the police that dispatch has not confirmed within its time, escalate once
each: to the monitoring centre's supervisor (``emon/v1/alerts/supervisor``
and its webhooks) and to the console's "unattended" state, with sound. A
victim's warning her device never confirmed escalates in emon/alerts/delivery.py.

Pure, on an injected clock: the runtime feeds it every alert change and asks
it each second what is due.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from emon.alerts.model import closed
from emon.timeutil import Millis

#: seconds an alert of this severity may wait for an operator's acknowledgement
#: (a critical alert is a person in danger now; two minutes is already long)
UNACKNOWLEDGED_S: dict[str, float] = {"critical": 120.0, "high": 300.0}
#: seconds the police may take to confirm an alert routed to them
POLICE_CONFIRM_S = 300.0
#: the reasons, as they stand in the alert and in the supervisor's message
UNACKNOWLEDGED = "unacknowledged"
POLICE_UNCONFIRMED = "police_unconfirmed"
#: operator actions that take an alert on
TAKEN_ON = frozenset({"ack", "assign", "resolve"})


@dataclass(frozen=True)
class Ladder:
    unacknowledged_s: dict[str, float] = field(default_factory=lambda: dict(UNACKNOWLEDGED_S))
    police_confirm_s: float | None = POLICE_CONFIRM_S

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Ladder:
        """``{"unacknowledged_s": {"critical": 120, "high": 300}, "police_confirm_s": 300}``;
        ``null`` for a rung turns it off."""
        unknown = set(config) - {"unacknowledged_s", "police_confirm_s"}
        if unknown:
            raise ValueError(f"escalation: unknown settings {sorted(unknown)}")
        rungs = dict(UNACKNOWLEDGED_S)
        for severity, seconds in (config.get("unacknowledged_s") or {}).items():
            if severity not in ("critical", "high", "medium", "low"):
                raise ValueError(f"escalation: unknown severity {severity!r}")
            if seconds is None:
                rungs.pop(severity, None)
            elif float(seconds) <= 0:
                raise ValueError("escalation: seconds must be above 0")
            else:
                rungs[severity] = float(seconds)
        police = config.get("police_confirm_s", POLICE_CONFIRM_S)
        if police is not None and float(police) <= 0:
            raise ValueError("escalation: police_confirm_s must be above 0")
        return cls(rungs, None if police is None else float(police))


@dataclass(frozen=True, slots=True)
class Due:
    alert_id: str
    reason: str
    #: how long (s) it waited for what did not come
    waited_s: float

    def message(self, alert: Mapping[str, Any]) -> bytes:
        """What the supervisor's channel carries: why, and the alert."""
        body = {"type": "escalation", "reason": self.reason, "waited_s": self.waited_s,
                "alert": alert}  # fmt: skip
        return json.dumps(body).encode()


@dataclass
class _Watch:
    since: Millis
    severity: str
    police: bool
    taken_on: bool
    confirmed: bool
    done: set[str]


class Escalations:
    def __init__(self, ladder: Ladder | None = None) -> None:
        self.ladder = ladder or Ladder()
        self._watching: dict[str, _Watch] = {}

    def track(self, alert: Mapping[str, Any], channels: Iterable[str], since: Millis) -> None:
        """An alert as it now stands (``since``: when it was raised)."""
        alert_id = alert["alert_id"]
        if closed(alert):
            self._watching.pop(alert_id, None)
            return
        actions = {a.get("action") for a in alert.get("actions", [])}
        done = {e["reason"] for e in alert.get("escalations", [])}
        self._watching[alert_id] = _Watch(
            since, str(alert.get("severity", "")), "police" in channels, bool(actions & TAKEN_ON),
            "dispatch_confirmed" in alert, done,
        )  # fmt: skip

    def due(self, now: Millis) -> list[Due]:
        """What is due now, each once per alert."""
        out: list[Due] = []
        for alert_id, watch in self._watching.items():
            waited_s = (now - watch.since) / 1000
            limit = self.ladder.unacknowledged_s.get(watch.severity)
            if limit is not None and not watch.taken_on and waited_s >= limit:
                out += self._fire(alert_id, watch, UNACKNOWLEDGED, waited_s)
            police = self.ladder.police_confirm_s
            if police is not None and watch.police and not watch.confirmed and waited_s >= police:
                out += self._fire(alert_id, watch, POLICE_UNCONFIRMED, waited_s)
        return out

    @staticmethod
    def _fire(alert_id: str, watch: _Watch, reason: str, waited_s: float) -> list[Due]:
        if reason in watch.done:
            return []
        watch.done.add(reason)
        return [Due(alert_id, reason, round(waited_s, 1))]

    def forget(self) -> None:
        self._watching.clear()
