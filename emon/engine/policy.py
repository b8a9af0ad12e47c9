"""The GPS-error policy: when a position counts as evidence, and how much.

A real violation must never be missed and a lone outlier must never raise an
alert. Ankle-monitor fixes carry a 68 % accuracy radius; cities add multipath
outliers of 100-300 m. The policy combines four defences:

1. Accuracy: a fix is breach evidence only when it is deeper than its own
   accuracy (capped, so a poor fix still counts when it is very deep), and
   clear evidence only when it is outside by its accuracy plus a hysteresis.
   Fixes worse than ``unusable_accuracy_m`` are no evidence either way.
2. Plausibility: a fix that implies a speed above ``max_speed_mps`` from the
   last plausible fix (and a jump beyond its tolerance) is set aside as a
   suspect; if the next fix agrees with the suspect, the track moves there.
3. Dwell: an episode opens only after ``confirm_fixes`` consecutive breach
   fixes spanning ``confirm_span_s``: a lone outlier is dismissed by the next
   fix, and a true violation is raised at most one reporting interval plus
   ``confirm_span_s`` after the first fix that shows it.
4. Hysteresis: an open episode ends only after ``clear_fixes`` consecutive
   clear fixes spanning ``clear_span_s``; positions between the breach and
   clear thresholds change nothing, so a boundary walker does not flap.

Between fixes, the segment is evaluated too: a drive straight through a zone
between two plausible fixes (``transit_min_depth_m`` deep or more) raises a
violation that starts and ends at the estimated crossing times.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Policy:
    confirm_fixes: int = 2
    confirm_span_s: float = 10.0
    clear_fixes: int = 2
    clear_span_s: float = 10.0
    #: Accuracy assumed for a fix that carries none.
    default_accuracy_m: float = 15.0
    #: At most this much of a fix's accuracy is required as depth.
    accuracy_cap_m: float = 50.0
    unusable_accuracy_m: float = 250.0
    exit_hysteresis_m: float = 25.0
    max_speed_mps: float = 70.0
    jump_tolerance_m: float = 100.0
    transit_min_depth_m: float = 50.0
    #: Longer gaps between fixes say nothing about the path taken.
    segment_max_gap_s: float = 300.0
    #: The other party's position is used up to this age for a contact ban.
    contact_stale_s: float = 600.0
    #: ...moved on along its last velocity for at most this long.
    contact_extrapolate_s: float = 30.0
    #: A fix this much older than its reception makes its alerts ``late``.
    late_after_s: float = 120.0
    #: A late fix is judged against the other party's stored track up to this
    #: far back (the contract: buffered fixes may be "minutes or hours old";
    #: an ankle monitor's buffer holds about a day). Older ones, against memory only.
    late_track_horizon_s: float = 86400.0
    future_skew_s: float = 120.0
    battery_low_pct: float = 15.0
    battery_ok_pct: float = 25.0
    #: Repeated panic or tamper events within this time belong to one alert.
    event_merge_s: float = 300.0
    #: A battery predicted empty within this long raises ``battery_critical``
    #: (SCRAM: "depleted within 1-2 h"; the next charge cannot be counted on sooner).
    battery_critical_horizon_s: float = 7200.0
    #: "Near", for a fix too inaccurate to judge (``unusable_accuracy_m``): its
    #: accuracy circle widened by this reaches into a zone or a contact ban's
    #: distance, so the truth could be a violation. A run of such fixes lasting
    #: the order's ``max_uncertain_s`` raises ``location_unreliable``.
    uncertain_near_m: float = 100.0
    #: A home unit's "present" counts for this long around its report: a unit
    #: reports every 30-60 s, and one that died must not keep him at home.
    beacon_presence_s: float = 120.0

    def margin(self, acc: float) -> float:
        return min(acc, self.accuracy_cap_m)


def policy_from(changes: Mapping[str, Any]) -> Policy:
    """The default policy with some thresholds changed (the config file's
    ``policy`` section, a what-if's ``set``): known names, finite numbers."""
    fields = {f.name: f.type for f in dataclasses.fields(Policy)}
    unknown = set(changes) - set(fields)
    if unknown:
        raise ValueError(f"unknown thresholds {sorted(unknown)}; known: {sorted(fields)}")
    for key, value in changes.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e9:
            raise ValueError(f"{key}: expected a finite number of 0 or more")
    values: dict[str, Any] = {
        k: int(v) if fields[k] in ("int", int) else float(v) for k, v in changes.items()
    }
    return dataclasses.replace(Policy(), **values)
