"""The read models behind the API: what a person is shown, built from the
runtime's state (and, in a cluster, from the worker holding it).

Nothing here changes enforcement; a read of locations is audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from emon.order_sight import contacts
from emon.review.alert_load import Watched
from emon.service.auth import Principal
from emon.service.casefile import Sight, alert_case
from emon.service.health import board_order, device_health
from emon.service.runtime import Runtime
from emon.timeutil import now_ms

#: what a case view may hold of where people were (audited when shown)
LOCATION_PARTS = ("offender_track", "victim_tracks")


def case(runtime: Runtime, alert_id: str, who: Principal) -> dict[str, Any]:
    """An alert with its order, decision trail, timeline, notifications and
    the tracks the reader may see."""
    alert = runtime.alerts[alert_id]
    if runtime.peers is not None and not runtime.owns_alert(alert):
        return runtime.peers.case(alert_id, who)  # its notifications are held there
    sight = Sight(who.may("locations:offender"), who.may("locations:victim"))
    notifications = runtime.delivery.by_alert.get(alert_id, [])
    order = runtime.book.order_of(alert["order_id"])
    view = alert_case(runtime.alert_book.shown(alert_id), order, runtime.store, notifications,
                      runtime.policy, sight, now_ms())  # fmt: skip
    view["channels"] = list(runtime.delivery.channels(alert, order))
    view["decision"].setdefault("told", runtime.delivery.who_is_told(alert, order))
    shown = [k for k in LOCATION_PARTS if k in view]
    if shown:
        runtime.audit(who, "read_locations", alert_id, ",".join(shown))
    numbers = contacts(order) if order is not None and who.may("contacts:read") else []
    if numbers:
        view["contacts"] = numbers
        runtime.audit(who, "read_contacts", alert_id, ",".join(c["party"] for c in numbers))
    return view


def concerns(runtime: Runtime, who: Principal, alert: Mapping[str, Any]) -> bool:
    """Police dispatch sees the alerts routed to the police, no others
    (a flat battery is not police business); other roles see all."""
    if who.role != "police":
        return True
    order = runtime.book.order_of(alert["order_id"])
    return "police" in runtime.delivery.channels(alert, order)


def device_rows(runtime: Runtime) -> list[dict[str, Any]]:
    """The board of the devices this worker holds (every device, alone)."""
    return device_health(runtime.current_engine(), runtime.alerts.values(), now_ms())


def device_board(runtime: Runtime) -> tuple[list[dict[str, Any]], list[str]]:
    """Every device's row, the worst first, wherever it is held; and the
    workers that did not answer (their devices are missing)."""
    rows = device_rows(runtime)
    if runtime.peers is None:
        return rows, []
    others, unanswered = runtime.peers.boards()
    rows += others
    rows.sort(key=board_order)
    return rows, unanswered


def order_summaries(runtime: Runtime) -> list[dict[str, Any]]:
    return [
        {
            "order_id": order_id,
            "case_id": r.order.case_id,
            "risk": r.order.risk,
            "version": r.version,
            "valid_until": r.order.valid_until,
            "enforceable": r.report.enforceable,
            "findings": len(r.report.findings),
        }
        for order_id, r in sorted(runtime.orders.items())
    ]


def watched_orders(runtime: Runtime) -> list[Watched]:
    """Each registered order's share of the fleet, for the alert-load figures."""
    return [r.watched for r in list(runtime.orders.values())]
