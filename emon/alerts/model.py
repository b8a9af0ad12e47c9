"""The alert object of the contract and how severe each kind is."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from emon.timeutil import Millis, format_ts


class AlertType(StrEnum):
    """The alert types emon raises (the contract's ``type``). A member is its
    string, so it compares, hashes and serialises as the contract writes it."""

    ZONE_VIOLATION = "zone_violation"
    ZONE_PREALERT = "zone_prealert"
    CONTACT_VIOLATION = "contact_violation"
    CONTACT_PREALERT = "contact_prealert"
    PANIC = "panic"
    TAMPER = "tamper"
    SIGNAL_LOST = "signal_lost"
    BATTERY_LOW = "battery_low"
    SHIELDING = "shielding"


AlertState = Literal["open", "acknowledged", "ended", "resolved"]
Severity = Literal["critical", "high", "medium", "low"]

#: Severity by alert type and SASH risk (low, medium, high). A panic is always
#: critical; a technical alert never outranks a real approach of the same risk,
#: so that operators are not trained to ignore critical by device faults.
SEVERITY: dict[AlertType, tuple[Severity, Severity, Severity]] = {
    AlertType.PANIC: ("critical", "critical", "critical"),
    AlertType.CONTACT_VIOLATION: ("high", "critical", "critical"),
    AlertType.ZONE_VIOLATION: ("medium", "high", "critical"),
    AlertType.TAMPER: ("medium", "high", "critical"),
    AlertType.CONTACT_PREALERT: ("low", "medium", "high"),
    AlertType.ZONE_PREALERT: ("low", "low", "medium"),
    AlertType.SIGNAL_LOST: ("low", "medium", "high"),
    AlertType.SHIELDING: ("low", "medium", "high"),
    AlertType.BATTERY_LOW: ("low", "low", "medium"),
}
_RISK_INDEX = {"low": 0, "medium": 1, "high": 2}

_ALERT_NAMESPACE = uuid.UUID("8a1f5d64-7c36-4c2e-9a5e-0e6d3b5c1e01")


def severity_for(alert_type: str, risk: str) -> Severity:
    return SEVERITY[AlertType(alert_type)][_RISK_INDEX[risk]]


def alert_id_for(order_id: str, alert_type: str, subject: str, started_at: Millis, n: int) -> str:
    """Deterministic and independent of processing order: same stream, same ids."""
    return str(uuid.uuid5(_ALERT_NAMESPACE, f"{order_id}|{alert_type}|{subject}|{started_at}|{n}"))


@dataclass(slots=True)
class Alert:
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

    def to_json(self) -> dict[str, Any]:
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
            "details": dict(self.details),
        }
