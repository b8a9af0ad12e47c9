"""Authorised exceptions through the API: granted for one zone of one order,
for a time, with a reason and who approved it; ended early if need be.

An exception is part of the order (``exceptions``, an extension of the
contract's format), so granting one is a new order version: stored, chained
as evidence, reaching every worker of a cluster, shown wherever the order is,
and enforced by the engine from then on. Every grant and end is audited.
"""

from __future__ import annotations

import copy
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException

from emon.orders import OrderFormatError
from emon.service.deps import GrantExceptions, ReadOrders
from emon.service.runtime import Runtime
from emon.timeutil import TimestampError, format_ts, now_ms, parse_ts

ExceptionBody = Annotated[
    dict[str, Any],
    Body(description='{"zone_id", "kind": "suspension"|"corridor", "from", "until", "reason", '
                     '"geometry" (a corridor\'s Polygon)}'),
]  # fmt: skip
#: what a grant may hold; the rest is emon's to set
GRANTED_FIELDS = ("zone_id", "kind", "from", "until", "reason", "geometry")


def exceptions_router(runtime: Runtime) -> APIRouter:
    router = APIRouter()

    def registered_body(order_id: str) -> dict[str, Any]:
        registered = runtime.orders.get(order_id)
        if registered is None:
            raise HTTPException(404, f"no order {order_id}")
        return copy.deepcopy(registered.body)

    def register(order_id: str, body: dict[str, Any]) -> None:
        try:
            _, registered = runtime.put_order(body)
        except OrderFormatError as exc:
            raise HTTPException(422, str(exc)) from exc
        if not registered:
            raise HTTPException(422, f"order {order_id} could not be registered with it")

    @router.get("/api/v1/orders/{order_id}/exceptions")
    def list_exceptions(order_id: str, _: ReadOrders) -> list[dict[str, Any]]:
        now = now_ms()
        return [dict(e, active=_active(e, now)) for e in registered_body(order_id).get(
            "exceptions", [])]  # fmt: skip

    @router.post("/api/v1/orders/{order_id}/exceptions")
    def grant(order_id: str, body: ExceptionBody, who: GrantExceptions) -> dict[str, Any]:
        """Grant an exception: the zone is not enforced (``suspension``), or not
        inside ``geometry`` (``corridor``), from ``from`` until ``until``."""
        unknown = set(body) - set(GRANTED_FIELDS)
        if unknown:
            raise HTTPException(422, f"unknown fields {sorted(unknown)}; known {GRANTED_FIELDS}")
        order = registered_body(order_id)
        exception = {k: body[k] for k in GRANTED_FIELDS if k in body}
        exception.update(exception_id=uuid.uuid4().hex[:12], approved_by=who.name,
                         approved_role=who.role, granted_at=format_ts(now_ms()))  # fmt: skip
        order["exceptions"] = [*order.get("exceptions", []), exception]
        register(order_id, order)
        runtime.audit(who, "grant_exception", order_id,
                      f"{exception['exception_id']} {exception.get('zone_id')} "
                      f"{exception.get('from')}..{exception.get('until')}")  # fmt: skip
        return exception

    @router.post("/api/v1/orders/{order_id}/exceptions/{exception_id}/end")
    def end(order_id: str, exception_id: str, who: GrantExceptions) -> dict[str, Any]:
        """End an exception now (the zone is enforced again at once)."""
        order = registered_body(order_id)
        found: dict[str, Any] | None = next(
            (e for e in order.get("exceptions", []) if e.get("exception_id") == exception_id), None
        )
        if found is None:
            raise HTTPException(404, f"no exception {exception_id} on order {order_id}")
        now = now_ms()
        if not _active(found, now):
            raise HTTPException(409, f"exception {exception_id} is not in force")
        found["until"] = format_ts(max(now, parse_ts(found["from"]) + 1))
        found["ended_by"] = who.name
        register(order_id, order)
        runtime.audit(who, "end_exception", order_id, exception_id)
        return found

    return router


def _active(exception: dict[str, Any], now: int) -> bool:
    try:
        return parse_ts(exception["from"]) <= now < parse_ts(exception["until"])
    except (KeyError, TimestampError):
        return False
