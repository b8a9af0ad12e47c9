"""Compliance figures for one order over a period, for the supervisor's advice.

Built from the order's alerts (each a condition episode with start and end in
event time, and the operator's classification): how often and how long the
offender was in violation, how long the device was silent or nearly empty,
how often the strap was tampered with, week by week, and whether that is
getting better or worse.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from emon.alerts.kinds import of_category
from emon.alerts.model import AlertType, ShownAlert
from emon.timeutil import Millis, format_ts

VIOLATIONS = of_category("violation")
PREALERTS = of_category("prealert")
DEVICE_EVENTS = of_category("device")
WEEK_MS = 7 * 86_400_000


def compliance(
    order_id: str, alerts: Sequence[ShownAlert], start: Millis, end: Millis, now: Millis
) -> dict[str, Any]:
    mine = [a for a in alerts if a.order_id == order_id and a.span.overlaps(start, end, now)]
    mine.sort(key=lambda a: a.span.started_at)
    violations = [a for a in mine if a.type in VIOLATIONS]
    events = [a for a in mine if a.type in DEVICE_EVENTS]
    classified = Counter(a.body.get("classification") or "unclassified" for a in violations)
    weeks = max((end - start) / WEEK_MS, 1 / 7)
    figures = {
        "violations": len(violations),
        "true_violations": classified["true_violation"],
        "technical": classified["technical"],
        "permitted_exceptions": classified["permitted_exception"],
        "unclassified": classified["unclassified"],
        "hours_in_violation": _hours(violations, start, end, now),
        "prealerts": sum(1 for a in mine if a.type in PREALERTS),
        "signal_losses": _count(events, AlertType.SIGNAL_LOST),
        "hours_without_signal": _hours(_of(events, AlertType.SIGNAL_LOST), start, end, now),
        "hours_battery_low": _hours(_of(events, AlertType.BATTERY_LOW), start, end, now),
        "tamper_events": _count(events, AlertType.TAMPER),
        "shielding_events": _count(events, AlertType.SHIELDING),
        "panic_alarms": _count(events, AlertType.PANIC),
        "violations_per_week": round(len(violations) / weeks, 2),
    }
    by_week = _weeks(mine)
    return {
        "order_id": order_id,
        "period": {"from": format_ts(start), "to": format_ts(end)},
        "figures": figures,
        "weeks": by_week,
        "trend": _trend(by_week),
        "violations": [_row(a, start, end, now) for a in violations],
        "device_events": [_row(a, start, end, now) for a in events],
    }


def _hours(alerts: Sequence[ShownAlert], start: Millis, end: Millis, now: Millis) -> float:
    total = sum(
        max(0, min(a.span.end_or(now), end) - max(a.span.started_at, start)) for a in alerts
    )
    return round(total / 3_600_000, 2)


def _of(alerts: Sequence[ShownAlert], kind: str) -> list[ShownAlert]:
    return [a for a in alerts if a.type == kind]


def _count(alerts: Sequence[ShownAlert], kind: str) -> int:
    return len(_of(alerts, kind))


def _row(shown: ShownAlert, start: Millis, end: Millis, now: Millis) -> dict[str, Any]:
    alert = shown.body
    return {
        "alert_id": alert["alert_id"],
        "type": alert["type"],
        "severity": alert["severity"],
        "zone_id": alert.get("zone_id"),
        "started_at": alert["started_at"],
        "ended_at": alert.get("ended_at"),
        "hours": _hours([shown], start, end, now),
        "state": alert["state"],
        "classification": alert.get("classification"),
        "late": alert.get("late", False),
    }


def _weeks(alerts: Sequence[ShownAlert]) -> list[dict[str, Any]]:
    """ISO weeks (by the start of each episode) with their counts."""
    table: dict[str, Counter[str]] = {}
    for alert in alerts:
        moment = datetime.fromtimestamp(alert.span.started_at / 1000, UTC)
        year, week, _ = moment.isocalendar()
        kind = (
            "violations"
            if alert.type in VIOLATIONS
            else "prealerts"
            if alert.type in PREALERTS
            else alert.type
        )
        table.setdefault(f"{year}-W{week:02d}", Counter())[kind] += 1
    return [{"week": week, **counts} for week, counts in sorted(table.items())]


def _trend(weeks: list[dict[str, Any]]) -> str:
    """Violations in the later half of the weeks against the earlier half."""
    counts = [w.get("violations", 0) for w in weeks]
    if len(counts) < 2:
        return "too_short"
    half = len(counts) // 2
    early, late = sum(counts[:half]) / half, sum(counts[half:]) / (len(counts) - half)
    if late > early * 1.25 and late - early >= 0.5:
        return "worse"
    if late < early * 0.75 and early - late >= 0.5:
        return "better"
    return "steady"
