"""A validation report: what was found about an order, and what would be
enforceable instead (the contract's validation output)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: findings that make an order unusable: the service refuses to register it
UNUSABLE = frozenset({"invalid_geometry", "invalid_validity"})


@dataclass
class Finding:
    code: str
    severity: str  # "error" | "warning"
    message: str
    zone_id: str | None = None
    measured_m: float | None = None
    required_m: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "severity": self.severity,
            "zone_id": self.zone_id,
        }
        if self.measured_m is not None:
            out["measured_m"] = round(self.measured_m, 1)
        if self.required_m is not None:
            out["required_m"] = round(self.required_m, 1)
        out["message"] = self.message
        return out


@dataclass
class Suggestion:
    zone_id: str | None
    message: str
    values: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"zone_id": self.zone_id, **self.values, "message": self.message}


@dataclass
class Report:
    order_id: str
    findings: list[Finding]
    suggestions: list[Suggestion]

    @property
    def enforceable(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    @property
    def usable(self) -> bool:
        """Whether the service may register it (court orders are enforced even
        against the guideline; only unusable ones are refused)."""
        return not any(f.code in UNUSABLE for f in self.findings)

    @classmethod
    def stored(cls, order_id: str, findings: list[dict[str, Any]]) -> Report:
        """The report kept with a registered order (its findings), read back."""
        return cls(order_id, [Finding(**f) for f in findings], [])

    def to_json(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "enforceable": self.enforceable,
            "findings": [f.to_json() for f in self.findings],
            "suggestions": [s.to_json() for s in self.suggestions],
        }
