"""The names of the alert vocabulary: kinds, states, severities (the contract's)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


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
    UNPAIRED = "unpaired"
    APP_DEGRADED = "app_degraded"
    LOCATION_UNRELIABLE = "location_unreliable"
    BATTERY_CRITICAL = "battery_critical"


AlertState = Literal["open", "acknowledged", "ended", "resolved"]
Severity = Literal["critical", "high", "medium", "low"]
