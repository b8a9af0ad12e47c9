"""The alert of the contract, typed: what the engine raises (``Alert``, its
own working copy), what it says of it at each change (``AlertChange``, frozen,
integer times) and the times of an alert as shown (``AlertSpan``). JSON is made
from these at the edges only (API, MQTT, storage, replay output)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from emon.alerts.kinds import kind
from emon.alerts.types import AlertState, AlertType, Severity
from emon.orders import Order
from emon.timeutil import Millis, format_ts, parse_ts

__all__ = ["Alert", "AlertChange", "AlertSpan", "AlertState", "AlertType", "Severity", "ShownAlert"]

_ALERT_NAMESPACE = uuid.UUID("8a1f5d64-7c36-4c2e-9a5e-0e6d3b5c1e01")


def alert_id_for(order_id: str, alert_type: str, subject: str, started_at: Millis, n: int) -> str:
    """Deterministic and independent of processing order: same stream, same ids."""
    return str(uuid.uuid5(_ALERT_NAMESPACE, f"{order_id}|{alert_type}|{subject}|{started_at}|{n}"))


def closed(alert: Mapping[str, Any]) -> bool:
    """A shown alert's condition is over: ended, or resolved by an operator."""
    return alert.get("ended_at") is not None or alert["state"] in ("ended", "resolved")


#: the details that hold a time (ms in the engine, ISO 8601 in JSON)
TIME_DETAILS = ("confirming_ts", "last_fix_ts", "last_heard_ts", "late_confirming_ts")


@dataclass(slots=True)
class Alert:
    """The engine's working copy of an alert: it changes as its condition
    goes on; what leaves the engine is a frozen ``AlertChange`` of it."""

    alert_id: str
    type: AlertType
    severity: Severity
    order_id: str
    case_id: str | None
    zone_id: str | None
    device_id: str
    started_at: Millis
    detected_at: Millis
    ended_at: Millis | None = None
    state: AlertState = "open"
    late: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def raised(
        cls,
        order: Order,
        alert_type: AlertType,
        subject: str,
        episode: int,
        device_id: str,
        started_at: Millis,
        detected_at: Millis,
        zone_id: str | None = None,
        late: bool = False,
        details: dict[str, Any] | None = None,
    ) -> Alert:
        """The one way an alert comes to be: its id from what it is about
        (``subject``: a zone, a victim, a device) and the how-manyth
        ``episode`` of it, its severity from the order's risk."""
        return cls(
            alert_id_for(order.order_id, alert_type, subject, started_at, episode),
            alert_type,
            kind(alert_type).severity_at(order.risk),
            order.order_id,
            order.case_id,
            zone_id,
            device_id,
            started_at,
            detected_at,
            late=late,
            details=details or {},
        )

    def snapshot(self) -> AlertChange:
        return AlertChange(
            self.alert_id,
            self.type,
            self.severity,
            self.order_id,
            self.case_id,
            self.zone_id,
            self.device_id,
            self.started_at,
            self.detected_at,
            self.ended_at,
            self.state,
            self.late,
            dict(self.details),
        )


@dataclass(frozen=True, slots=True)
class AlertChange:
    """An alert as the engine left it at one change (raised, updated, ended):
    what the engine returns. Times are ms since the epoch."""

    alert_id: str
    type: AlertType
    severity: Severity
    order_id: str
    case_id: str | None
    zone_id: str | None
    device_id: str
    started_at: Millis
    detected_at: Millis
    ended_at: Millis | None
    state: AlertState
    late: bool
    details: Mapping[str, Any]

    @property
    def raised(self) -> bool:
        """The change that opens the alert (not an update or its end)."""
        return self.state == "open" and self.ended_at is None

    @property
    def span(self) -> AlertSpan:
        return AlertSpan(self.started_at, self.detected_at, self.ended_at)

    def to_json(self) -> dict[str, Any]:
        """The contract's alert object."""
        details = dict(self.details)
        for name in TIME_DETAILS:
            if name in details:
                details[name] = format_ts(details[name])
        return {
            "alert_id": self.alert_id,
            "type": str(self.type),
            "severity": self.severity,
            "state": self.state,
            "order_id": self.order_id,
            "case_id": self.case_id,
            "zone_id": self.zone_id,
            "device_id": self.device_id,
            "started_at": format_ts(self.started_at),
            "detected_at": format_ts(self.detected_at),
            "ended_at": None if self.ended_at is None else format_ts(self.ended_at),
            "late": self.late,
            "details": details,
        }


@dataclass(frozen=True, slots=True)
class AlertSpan:
    """When an alert's condition began, was detected and ended (ms): what
    evidence, holds and figures are cut by."""

    started_at: Millis
    detected_at: Millis
    ended_at: Millis | None

    def end_or(self, now: Millis) -> Millis:
        """The end, or ``now`` for a condition still under way."""
        return now if self.ended_at is None else self.ended_at

    def overlaps(self, start: Millis, end: Millis, now: Millis) -> bool:
        return self.started_at <= end and self.end_or(now) >= start

    @classmethod
    def from_json(cls, alert: Mapping[str, Any]) -> AlertSpan:
        """Read back at an edge only: an alert stored or sent as JSON."""
        ended = alert.get("ended_at")
        return cls(
            parse_ts(alert["started_at"]),
            parse_ts(alert["detected_at"]),
            None if ended is None else parse_ts(ended),
        )

    def to_list(self) -> list[Millis | None]:
        return [self.started_at, self.detected_at, self.ended_at]


@dataclass(frozen=True, slots=True)
class ShownAlert:
    """An alert as shown (the contract's JSON, operator state included) with
    its times typed: what reports and figures read."""

    body: Mapping[str, Any]
    span: AlertSpan

    @property
    def alert_id(self) -> str:
        return str(self.body["alert_id"])

    @property
    def order_id(self) -> str:
        return str(self.body["order_id"])

    @property
    def type(self) -> str:
        return str(self.body["type"])
