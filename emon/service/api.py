"""The HTTP API of the contract, with OpenAPI docs at /docs."""

# no postponed annotations here: FastAPI reads the Annotated dependencies at runtime
import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from prometheus_client import generate_latest

from emon.geofence.validation import validate
from emon.orders import OrderFormatError
from emon.review import commands as review
from emon.review.compliance import compliance
from emon.review.evidence import Bundle, for_alert, for_period
from emon.service.auth import PERMISSIONS, Principal, TokenBook
from emon.service.chain import verify_period
from emon.service.console import ConsoleSettings, mount_console
from emon.service.export import person_export
from emon.service.runtime import Runtime, now_ms
from emon.timeutil import TimestampError, format_ts, parse_ts

OrderBody = Annotated[dict[str, Any], Body(description="an order as in the contract")]


def principal(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    token: Annotated[str | None, Query(include_in_schema=False)] = None,
) -> Principal:
    """Who is asking (``?token=`` is accepted for EventSource, which cannot
    set headers)."""
    given = token or (authorization or "").removeprefix("Bearer ").strip()
    book: TokenBook = request.app.state.tokens
    who = book.who(given) if given else None
    if who is None:
        raise HTTPException(401, "a valid bearer token is required",
                            headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
    return who


def allowed(permission: str) -> Any:
    def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.may(permission):
            raise HTTPException(403, f"the {who.role} role may not do this ({permission})")
        return who

    return Depends(check)


Validate = Annotated[Principal, allowed("orders:validate")]
WriteOrders = Annotated[Principal, allowed("orders:write")]
ReadOrders = Annotated[Principal, allowed("orders:read")]
ReadAlerts = Annotated[Principal, allowed("alerts:read")]
ActOnAlerts = Annotated[Principal, allowed("alerts:act")]
ConfirmAlerts = Annotated[Principal, allowed("alerts:confirm")]
ReadDevices = Annotated[Principal, allowed("devices:read")]
Review = Annotated[Principal, allowed("review:read")]
ReadEvidence = Annotated[Principal, allowed("evidence:read")]
WriteHolds = Annotated[Principal, allowed("holds:write")]
ExportPersons = Annotated[Principal, allowed("persons:export")]
Since = Annotated[str, Query(alias="from", description="start of the period (RFC 3339)")]
Until = Annotated[str | None, Query(alias="to", description="end (RFC 3339; default now)")]
Format = Annotated[str, Query(pattern="^(html|pdf|geojson|csv)$")]
Anyone = Annotated[Principal, Depends(principal)]
#: how an operator classifies a resolved alert
CLASSIFICATIONS = ("true_violation", "technical", "permitted_exception")
NoteBody = Annotated[dict[str, Any] | None, Body()]


def create_app(
    runtime: Runtime,
    tokens: TokenBook,
    health: dict[str, Any],
    console: ConsoleSettings | None = None,
) -> FastAPI:
    app = FastAPI(title="emon", version="1", description="Electronic monitoring engine API")
    app.state.tokens = tokens
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
        return runtime.order_summaries()

    @app.get("/api/v1/orders/{order_id}")
    def get_order(order_id: str, _: ReadOrders) -> dict[str, Any]:
        registered = runtime.orders.get(order_id)
        if registered is None:
            raise HTTPException(404, f"no order {order_id}")
        warnings = [f.to_json() for f in registered.report.findings]
        return {**registered.body, "version": registered.version, "warnings": warnings}

    @app.delete("/api/v1/orders/{order_id}")
    def revoke_order(order_id: str, _: WriteOrders) -> dict[str, Any]:
        if not runtime.revoke_order(order_id):
            raise HTTPException(404, f"no order {order_id}")
        return {"order_id": order_id, "revoked": True}

    @app.get("/api/v1/alerts")
    def list_alerts(who: ReadAlerts, state: str | None = None) -> list[dict[str, Any]]:
        return [a for a in runtime.list_alerts(state) if runtime.concerns(who, a)]

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

    @app.post("/api/v1/alerts/{alert_id}/assign")
    def assign(alert_id: str, who: ActOnAlerts, body: NoteBody = None) -> dict[str, Any]:
        if alert_id not in runtime.alerts:
            raise HTTPException(404, f"no alert {alert_id}")
        to = str((body or {}).get("to") or who.name).strip()
        note = str((body or {}).get("note") or "")
        return runtime.act(alert_id, "assign", note, who.name, to=to)

    @app.post("/api/v1/alerts/{alert_id}/confirm")
    def confirm(alert_id: str, who: ConfirmAlerts, body: NoteBody = None) -> dict[str, Any]:
        """Police dispatch confirms it has taken the alert on."""
        if alert_id not in runtime.alerts:
            raise HTTPException(404, f"no alert {alert_id}")
        return runtime.act(alert_id, "confirm", str((body or {}).get("note") or ""), who.name)

    @app.get("/api/v1/devices/health")
    def devices_health(_: ReadDevices) -> list[dict[str, Any]]:
        return runtime.device_health()

    @app.get("/api/v1/alerts/stream")
    async def stream(request: Request, who: ReadAlerts) -> StreamingResponse:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(1000)
        runtime.subscribers.add(queue)

        async def events() -> AsyncIterator[str]:
            try:
                yield ": connected\n\n"
                while not await request.is_disconnected():
                    try:
                        alert = await asyncio.wait_for(queue.get(), 15)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if not runtime.concerns(who, alert):
                        continue
                    yield f"event: alert\nid: {alert['alert_id']}\ndata: {json.dumps(alert)}\n\n"
            finally:
                runtime.subscribers.discard(queue)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})  # fmt: skip

    @app.get("/api/v1/alerts/{alert_id}")
    def alert_detail(alert_id: str, who: ReadAlerts) -> dict[str, Any]:
        """The alert with its zones, tracks (as the role may see them),
        timeline, decision trail and notification timers."""
        if alert_id not in runtime.alerts or not runtime.concerns(who, runtime.alerts[alert_id]):
            raise HTTPException(404, f"no alert {alert_id}")
        return runtime.case(alert_id, who)

    # -- review (reclassering, OM) -------------------------------------------------------
    def period(start: str, end: str | None) -> tuple[int, int]:
        try:
            return parse_ts(start), parse_ts(end) if end else now_ms()
        except TimestampError as exc:
            raise HTTPException(422, str(exc)) from exc

    def known_order(order_id: str) -> None:
        if not runtime.store.order_history(order_id):
            raise HTTPException(404, f"no order {order_id}")

    @app.get("/api/v1/orders/{order_id}/compliance")
    def order_compliance(order_id: str, _: Review, start: Since, end: Until = None) -> Any:
        """Violations and device events with their classification, and the figures."""
        known_order(order_id)
        lo, hi = period(start, end)
        return compliance(order_id, list(runtime.alerts.values()), lo, hi, now_ms())

    @app.get("/api/v1/reminders")
    def reminders(_: Review) -> list[dict[str, Any]]:
        """Orders running out or lapsed, as sent to the reclassering and the OM."""
        return sorted(runtime.reminders_sent.values(), key=lambda r: r["sent_at"], reverse=True)

    @app.get("/api/v1/orders/{order_id}/closest-approach")
    def order_closest(order_id: str, _: Review, start: Since, end: Until = None) -> Any:
        known_order(order_id)
        return review.closest_report(runtime.store, order_id, *period(start, end))

    @app.post("/api/v1/orders/{order_id}/what-if")
    def order_what_if(order_id: str, _: Review, body: NoteBody = None) -> Any:
        """Body: ``{"from": ..., "to": ..., "set": {"confirm_fixes": 3}, "patch": {...}}``."""
        known_order(order_id)
        body = body or {}
        lo, hi = period(str(body.get("from") or ""), body.get("to"))
        try:
            return review.what_if_report(runtime.store, lo, hi, dict(body.get("set") or {}),
                                  dict(body.get("patch") or {}), order_id)  # fmt: skip
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc

    @app.get("/api/v1/alerts/{alert_id}/evidence")
    def alert_evidence(alert_id: str, who: ReadEvidence, format: Format = "html") -> Response:
        if alert_id not in runtime.alerts:
            raise HTTPException(404, f"no alert {alert_id}")
        bundle = for_alert(runtime.store, list(runtime.alerts.values()), alert_id, now_ms(),
                           runtime.engine.policy)  # fmt: skip
        runtime.audit(who, "read_evidence", alert_id, format)
        return _evidence_response(bundle, format)

    @app.get("/api/v1/orders/{order_id}/evidence")
    def order_evidence(
        order_id: str, who: ReadEvidence, start: Since, end: Until = None, format: Format = "html"
    ) -> Response:
        known_order(order_id)
        lo, hi = period(start, end)
        bundle = for_period(runtime.store, list(runtime.alerts.values()), order_id, lo, hi,
                            now_ms(), runtime.engine.policy)  # fmt: skip
        runtime.audit(who, "read_evidence", order_id, f"{format} {start}..{end or ''}")
        return _evidence_response(bundle, format)

    @app.post("/api/v1/orders/{order_id}/hold")
    def hold(order_id: str, who: WriteHolds, body: NoteBody = None) -> dict[str, Any]:
        """Keep this order's data beyond retention: ``{"from", "to", "reason"}``."""
        if order_id not in runtime.orders:
            raise HTTPException(404, f"no order {order_id}")
        body = body or {}
        reason = str(body.get("reason") or "").strip()
        if not reason:
            raise HTTPException(422, "a hold needs a reason")
        lo, hi = period(str(body.get("from") or ""), body.get("to"))
        held = runtime.hold(order_id, lo, hi, f"{reason} ({who.name})")
        runtime.audit(who, "hold", order_id, reason)
        return {
            "order_id": order_id,
            "devices": held,
            "from": format_ts(lo),
            "to": format_ts(hi),
        }

    @app.get("/api/v1/persons/{person_id}/export")
    def export_person(person_id: str, who: ExportPersons) -> dict[str, Any]:
        """Everything stored about one person (AVG right of access); admin only."""
        runtime.audit(who, "export_person", person_id)
        return person_export(runtime.store, list(runtime.alerts.values()), person_id)

    @app.get("/api/v1/evidence/verify")
    def verify_chain(
        _: ReadEvidence, start: Since = "1970-01-01T00:00:00Z", end: Until = None
    ) -> Any:
        """The evidence chain over a period: intact, or which rows changed."""
        return verify_period(runtime.store, *period(start, end)).to_json()

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        ok = bool(health.get("mqtt")) and runtime.writer.healthy
        body = {"status": "ok" if ok else "degraded", "mqtt": bool(health.get("mqtt")),
                "database": runtime.writer.healthy, "orders": len(runtime.orders)}  # fmt: skip
        return JSONResponse(body, status_code=200)

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(runtime.metrics.registry).decode(),
                                 media_type="text/plain; version=0.0.4")  # fmt: skip

    mount_console(app, console)
    return app


def _evidence_response(bundle: Bundle, fmt: str) -> Response:
    from emon.review.render import to_bytes  # matplotlib and reportlab: only when asked

    content, media_type = to_bytes(bundle, fmt)
    name = f"evidence-{bundle.order_id}.{fmt}"
    disposition = "inline" if fmt == "html" else f'attachment; filename="{name}"'
    return Response(content, media_type=media_type, headers={"Content-Disposition": disposition})
