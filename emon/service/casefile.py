"""What an operator sees of one alert: zones, tracks, timeline, timers.

Locations are kept apart by role before anything leaves the server: the
offender's track only for roles that may see it, the victim's position for
fewer still, and every such read is recorded in the audit log by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from emon.alerts.delivery import Pending
from emon.alerts.model import ShownAlert
from emon.engine import Policy
from emon.orders import Order
from emon.review.decision import decision_trail
from emon.storage import Row, Store
from emon.timeutil import Millis, format_ts

#: the track shown around an alert
BEFORE_MS = 15 * 60_000
AFTER_MS = 5 * 60_000
MAX_POINTS = 2000


@dataclass(frozen=True)
class Sight:
    """Which locations the reader may see."""

    offender: bool
    victim: bool


def alert_case(
    shown: ShownAlert,
    order: Order | None,
    store: Store,
    notifications: list[Pending],
    policy: Policy,
    sight: Sight,
    now: Millis,
) -> dict[str, Any]:
    alert = dict(shown.body)
    start = shown.span.started_at - BEFORE_MS
    end = shown.span.end_or(now) + AFTER_MS
    case: dict[str, Any] = {
        "alert": alert,
        "order": _order_view(order, sight) if order else None,
        "decision": decision_trail(alert, policy),
        "timeline": _timeline(alert, notifications),
        "notifications": [_notification(p) for p in notifications],
        "window": {"from": format_ts(start), "to": format_ts(end)},
    }
    if order is None:
        return case
    if sight.offender and order.offender.device_id:
        case["offender_track"] = _track(store, order.offender.device_id, start, end)
    if sight.victim:
        victims = [v.device_id for v in order.victims if v.device_id]
        case["victim_tracks"] = {d: _track(store, d, start, end) for d in victims}
        if not any(case["victim_tracks"].values()):
            case["victim_position"] = "none_sent"  # her device sent none around the alert
    else:
        case["victim_position"] = "hidden"  # this role does not see where she is
    return case


def _order_view(order: Order, sight: Sight) -> dict[str, Any]:
    view: dict[str, Any] = {
        "order_id": order.order_id,
        "case_id": order.case_id,
        "risk": order.risk,
        "zones": [
            {
                "zone_id": z.zone_id,
                "type": z.type,
                "geometry": z.geometry,
                "radius_m": z.radius_m,
                "prealert_m": z.prealert_m,
                "scheduled": z.schedule is not None,
            }
            for z in order.zones
        ],
        "contact_ban": msgspec.to_builtins(order.contact_ban),
        # authorised exceptions: what they cover raises nothing (a corridor's
        # strip is shown with it; it lies in the zone, not at anyone's home)
        "exceptions": [msgspec.to_builtins(x) for x in order.exceptions],
    }
    if sight.offender and order.offender.residence:
        view["residence"] = order.offender.residence
    if sight.victim:
        view["victim_addresses"] = [v.address for v in order.victims if v.address]
    return view


def _track(store: Store, device_id: str, start: Millis, end: Millis) -> list[dict[str, Any]]:
    rows = store.fixes_between([device_id], start, end)
    step = max(1, len(rows) // MAX_POINTS)
    return [_fix(row) for row in rows[::step]]


def _fix(row: Row) -> dict[str, Any]:
    _, seq, ts, recv, lat, lon, acc, _ = row
    return {"seq": seq, "ts": format_ts(int(ts)), "lat": lat, "lon": lon, "acc": acc,
            "late_s": round((int(recv) - int(ts)) / 1000, 1)}  # fmt: skip


def _timeline(alert: dict[str, Any], notifications: list[Pending]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        {"at": alert["started_at"], "kind": "condition_started"},
        {"at": alert["detected_at"], "kind": "raised"},
    ]
    if alert.get("ended_at"):
        events.append({"at": alert["ended_at"], "kind": "condition_ended"})
    for action in alert.get("actions", []):
        events.append({"at": action["at"], "kind": f"action_{action['action']}", **action})
    for p in notifications:
        who = "victim" if p.victim else "offender"
        events.append({"at": format_ts(p.sent_at), "kind": f"notified_{who}", "level": p.level,
                       "device_id": p.device_id, "attempts": p.attempts})  # fmt: skip
        if p.acked_at is not None:
            events.append({"at": format_ts(p.acked_at), "kind": f"acknowledged_by_{who}",
                           "device_id": p.device_id})  # fmt: skip
    if alert.get("escalation"):
        events.append({"kind": "escalated", **alert["escalation"]})
    for escalation in alert.get("escalations", []):  # nobody took it on in time
        events.append({"kind": f"escalated_{escalation['reason']}", **escalation})
    return sorted(events, key=lambda e: e["at"])


def _notification(p: Pending) -> dict[str, Any]:
    return {
        "notification_id": p.notification_id,
        "device_id": p.device_id,
        "victim": p.victim,
        "level": p.level,
        "sent_at": format_ts(p.sent_at),
        "attempts": p.attempts,
        "acked_at": format_ts(p.acked_at) if p.acked_at is not None else None,
        "escalated": p.escalated,
        "confirmable": p.confirmable,
    }
