"""How loud the system is: the figures by which a centre knows whether it can
still see the real alarms (issue 21).

Spain's Cometa staff were told to close battery alerts without following
protocol; French judges receive 30-40 reports a day for ten bracelets. So,
per day or per week: alerts per device-day by kind and by risk, the share the
operators classified as technical against true violations, how long they
took to acknowledge and the police to confirm dispatch (p50, p90), and how
many alerts were closed in bulk, without a note, or never handled at all.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from emon.alerts.model import ShownAlert
from emon.timeutil import Millis, format_ts, parse_ts

DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
#: resolutions by one operator this close together are a bulk close...
BULK_WINDOW_MS = 60_000
#: ...when at least this many fall in one window (nobody reads five cases in a minute)
BULK_MIN = 5
#: what a resolution was classified as (the operator's call), or not
SHARES = ("true_violation", "technical", "permitted_exception", "unclassified")


@dataclass(frozen=True)
class Watched:
    """One order's share of the fleet: its devices, over its validity, at its risk."""

    order_id: str
    risk: str
    devices: int
    valid_from: Millis
    valid_until: Millis


class _Fleet:
    """The orders' shares as arrays, so a period's device-days are one numpy
    pass (a scrape of /metrics beside 100,000 orders must not hold the engine)."""

    def __init__(self, watched: Sequence[Watched]) -> None:
        self.risk_of = {w.order_id: w.risk for w in watched}
        self.risks = sorted({w.risk for w in watched})
        code = {r: k for k, r in enumerate(self.risks)}
        self.code = np.array([code[w.risk] for w in watched], dtype=np.int64)
        self.devices = np.array([w.devices for w in watched], dtype=np.float64)
        self.valid_from = np.array([w.valid_from for w in watched], dtype=np.int64)
        self.valid_until = np.array([w.valid_until for w in watched], dtype=np.int64)

    def device_days(self, start: Millis, end: Millis) -> tuple[float, dict[str, float]]:
        """Device-days in the period, in all and by risk."""
        overlap = np.minimum(self.valid_until, end) - np.maximum(self.valid_from, start)
        days = np.maximum(overlap, 0) * self.devices / DAY_MS
        by_risk = np.bincount(self.code, weights=days, minlength=len(self.risks))
        return float(days.sum()), dict(zip(self.risks, by_risk.tolist(), strict=True))


def alert_load(
    alerts: Sequence[ShownAlert], watched: Sequence[Watched], start: Millis, end: Millis,
    bucket_ms: Millis = DAY_MS,
) -> dict[str, Any]:  # fmt: skip
    """The figures for the period and for each day (or week) in it."""
    fleet = _Fleet(watched)
    mine = sorted((a for a in alerts if start <= a.span.started_at < end),
                  key=lambda a: a.span.started_at)  # fmt: skip
    starts = [a.span.started_at for a in mine]
    buckets = []
    for lo in range(start, end, bucket_ms):
        hi = min(end, lo + bucket_ms)
        inside = mine[bisect_left(starts, lo) : bisect_left(starts, hi)]
        buckets.append(_figures(inside, fleet, lo, hi))
    return {"period": _figures(mine, fleet, start, end), "buckets": buckets}


def _figures(
    alerts: Sequence[ShownAlert], fleet: _Fleet, start: Millis, end: Millis
) -> dict[str, Any]:
    device_days, by_risk_days = fleet.device_days(start, end)
    kinds = Counter(a.type for a in alerts)
    risks = Counter(fleet.risk_of.get(a.order_id, "unknown") for a in alerts)
    resolved = [a.body for a in alerts if a.body.get("state") == "resolved"]
    classes = Counter(b.get("classification") or "unclassified" for b in resolved)
    return {
        "from": format_ts(start),
        "to": format_ts(end),
        "alerts": len(alerts),
        "device_days": round(device_days, 1),
        "per_device_day": _per(len(alerts), device_days),
        "per_device_day_by_kind": {k: _per(n, device_days) for k, n in sorted(kinds.items())},
        "per_device_day_by_risk": {
            r: _per(n, by_risk_days.get(r, 0.0)) for r, n in sorted(risks.items())
        },
        "resolved": len(resolved),
        "classified_share": {c: _share(classes[c], len(resolved)) for c in SHARES},
        "ack_s": _quantiles([_first_after(a, "ack") for a in alerts]),
        "dispatch_s": _quantiles([_first_after(a, "confirm") for a in alerts]),
        "closed_in_bulk": _bulk(resolved),
        "closed_without_note": sum(1 for b in resolved if not _resolution(b).strip()),
        "ended_unhandled": sum(1 for a in alerts if _unhandled(a.body)),
    }


def _per(n: int, device_days: float) -> float | None:
    return round(n / device_days, 4) if device_days > 0 else None


def _share(n: int, total: int) -> float | None:
    return round(n / total, 3) if total else None


def _actions(body: Mapping[str, Any], action: str) -> list[dict[str, Any]]:
    return [a for a in body.get("actions") or [] if a.get("action") == action]


def _first_after(alert: ShownAlert, action: str) -> float | None:
    """Seconds from detection to the first such action (None: never taken)."""
    taken = _actions(alert.body, action)
    if not taken:
        return None
    detected = parse_ts(alert.body.get("detected_at") or alert.body["started_at"])
    return max(0.0, (parse_ts(taken[0]["at"]) - detected) / 1000)


def _quantiles(seconds: Sequence[float | None]) -> dict[str, float | int | None]:
    taken = [s for s in seconds if s is not None]
    if not taken:
        return {"p50": None, "p90": None, "n": 0}
    p50, p90 = np.percentile(taken, [50, 90]).tolist()
    return {"p50": round(p50, 1), "p90": round(p90, 1), "n": len(taken)}


def _unhandled(body: Mapping[str, Any]) -> bool:
    """Ended by itself, nobody having acknowledged, assigned or resolved it."""
    return body.get("state") == "ended" and not body.get("actions")


def _resolution(body: Mapping[str, Any]) -> str:
    done = _actions(body, "resolve")
    return str(done[-1].get("note") or "") if done else ""


def _bulk(resolved: Sequence[Mapping[str, Any]]) -> int:
    """Resolutions that one operator made at least ``BULK_MIN`` of within
    ``BULK_WINDOW_MS`` (each counted once)."""
    by_actor: dict[str, list[Millis]] = {}
    for body in resolved:
        for done in _actions(body, "resolve")[-1:]:
            by_actor.setdefault(str(done.get("actor")), []).append(parse_ts(done["at"]))
    bulk = 0
    for times in by_actor.values():
        times.sort()
        marked = [False] * len(times)
        for i in range(len(times)):
            j = int(np.searchsorted(times, times[i] + BULK_WINDOW_MS, side="right"))
            if j - i >= BULK_MIN:
                marked[i:j] = [True] * (j - i)
        bulk += sum(marked)
    return bulk
