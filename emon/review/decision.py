"""Why emon raised an alert, in terms a person can check: the rule, the fix
that confirmed it, its depth and accuracy, and the thresholds in force. Shown
in the console's case file and printed in evidence reports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from emon.engine import Policy


def decision_trail(alert: Mapping[str, Any], policy: Policy) -> dict[str, Any]:
    """Why emon raised it: the rule, the fix that confirmed it, the thresholds."""
    details = alert.get("details") or {}
    decision: dict[str, Any] = {"rule": alert["type"], "zone_id": alert.get("zone_id")}
    if "confirming_seq" in details:
        decision["confirming_fix"] = {
            "seq": details["confirming_seq"],
            "ts": details["confirming_ts"],
        }
    for key in ("depth_m", "accuracy_m", "victim_device_id", "transit"):
        if key in details:
            decision[key] = details[key]
    if "told" in alert:  # who was told, and when (emon/alerts/delivery.py decided it)
        decision["told"] = alert["told"]
    if "accuracy_m" in details:
        decision["required_depth_m"] = policy.margin(float(details["accuracy_m"]))
    decision["policy"] = {
        "confirm_fixes": policy.confirm_fixes,
        "confirm_span_s": policy.confirm_span_s,
        "clear_fixes": policy.clear_fixes,
        "exit_hysteresis_m": policy.exit_hysteresis_m,
        "accuracy_cap_m": policy.accuracy_cap_m,
    }
    return decision
