"""The HTTP API for the reclassering and the OM: figures, analysis, evidence, holds."""

# no postponed annotations here: FastAPI reads the Annotated dependencies at runtime
import json
import re
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from emon.review import reports as review
from emon.review.alert_load import DAY_MS, WEEK_MS, alert_load
from emon.review.compliance import compliance
from emon.review.evidence import Bundle, EvidenceError, for_alert, for_period
from emon.review.export import person_export
from emon.service.deps import (
    Bucket,
    ExportPersons,
    Format,
    Lang,
    NoteBody,
    ReadEvidence,
    Review,
    Since,
    Until,
    WriteHolds,
    period,
)
from emon.service.runtime import Runtime
from emon.service.views import watched_orders
from emon.storage.anchor import checked_against
from emon.storage.chain import verify_period
from emon.timeutil import format_ts, now_ms

#: buckets one alert-load read may ask for (a year by day)
MAX_BUCKETS = 400


def review_router(runtime: Runtime) -> APIRouter:
    router = APIRouter()

    def known_order(order_id: str) -> None:
        if not runtime.store.order_history(order_id):
            raise HTTPException(404, f"no order {order_id}")

    @router.get("/api/v1/orders/{order_id}/compliance")
    def order_compliance(order_id: str, _: Review, start: Since, end: Until = None) -> Any:
        """Violations and device events with their classification, and the figures."""
        known_order(order_id)
        lo, hi = period(start, end, now_ms())
        return compliance(order_id, runtime.alert_book.everything(), lo, hi, now_ms())

    @router.get("/api/v1/review/alert-load")
    def load(_: Review, start: Since, end: Until = None, by: Bucket = "day") -> Any:
        """How loud the system is, per day or week: alerts per device-day by
        kind and risk, classification shares, acknowledgement and dispatch
        times, closes in bulk or without a note (emon/review/alert_load.py)."""
        lo, hi = period(start, end, now_ms())
        if (hi - lo) / (DAY_MS if by == "day" else WEEK_MS) > MAX_BUCKETS:
            raise HTTPException(422, f"from/to: at most {MAX_BUCKETS} {by}s at once")
        return alert_load(runtime.alert_book.everything(), watched_orders(runtime), lo, hi,
                          DAY_MS if by == "day" else WEEK_MS)  # fmt: skip

    @router.get("/api/v1/reminders")
    def reminders(_: Review) -> list[dict[str, Any]]:
        """Orders running out or lapsed, as sent to the reclassering and the OM."""
        return sorted(runtime.schedule.sent.values(), key=lambda r: r["sent_at"], reverse=True)

    @router.get("/api/v1/orders/{order_id}/closest-approach")
    def order_closest(order_id: str, who: Review, start: Since, end: Until = None) -> Any:
        """How close he came to each victim device: distances and times, never
        a position (drawn from both tracks, so the read is audited)."""
        known_order(order_id)
        try:
            report = review.closest_report(runtime.store, order_id, *period(start, end, now_ms()))
        except ValueError as exc:  # an order without an offender device
            raise HTTPException(422, str(exc)) from exc
        runtime.audit(who, "read_closest_approach", order_id, f"{start}..{end or ''}")
        return report

    @router.post("/api/v1/orders/{order_id}/what-if")
    def order_what_if(order_id: str, who: Review, body: NoteBody = None) -> Any:
        """Body: ``{"from": ..., "to": ..., "set": {"confirm_fixes": 3}, "patch": {...}}``;
        the patch changes thresholds only (no geometry, devices or new zones)."""
        known_order(order_id)
        body = body or {}
        lo, hi = period(str(body.get("from") or ""), body.get("to"), now_ms())
        changes, patch = body.get("set") or {}, body.get("patch") or {}
        if not isinstance(changes, dict) or not isinstance(patch, dict):
            raise HTTPException(422, "set and patch are JSON objects")
        try:
            report = review.what_if_report(runtime.store, lo, hi, changes, patch, order_id)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        runtime.audit(who, "what_if", order_id, json.dumps({"set": changes, "patch": patch}))
        return report

    @router.get("/api/v1/alerts/{alert_id}/evidence")
    def alert_evidence(
        alert_id: str, who: ReadEvidence, format: Format = "html", lang: Lang = "en"
    ) -> Response:
        if alert_id not in runtime.alerts:
            raise HTTPException(404, f"no alert {alert_id}")
        try:
            bundle = for_alert(runtime.store, runtime.alert_book.everything(), alert_id, now_ms(),
                               runtime.engine.policy)  # fmt: skip
        except EvidenceError as exc:  # its order not stored (yet)
            raise HTTPException(404, str(exc)) from exc
        runtime.audit(who, "read_evidence", alert_id, format)
        return _evidence_response(bundle, format, lang)

    @router.get("/api/v1/orders/{order_id}/evidence")
    def order_evidence(
        order_id: str,
        who: ReadEvidence,
        start: Since,
        end: Until = None,
        format: Format = "html",
        lang: Lang = "en",
    ) -> Response:
        known_order(order_id)
        lo, hi = period(start, end, now_ms())
        bundle = for_period(runtime.store, runtime.alert_book.everything(), order_id, lo, hi,
                            now_ms(), runtime.engine.policy)  # fmt: skip
        runtime.audit(who, "read_evidence", order_id, f"{format} {start}..{end or ''}")
        return _evidence_response(bundle, format, lang)

    @router.post("/api/v1/orders/{order_id}/hold")
    def hold(order_id: str, who: WriteHolds, body: NoteBody = None) -> dict[str, Any]:
        """Keep this order's data beyond retention: ``{"from", "to", "reason"}``."""
        if order_id not in runtime.orders:
            raise HTTPException(404, f"no order {order_id}")
        body = body or {}
        reason = str(body.get("reason") or "").strip()
        if not reason:
            raise HTTPException(422, "a hold needs a reason")
        lo, hi = period(str(body.get("from") or ""), body.get("to"), now_ms())
        held = runtime.hold(order_id, lo, hi, f"{reason} ({who.name})")
        runtime.audit(who, "hold", order_id, reason)
        return {
            "order_id": order_id,
            "devices": held,
            "from": format_ts(lo),
            "to": format_ts(hi),
        }

    @router.get("/api/v1/persons/{person_id}/export")
    def export_person(person_id: str, who: ExportPersons) -> dict[str, Any]:
        """Everything stored about one person (AVG right of access); admin only."""
        runtime.audit(who, "export_person", person_id)
        return person_export(runtime.store, runtime.alert_book.everything(), person_id)

    @router.get("/api/v1/evidence/verify")
    def verify_chain(
        _: ReadEvidence, start: Since = "1970-01-01T00:00:00Z", end: Until = None
    ) -> Any:
        """The evidence chain over a period: intact, or which rows changed."""
        lo, hi = period(start, end, now_ms())
        anchored = checked_against(runtime.store, runtime.anchors, lo, hi)
        return verify_period(runtime.store, lo, hi, anchored).to_json()

    return router


def attachment(name: str) -> str:
    """A Content-Disposition that no id can break out of: an ASCII fallback of
    safe characters, and the exact name percent-encoded (RFC 6266, 5987)."""
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _evidence_response(bundle: Bundle, fmt: str, lang: str) -> Response:
    from emon.review.render import to_bytes  # matplotlib and reportlab: only when asked

    content, media_type = to_bytes(bundle, fmt, lang)
    disposition = "inline" if fmt == "html" else attachment(f"evidence-{bundle.order_id}.{fmt}")
    return Response(content, media_type=media_type, headers={"Content-Disposition": disposition})
