"""Closest approach and what-if as the API and the CLI report them (JSON-ready)."""

from __future__ import annotations

from typing import Any

from emon.review.closest import Track, closest_approach
from emon.review.evidence import order_in_force
from emon.review.whatif import compare
from emon.timeutil import Millis, format_ts


def closest_report(
    store: Any, order_id: str, start: Millis, end: Millis, max_gap_s: float = 300.0
) -> dict[str, Any]:
    _, order = order_in_force(store, order_id, start)
    offender = (order.get("offender") or {}).get("device_id")
    if not offender:
        raise ValueError(f"order {order_id} has no offender device")
    ours = _track(store, offender, start, end)
    result: dict[str, Any] = {
        "order_id": order_id,
        "period": period_json(start, end),
        "victims": [],
    }
    for victim in order.get("victims", []):
        device = victim.get("device_id")
        if not device:
            continue
        found = closest_approach(ours, _track(store, device, start, end), max_gap_s)
        result["victims"].append({
            "person_id": victim.get("person_id"),
            "device_id": device,
            "closest_m": None if found is None else round(found.distance_m, 1),
            "at": None if found is None else format_ts(found.at),
            "between_fixes": None if found is None else found.between_fixes,
        })  # fmt: skip
    return result


def _track(store: Any, device: str, start: Millis, end: Millis) -> Any:
    rows = store.fixes_between([device], start, end)
    return Track.from_fixes([r[2] for r in rows], [r[4] for r in rows], [r[5] for r in rows])


def what_if_report(
    store: Any,
    start: Millis,
    end: Millis,
    changes: dict[str, Any],
    patch: dict[str, Any],
    order_id: str | None = None,
) -> dict[str, Any]:
    ids = [order_id] if order_id else store.order_ids()
    orders = [order_in_force(store, i, start)[1] for i in ids]
    messages = store.messages_between(start, end)
    result = compare(orders, messages, start, end, changes, patch)
    result["period"] = period_json(start, end)
    return result


def period_json(start: Millis, end: Millis) -> dict[str, str]:
    return {"from": format_ts(start), "to": format_ts(end)}
