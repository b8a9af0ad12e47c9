"""The alert object of the contract and how severe each kind is."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from emon.timeutil import Millis, format_ts

AlertType = Literal[
    "zone_violation",
    "zone_prealert",
    "contact_violation",
    "contact_prealert",
    "panic",
    "tamper",
    "signal_lost",
    "battery_low",
    "shielding",
]
AlertState = Literal["open", "acknowledged", "ended", "resolved"]
Severity = Literal["critical", "high", "medium", "low"]

#: Severity by alert type and SASH risk (low, medium, high). A panic is always
#: critical; a technical alert never outranks a real approach of the same risk,
#: so that operators are not trained to ignore critical by device faults.
SEVERITY: dict[str, tuple[Severity, Severity, Severity]] = {
    "panic": ("critical", "critical", "critical"),
    "contact_violation": ("high", "critical", "critical"),
    "zone_violation": ("medium", "high", "critical"),
    "tamper": ("medium", "high", "critical"),
    "contact_prealert": ("low", "medium", "high"),
    "zone_prealert": ("low", "low", "medium"),
    "signal_lost": ("low", "medium", "high"),
    "shielding": ("low", "medium", "high"),
    "battery_low": ("low", "low", "medium"),
}
_RISK_INDEX = {"low": 0, "medium": 1, "high": 2}

_ALERT_NAMESPACE = uuid.UUID("8a1f5d64-7c36-4c2e-9a5e-0e6d3b5c1e01")


def severity_for(alert_type: str, risk: str) -> Severity:
    return SEVERITY[alert_type][_RISK_INDEX[risk]]


def alert_id_for(order_id: str, alert_type: str, subject: str, started_at: Millis, n: int) -> str:
    """Deterministic and independent of processing order: same stream, same ids."""
    return str(uuid.uuid5(_ALERT_NAMESPACE, f"{order_id}|{alert_type}|{subject}|{started_at}|{n}"))


@dataclass(slots=True)
class Alert:
    alert_id: str
    type: str
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
            "type": self.type,
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
