"""The HTTP API of the contract, with OpenAPI docs at /docs."""

# no postponed annotations here: FastAPI reads the Annotated dependencies at runtime
import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from fastapi_offline import FastAPIOffline
from prometheus_client import generate_latest

from emon.geofence.validation import validate
from emon.order_sight import as_seen_by
from emon.orders import OrderFormatError
from emon.review.alert_load import WEEK_MS, alert_load
from emon.service import views
from emon.service.auth import PERMISSIONS, TokenBook
from emon.service.console import ConsoleSettings, mount_console
from emon.service.deps import (
    CALL_OUTCOMES,
    CLASSIFICATIONS,
    ActOnAlerts,
    Anyone,
    ConfirmAlerts,
    NoteBody,
    OrderBody,
    ReadAlerts,
    ReadDevices,
    ReadOrders,
    Validate,
    WriteOrders,
)
from emon.service.devices_api import devices_router
from emon.service.elsewhere import ElsewhereUnavailable
from emon.service.exceptions_api import exceptions_router
from emon.service.limits import BodyLimit
from emon.service.review_api import review_router
from emon.service.runtime import Runtime
from emon.timeutil import now_ms

#: the share of the engine's queue that, waiting, means the service is behind
BEHIND_SHARE = 0.5


def create_app(
    runtime: Runtime,
    tokens: TokenBook,
    health: dict[str, Any],
    console: ConsoleSettings | None = None,
) -> FastAPI:
    # Swagger UI and ReDoc from the package's own files: /docs works offline
    app = FastAPIOffline(
        title="emon",
        version="1",
        description="Electronic monitoring engine API",
        static_url="/docs-assets",
        # no call to a public validator from the operator's browser
        swagger_ui_parameters={"validatorUrl": None},
    )
    app.add_middleware(BodyLimit)
    app.state.tokens = tokens

    @app.exception_handler(ElsewhereUnavailable)
    def elsewhere_unavailable(_: Request, exc: ElsewhereUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "2"})

    console = console or ConsoleSettings()

    @app.get("/api/v1/whoami")
    def whoami(who: Anyone) -> dict[str, Any]:
        permissions = sorted(p for p in PERMISSIONS if who.may(p))
        return {"name": who.name, "role": who.role, "permissions": permissions}

    @app.get("/api/v1/console/config")
    def console_config() -> dict[str, Any]:
        return console.public()

    @app.post("/api/v1/orders/validate")
    def validate_order(body: OrderBody, _: Validate, lang: str = "en") -> dict[str, Any]:
        try:
            return validate(body, lang="nl" if lang == "nl" else "en").to_json()
        except OrderFormatError as exc:
            raise HTTPException(422, str(exc)) from exc

    @app.put("/api/v1/orders/{order_id}")
    def put_order(order_id: str, body: OrderBody, _: WriteOrders) -> JSONResponse:
        body = dict(body)
        if body.setdefault("order_id", order_id) != order_id:
            raise HTTPException(422, "order_id in the path and the body differ")
        try:
            report, registered = runtime.put_order(body)
        except OrderFormatError as exc:
            raise HTTPException(422, str(exc)) from exc
        content = report.to_json()
        content["registered"] = registered
        if registered:
            content["version"] = runtime.orders[order_id].version
        return JSONResponse(content, status_code=200 if registered else 422)

    @app.get("/api/v1/orders")
    def list_orders(_: ReadOrders) -> list[dict[str, Any]]:
        return views.order_summaries(runtime)

    @app.get("/api/v1/orders/{order_id}")
    def get_order(order_id: str, who: ReadOrders) -> dict[str, Any]:
        """The order as this role may see it (no victim address for the
        reclassering or the OM); a read that shows a location is audited."""
        registered = runtime.orders.get(order_id)
        if registered is None:
            raise HTTPException(404, f"no order {order_id}")
        sight = (who.may("locations:victim"), who.may("locations:offender"))
        body, shown = as_seen_by(registered.body, *sight, who.may("contacts:read"))
        if shown:
            runtime.audit(who, "read_order", order_id, ",".join(shown))
        warnings = [f.to_json() for f in registered.report.findings]
        return {**body, "version": registered.version, "warnings": warnings}

    @app.delete("/api/v1/orders/{order_id}")
    def revoke_order(order_id: str, _: WriteOrders) -> dict[str, Any]:
        if not runtime.revoke_order(order_id):
            raise HTTPException(404, f"no order {order_id}")
        return {"order_id": order_id, "revoked": True}

    @app.get("/api/v1/alerts")
    def list_alerts(who: ReadAlerts, state: str | None = None) -> list[dict[str, Any]]:
        return [a for a in runtime.alert_book.listed(state) if views.concerns(runtime, who, a)]

    @app.post("/api/v1/alerts/{alert_id}/ack")
    def ack(alert_id: str, who: ActOnAlerts, body: NoteBody = None) -> dict[str, Any]:
        if alert_id not in runtime.alerts:
            raise HTTPException(404, f"no alert {alert_id}")
        note = str((body or {}).get("note") or "")
        return runtime.act(alert_id, "ack", note, who.name)

    @app.post("/api/v1/alerts/{alert_id}/resolve")
    def resolve(alert_id: str, who: ActOnAlerts, body: NoteBody = None) -> dict[str, Any]:
        if alert_id not in runtime.alerts:
            raise HTTPException(404, f"no alert {alert_id}")
        note = str((body or {}).get("note") or "").strip()
        if not note:
            raise HTTPException(
                422, 'resolving needs a note: {"note": "...", "classification": ...}'
            )
        classification = (body or {}).get("classification")
        if classification is not None and classification not in CLASSIFICATIONS:
            raise HTTPException(422, f"classification must be one of {', '.join(CLASSIFICATIONS)}")
        return runtime.act(alert_id, "resolve", note, who.name, classification=classification)

    @app.post("/api/v1/alerts/{alert_id}/call")
    def call(alert_id: str, who: ActOnAlerts, body: NoteBody = None) -> dict[str, Any]:
        """A call made about an alert, with its outcome (the victim reached,
        or not), logged as an action. The number stays out of it: the alert
        is read by roles that may not see numbers (the order version holds it)."""
        if alert_id not in runtime.alerts:
            raise HTTPException(404, f"no alert {alert_id}")
        body = body or {}
        party, outcome = body.get("party"), body.get("outcome")
        if party not in ("victim", "offender"):
            raise HTTPException(422, "party must be victim or offender")
        if outcome not in CALL_OUTCOMES:
            raise HTTPException(422, f"outcome must be one of {', '.join(CALL_OUTCOMES)}")
        note = str(body.get("note") or "")
        return runtime.act(alert_id, "call", note, who.name, party=party, outcome=outcome)

    @app.post("/api/v1/alerts/{alert_id}/assign")
    def assign(alert_id: str, who: ActOnAlerts, body: NoteBody = None) -> dict[str, Any]:
        if alert_id not in runtime.alerts:
            raise HTTPException(404, f"no alert {alert_id}")
        to = str((body or {}).get("to") or who.name).strip()
        note = str((body or {}).get("note") or "")
        return runtime.act(alert_id, "assign", note, who.name, to=to)

    @app.post("/api/v1/alerts/{alert_id}/confirm")
    def confirm(alert_id: str, who: ConfirmAlerts, body: NoteBody = None) -> dict[str, Any]:
        """Police dispatch confirms it has taken the alert on: only an alert
        it may read (one routed to the police), as for every other read."""
        if alert_id not in runtime.alerts or not views.concerns(
            runtime, who, runtime.alerts[alert_id]
        ):
            raise HTTPException(404, f"no alert {alert_id}")
        return runtime.act(alert_id, "confirm", str((body or {}).get("note") or ""), who.name)

    @app.get("/api/v1/devices/health")
    def devices_health(_: ReadDevices, response: Response) -> list[dict[str, Any]]:
        rows, unanswered = views.device_board(runtime)
        if unanswered:  # a worker of the cluster did not answer: its devices are missing
            response.headers["X-Emon-Unanswered"] = ", ".join(unanswered)
        return rows

    @app.get("/api/v1/alerts/stream")
    async def stream(request: Request, who: ReadAlerts) -> StreamingResponse:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(1000)
        runtime.alert_book.subscribers.add(queue)

        async def events() -> AsyncIterator[str]:
            try:
                yield ": connected\n\n"
                while not await request.is_disconnected():
                    try:
                        alert = await asyncio.wait_for(queue.get(), 15)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if not views.concerns(runtime, who, alert):
                        continue
                    yield f"event: alert\nid: {alert['alert_id']}\ndata: {json.dumps(alert)}\n\n"
            finally:
                runtime.alert_book.subscribers.discard(queue)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})  # fmt: skip

    @app.get("/api/v1/alerts/{alert_id}")
    def alert_detail(alert_id: str, who: ReadAlerts) -> dict[str, Any]:
        """The alert with its zones, tracks (as the role may see them),
        timeline, decision trail and notification timers."""
        if alert_id not in runtime.alerts or not views.concerns(
            runtime, who, runtime.alerts[alert_id]
        ):
            raise HTTPException(404, f"no alert {alert_id}")
        return views.case(runtime, alert_id, who)

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        problems = dict(runtime.problems)
        problems.update({f"order {order}": why for order, why in runtime.quarantined.items()})
        problems.update({f"task {name}": why for name, why in health.get("tasks", {}).items()})
        links = {"mqtt": bool(health.get("mqtt"))}
        if "nats" in health:  # a worker on NATS JetStream
            links["nats"] = bool(health["nats"])
        backlog = runtime.ingest.inbox.qsize()
        limit = runtime.ingest.queue_limit
        if backlog >= limit * BEHIND_SHARE:
            problems["backlog"] = (
                f"{backlog} messages wait for the engine (intake pauses at {limit})"
            )
        behind_s = runtime.behind_s(now_ms())
        if behind_s:
            problems["behind"] = (
                f"catching up: judging messages {behind_s:.0f} s old, "
                f"{runtime.stream_backlog} still to read"
            )
        ok = all(links.values()) and runtime.writer.healthy and not problems
        body = {"status": "ok" if ok else "degraded", **links,
                "database": runtime.writer.healthy, "orders": len(runtime.orders),
                "backlog": backlog, "storage_backlog": runtime.writer.depth,
                "behind_s": round(behind_s, 1), "stream_backlog": runtime.stream_backlog,
                "storage": runtime.store.describe(), "problems": problems}  # fmt: skip
        if "cluster" in health:  # this worker's slot and partitions
            body["cluster"] = health["cluster"]
        return JSONResponse(body, status_code=200)

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        now = now_ms()
        week = alert_load(runtime.alert_book.everything(), views.watched_orders(runtime),
                          now - WEEK_MS, now, WEEK_MS)  # fmt: skip
        runtime.metrics.alert_load(week["period"])
        return PlainTextResponse(generate_latest(runtime.metrics.registry).decode(),
                                 media_type="text/plain; version=0.0.4")  # fmt: skip

    app.include_router(review_router(runtime))
    app.include_router(exceptions_router(runtime))
    app.include_router(devices_router(runtime))
    mount_console(app, console)
    return app
