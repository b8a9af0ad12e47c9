"""Who is told what, and when: agencies by kind and risk, and how long a
victim's device waits while the offender is told to turn back first.

Defaults come from the kinds (emon/alerts/kinds.py); the config file's
``routing`` and ``first_told`` sections may replace any row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from emon.alerts.kinds import ALL, KINDS, RISKS, Channels, risk_index
from emon.alerts.types import AlertType
from emon.orders import Order

Routing = dict[str, tuple[Channels, Channels, Channels]]

#: the agencies each kind goes to at risk low, medium, high
ROUTING: Routing = {str(k.type): k.channels for k in KINDS.values()}
#: the row of a kind the table does not name
_UNNAMED = KINDS[AlertType.SIGNAL_LOST].channels

#: At a pre-alert the offender's device is told to turn back at once; the
#: victim's only if he has not turned back within this many seconds, or at once
#: where the risk is high (the Dutch practice, and France's bracelet
#: anti-rapprochement: victims give the device up over needless alarms). At
#: a violation or a panic she is told at once. Risk low, medium, high.
VICTIM_DELAY_S: dict[str, tuple[float, float, float]] = {
    AlertType.ZONE_PREALERT: (60.0, 60.0, 0.0),
    AlertType.CONTACT_PREALERT: (60.0, 60.0, 0.0),
}
#: the longest a configured victim delay may be (beyond it a warning is moot)
MAX_VICTIM_DELAY_S = 600.0


def routing_from_config(overrides: dict[str, dict[str, list[str]]]) -> Routing:
    """The default table with rows replaced from configuration, e.g.
    ``{"zone_violation": {"low": ["monitoring"], "medium": [...], "high": [...]}}``."""
    table = dict(ROUTING)
    for alert_type, by_risk in overrides.items():
        default = table.get(alert_type, _UNNAMED)
        row = [tuple(by_risk.get(risk, default[i])) for i, risk in enumerate(RISKS)]
        for channels in row:
            unknown = set(channels) - set(ALL)
            if unknown:
                raise ValueError(f"routing for {alert_type}: unknown channels {sorted(unknown)}")
        table[alert_type] = (row[0], row[1], row[2])
    return table


def channels_for(routing: Routing, alert_type: str, risk: str | None) -> Channels:
    return routing.get(alert_type, _UNNAMED)[risk_index(risk)]


@dataclass(frozen=True)
class FirstTold:
    """How long (s) a victim's device waits, by kind and risk, while the
    offender is told first."""

    victim_delay_s: dict[str, tuple[float, float, float]] = field(
        default_factory=lambda: dict(VICTIM_DELAY_S)
    )

    def victim_delay_ms(self, alert_type: str, risk: str | None) -> int:
        row = self.victim_delay_s.get(alert_type)
        if row is None:
            return 0
        return int(row[risk_index(risk)] * 1000)

    @classmethod
    def from_config(cls, overrides: dict[str, dict[str, float]]) -> FirstTold:
        """``{"zone_prealert": {"low": 120, "medium": 60, "high": 0}}``; a kind
        not named keeps its default."""
        table = dict(VICTIM_DELAY_S)
        for alert_type, by_risk in overrides.items():
            if alert_type not in {str(t) for t in AlertType}:
                raise ValueError(f"first_told: unknown alert type {alert_type!r}")
            unknown = set(by_risk) - set(RISKS)
            if unknown:
                raise ValueError(f"first_told for {alert_type}: unknown risks {sorted(unknown)}")
            default = table.get(alert_type, (0.0, 0.0, 0.0))
            row = [float(by_risk.get(risk, default[i])) for i, risk in enumerate(RISKS)]
            if any(not 0 <= s <= MAX_VICTIM_DELAY_S for s in row):
                raise ValueError(
                    f"first_told for {alert_type}: seconds from 0 to {MAX_VICTIM_DELAY_S:.0f}"
                )
            table[alert_type] = (row[0], row[1], row[2])
        return cls(table)


def who_is_told(
    alert: Mapping[str, Any], order: Order | None, agencies: Channels, victim_after_s: float
) -> dict[str, Any]:
    """Who hears of an alert, and when (the decision trail's part): the
    agencies; the offender told to turn back at once, or not told; the victim
    at once, after ``victim_after_s`` if it is still open and she was not
    warned already (the offender is told first at this kind and risk), or not
    told (nothing for her to fear)."""
    record = KINDS[AlertType(alert["type"])]
    warned = record.victim_level is not None
    told: dict[str, Any] = {
        "agencies": list(agencies),
        "offender": "at_once" if record.turns_offender_back else "not_told",
        "victim": ("after" if victim_after_s else "at_once") if warned else "not_told",
    }
    if warned and victim_after_s:
        told["victim_after_s"] = victim_after_s
        told["risk"] = order.risk if order else None
    return told
