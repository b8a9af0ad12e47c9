"""Every alert kind in one record: how severe it is at each SASH risk, who is
told by default, what a victim's and an offender's device are told while it
is open, whether its surroundings are kept as evidence, and how much it
weighs on the device board.

Every table that used to live beside the code using it (severity, routing,
evidence retention, board weights, which kinds warn whom) is read from here,
so that adding a kind or changing one is a change in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from emon.alerts.types import AlertType, Severity

Channels = tuple[str, ...]
ALL: Channels = ("police", "reclassering", "monitoring")
CENTRE: Channels = ("reclassering", "monitoring")
MONITORING: Channels = ("monitoring",)
#: a victim device's warning level (the contract's notification ``level``)
Level = Literal["clear", "prealert", "alert"]
#: the order of risk in every (low, medium, high) row
RISKS = ("low", "medium", "high")
#: what an alert of an order without a known risk is treated as
UNKNOWN_RISK = "high"
#: what a violation, an approach or a device problem is, for figures
Category = Literal["violation", "prealert", "device"]


@dataclass(frozen=True, slots=True)
class Kind:
    type: AlertType
    category: Category
    #: severity at risk low, medium, high
    severity: tuple[Severity, Severity, Severity]
    #: agencies told at risk low, medium, high (configuration may replace a row)
    channels: tuple[Channels, Channels, Channels]
    #: the level a protected victim's device shows while it is open (None: not hers)
    victim_level: Level | None
    #: whether the offender's device is told to turn back while it is open
    turns_offender_back: bool
    #: whether the data around it is kept past retention, as evidence
    evidence: bool
    #: its weight on the device board (None: not a device problem)
    board_weight: int | None

    def severity_at(self, risk: str) -> Severity:
        return self.severity[RISKS.index(risk)]


def risk_index(risk: str | None) -> int:
    """The place of a risk in a (low, medium, high) row; an unknown one counts as high."""
    return RISKS.index(risk if risk in RISKS else UNKNOWN_RISK)


_KINDS = (
    # a panic is always critical; a technical alert never outranks a real
    # approach of the same risk, so operators are not trained to ignore
    # critical by device faults
    Kind(AlertType.PANIC, "device", ("critical",) * 3, (ALL, ALL, ALL), "alert", False, True, None),
    Kind(AlertType.CONTACT_VIOLATION, "violation", ("high", "critical", "critical"),
         (CENTRE, ALL, ALL), "alert", False, True, None),
    Kind(AlertType.ZONE_VIOLATION, "violation", ("medium", "high", "critical"),
         (CENTRE, ALL, ALL), "alert", False, True, None),
    Kind(AlertType.TAMPER, "device", ("medium", "high", "critical"),
         (CENTRE, CENTRE, ALL), None, False, True, 1000),
    Kind(AlertType.CONTACT_PREALERT, "prealert", ("low", "medium", "high"),
         (MONITORING, MONITORING, CENTRE), "prealert", True, False, None),
    Kind(AlertType.ZONE_PREALERT, "prealert", ("low", "low", "medium"),
         (MONITORING, MONITORING, MONITORING), "prealert", True, False, None),
    Kind(AlertType.SIGNAL_LOST, "device", ("low", "medium", "high"),
         (CENTRE, CENTRE, CENTRE), None, False, False, 600),
    Kind(AlertType.SHIELDING, "device", ("low", "medium", "high"),
         (CENTRE, CENTRE, CENTRE), None, False, True, 800),
    Kind(AlertType.BATTERY_LOW, "device", ("low", "low", "medium"),
         (MONITORING, MONITORING, MONITORING), None, False, False, 300),
    # a two-piece kit whose bracelet lost its phone reports nothing true any more
    Kind(AlertType.UNPAIRED, "device", ("medium", "high", "critical"),
         (CENTRE, CENTRE, ALL), None, False, True, 900),
    # reporting, but too inaccurate to tell a violation from none: as blind as silence
    Kind(AlertType.LOCATION_UNRELIABLE, "device", ("low", "medium", "high"),
         (CENTRE, CENTRE, CENTRE), None, False, False, 550),
    # empty before the next charge: soon as blind as a silent device
    Kind(AlertType.BATTERY_CRITICAL, "device", ("low", "medium", "high"),
         (MONITORING, CENTRE, CENTRE), None, False, False, 450),
    # a victim's app that can no longer locate her or warn her
    Kind(AlertType.APP_DEGRADED, "device", ("low", "medium", "high"),
         (CENTRE, CENTRE, CENTRE), None, False, False, 500),
)  # fmt: skip
KINDS: dict[AlertType, Kind] = {k.type: k for k in _KINDS}
assert set(KINDS) == set(AlertType), "every alert type has its record"


def kind(alert_type: str) -> Kind:
    return KINDS[AlertType(alert_type)]


def of_category(category: Category) -> tuple[AlertType, ...]:
    return tuple(k.type for k in _KINDS if k.category == category)
