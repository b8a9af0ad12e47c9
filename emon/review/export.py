"""A person's data, for a request under the AVG/GDPR (right of access).

Everything stored about one person: the orders naming them (every version),
their devices' fixes, the alerts of those orders, the notifications sent to
their devices, and who read data about their cases. A victim's export never
shows where the offender was, nor an offender's where the victim was: for a
person who is a victim, alerts are given without their details.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from emon.alerts.model import ShownAlert
from emon.storage import Store
from emon.timeutil import format_ts

ALL_TIME = 2**62


def person_export(store: Store, alerts: Sequence[ShownAlert], person_id: str) -> dict[str, Any]:
    orders: list[dict[str, Any]] = []
    roles: dict[str, str] = {}
    devices: set[str] = set()
    for order_id in store.order_ids():
        for version, body, registered, revoked in store.order_history(order_id):
            role = _role(body, person_id)
            if role is None:
                continue
            roles[order_id] = role
            devices |= _devices(body, person_id)
            orders.append({"order_id": order_id, "version": version, "role": role,
                           "registered_at": format_ts(registered),
                           "revoked_at": format_ts(revoked) if revoked else None,
                           "order": _visible(body, role)})  # fmt: skip
    theirs = [dict(a.body) for a in alerts if a.order_id in roles]
    ids = {a["alert_id"] for a in theirs} | set(roles)
    return {
        "person_id": person_id,
        "orders": orders,
        "devices": sorted(devices),
        "fixes": [
            {"device_id": d, "seq": s, "ts": format_ts(int(t)), "lat": la, "lon": lo, "acc": a}
            for d, s, t, _, la, lo, a, _ in store.fixes_between(sorted(devices), 0, ALL_TIME)
        ]
        if devices
        else [],
        "alerts": [
            a if roles[a["order_id"]] == "offender" else _without_details(a) for a in theirs
        ],
        "notifications": _notifications(store, devices),
        "reads_of_their_data": [
            {
                "at": format_ts(int(at)),
                "actor": actor,
                "role": role,
                "action": action,
                "subject": subject,
            }
            for at, actor, role, action, subject in store.audit_trail()
            if subject in ids
        ],
    }


def _role(body: dict[str, Any], person_id: str) -> str | None:
    if (body.get("offender") or {}).get("person_id") == person_id:
        return "offender"
    if any(v.get("person_id") == person_id for v in body.get("victims", [])):
        return "victim"
    return None


def _devices(body: dict[str, Any], person_id: str) -> set[str]:
    people = [body.get("offender") or {}, *body.get("victims", [])]
    return {
        p["device_id"] for p in people if p.get("person_id") == person_id and p.get("device_id")
    }


def _visible(body: dict[str, Any], role: str) -> dict[str, Any]:
    """The order as the person may see it: a victim's address is not the
    offender's to see, and the reverse."""
    out = {k: v for k, v in body.items() if k != "_warnings"}
    if role == "offender":
        out["victims"] = [{"person_id": v.get("person_id")} for v in body.get("victims", [])]
    else:
        out["offender"] = {"person_id": (body.get("offender") or {}).get("person_id")}
    return out


def _without_details(alert: dict[str, Any]) -> dict[str, Any]:
    keys = ("alert_id", "type", "severity", "state", "order_id", "started_at", "ended_at")
    return {k: alert.get(k) for k in keys}


def _notifications(store: Store, devices: set[str]) -> list[dict[str, Any]]:
    rows = store.notifications_to(sorted(devices))
    return [{"device_id": d, "level": lv, "text": tx, "sent_at": format_ts(int(s)),
             "acked_at": format_ts(int(a)) if a else None} for d, lv, tx, s, a in rows]  # fmt: skip
