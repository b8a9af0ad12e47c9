"""Guideline figures for validating orders: one place, documented defaults.

A region or a new guideline changes these settings, not code. The defaults
follow the Dutch practice for a correctly working ankle monitor: an alarm must
come while the offender is still 1,000 m (straight line) from the person
protected, so that police can act; the offender's own home must lie as far
from a zone's edge, or the zone alarms whenever he is at home.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Guidelines:
    #: victim's address to the edge of the exclusion zone around it
    protected_margin_m: float = 1_000.0
    #: offender's residence to the edge of any exclusion zone
    residence_clearance_m: float = 1_000.0
    #: a contact ban (moving zone) shorter than this alarms too late
    contact_ban_min_m: float = 1_000.0
    #: narrower than this, GPS error alone (accuracy plus multipath) decides
    #: whether the offender is in or out: unenforceable
    zone_min_width_m: float = 100.0
    #: narrower than this gives avoidable false alarms
    zone_comfort_width_m: float = 300.0
    #: an inclusion (curfew) zone must hold a home's indoor GPS jitter
    inclusion_min_width_m: float = 100.0
    #: how far around the residence the "cut off" check looks, and what share
    #: of directions may be blocked before it warns
    cut_off_radius_m: float = 10_000.0
    cut_off_share: float = 0.5
    #: a zone this far from every address of the order is probably a typo
    #: (swapped longitude and latitude)
    far_from_order_m: float = 200_000.0


DEFAULT = Guidelines()
