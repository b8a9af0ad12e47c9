"""Alerts as people see them: the engine's changes merged with what
operators did (the live stream of them is the service's: emon/service/alertbook.py).

The engine says what a condition does (open, updated, ended); operators
acknowledge, assign, confirm and resolve. An operator's state outranks the
engine's, except that an ended condition shows as ended until resolved.
Storage is the caller's: this book holds no IO.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from emon.alerts.delivery import Pending
from emon.alerts.escalation import Due
from emon.alerts.model import AlertChange, AlertSpan, ShownAlert
from emon.timeutil import format_ts

#: operator states outrank what the engine says, except that an ended
#: condition is shown as ended until someone resolves it
_RANK = {"open": 0, "acknowledged": 1, "ended": 2, "resolved": 3}


@dataclass
class AlertBook:
    #: the alerts as shown (the contract's JSON, operator state included)
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: their times, typed (what evidence, holds and case views are cut by)
    spans: dict[str, AlertSpan] = field(default_factory=dict)

    def merge(self, change: AlertChange, risk: str | None) -> dict[str, Any]:
        """An engine change into the alert as shown (the order's risk travels
        with it: it orders the console's queue)."""
        self.spans[change.alert_id] = change.span
        known = self.alerts.get(change.alert_id)
        if known is None:
            known = self.alerts[change.alert_id] = dict(change.to_json(), risk=risk)
            return known
        state = known["state"]
        known.update(change.to_json())
        if _RANK[state] > _RANK[change.state]:
            known["state"] = state
        return known

    def show(self, shown: ShownAlert) -> None:
        """An alert as stored, or as the worker holding it recorded it."""
        self.alerts[shown.alert_id] = dict(shown.body)
        self.spans[shown.alert_id] = shown.span

    def restore(self, stored: Iterable[ShownAlert]) -> None:
        for shown in stored:
            self.show(shown)

    def shown(self, alert_id: str) -> ShownAlert:
        return ShownAlert(self.alerts[alert_id], self.spans[alert_id])

    def everything(self) -> list[ShownAlert]:
        """Every alert known, with its times (for reports and figures)."""
        return [ShownAlert(a, self.spans[i]) for i, a in list(self.alerts.items())]

    def act(
        self, alert_id: str, action: str, note: str, actor: str, now: int, **extra: Any
    ) -> dict[str, Any]:
        """An operator acknowledges, assigns or resolves an alert; police
        dispatch confirms it has taken it on."""
        alert = self.alerts[alert_id]
        if action == "ack" and alert["state"] == "open":
            alert["state"] = "acknowledged"
        elif action == "resolve":
            alert["state"] = "resolved"
            alert["classification"] = extra.get("classification")
        elif action == "assign":
            alert["assigned_to"] = extra["to"]
        elif action == "confirm":
            alert["dispatch_confirmed"] = {"by": actor, "at": format_ts(now)}
        alert.setdefault("actions", []).append(
            {"action": action, "note": note, "actor": actor, "at": format_ts(now), **extra}
        )
        return alert

    def escalated(self, record: Pending, now: int) -> dict[str, Any] | None:
        """A victim's warning escalated (unanswered, or her device cannot
        answer): marked on its alert once; the alert to record, if newly so."""
        alert = self.alerts.get(record.alert_id)
        if not record.escalated or alert is None or "escalation" in alert:
            return None
        alert["escalation"] = {
            "at": format_ts(now),
            "device_id": record.device_id,
            "action": "phone the victim",
            # unconfirmable: her device (an OwnTracks phone) cannot acknowledge
            "reason": "unacknowledged" if record.confirmable else "unconfirmable",
        }
        return alert

    def escalate(self, due: Due, now: int) -> dict[str, Any] | None:
        """An escalation recorded on its alert (the console shows it
        unattended); None when the alert is no longer known."""
        alert = self.alerts.get(due.alert_id)
        if alert is None:
            return None
        entry = {"reason": due.reason, "at": format_ts(now), "waited_s": due.waited_s,
                 "to": "supervisor"}  # fmt: skip
        alert.setdefault("escalations", []).append(entry)
        return alert

    def listed(self, state: str | None) -> list[dict[str, Any]]:
        alerts = [a for a in self.alerts.values() if not state or a["state"] == state]
        return sorted(alerts, key=lambda a: a["detected_at"], reverse=True)
