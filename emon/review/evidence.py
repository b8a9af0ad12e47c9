"""Evidence for one violation or a period: what happened, from what data, and why.

A bundle gathers, from storage, the order as it stood then (the version in
force at the time), the alerts with the rule and the fixes that decided them,
the raw fixes with their accuracy, the raw messages with their chain links,
and the verdict of the evidence chain over the period. It is rendered as a
self-contained HTML page, a PDF, and the data as GeoJSON, GeoPackage and CSV.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from emon import topics
from emon.alerts.model import ShownAlert
from emon.engine import Policy
from emon.order_sight import as_seen_by
from emon.review.decision import decision_trail
from emon.storage import Store
from emon.storage.chain import verify_period
from emon.storage.ledger import ACTIONS, ALERT_CHANGES, FIXES, ORDERS, ShownRow
from emon.timeutil import Millis, format_ts

#: the period shown around one alert
MARGIN_MS = 15 * 60_000


class EvidenceError(LookupError):
    """Nothing stored to build the evidence from."""


@dataclass
class Bundle:
    title: str
    order_id: str
    order: dict[str, Any]
    order_version: int
    start: Millis
    end: Millis
    alerts: list[dict[str, Any]]
    fixes: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    chain: dict[str, Any]
    generated_at: Millis
    victim_fixes: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The data of the report as JSON (what the HTML and PDF show)."""
        return {
            "title": self.title,
            "order_id": self.order_id,
            "order_version": self.order_version,
            "period": {"from": format_ts(self.start), "to": format_ts(self.end)},
            "alerts": self.alerts,
            "fixes": len(self.fixes),
            "messages": len(self.messages),
            "chain": self.chain,
            "generated_at": format_ts(self.generated_at),
        }


def for_alert(
    store: Store,
    alerts: Sequence[ShownAlert],
    alert_id: str,
    now: Millis,
    policy: Policy | None = None,
    **options: Any,
) -> Bundle:
    """``alerts``: every alert known (the service's, or the stored ones)."""
    alert = next((a for a in alerts if a.alert_id == alert_id), None)
    if alert is None:
        raise EvidenceError(f"no stored alert {alert_id}")
    start = alert.span.started_at - MARGIN_MS
    end = alert.span.end_or(alert.span.detected_at) + MARGIN_MS
    title = f"{alert.type} {alert_id}"
    return _collect(store, alert.order_id, start, end, now, title, [alert], policy, **options)


def for_period(
    store: Store,
    alerts: Sequence[ShownAlert],
    order_id: str,
    start: Millis,
    end: Millis,
    now: Millis,
    policy: Policy | None = None,
    **options: Any,
) -> Bundle:
    alerts = [a for a in alerts if a.order_id == order_id and a.span.overlaps(start, end, end)]
    alerts = sorted(alerts, key=lambda a: a.span.started_at)
    title = f"{order_id} {format_ts(start)} - {format_ts(end)}"
    return _collect(store, order_id, start, end, now, title, alerts, policy, **options)


def _collect(
    store: Store,
    order_id: str,
    start: Millis,
    end: Millis,
    now: Millis,
    title: str,
    alerts: Sequence[ShownAlert],
    policy: Policy | None,
    include_victim: bool = False,
) -> Bundle:
    version, order = order_in_force(store, order_id, start)
    policy = policy or Policy()
    offender = (order.get("offender") or {}).get("device_id")
    devices = [offender] if offender else []
    messages = store.messages_on(
        [t for d in devices for t in topics.device_topics(d)], start, end
    ) if devices else []  # fmt: skip
    # every row the report shows is read once, with its link, and checked
    # against it: a fix moved or a zone changed cannot stand beside "intact"
    shown = store.shown_rows(ORDERS, "order_id = %s AND version = %s", [order_id, version])
    shown += [
        ("message", seq, h, (recv, topic, payload)) for recv, topic, payload, seq, h in messages
    ]
    fixes = _chained_fixes(store, devices, start, end)
    victim_fixes: list[ShownRow] = []
    if include_victim:
        victims = [v["device_id"] for v in order.get("victims", []) if v.get("device_id")]
        victim_fixes = _chained_fixes(store, victims, start, end)
    shown += fixes + victim_fixes
    for alert in alerts:
        shown += store.shown_rows(ALERT_CHANGES, "alert_id = %s", [alert.alert_id])
        shown += store.shown_rows(ACTIONS, "alert_id = %s", [alert.alert_id])
    bundle = Bundle(
        title=title,
        order_id=order_id,
        # without --include-victim, nothing of where she lives either
        order=order if include_victim else as_seen_by(order, victim=False, offender=True)[0],
        order_version=version,
        start=start,
        end=end,
        alerts=[dict(a.body, decision=decision_trail(a.body, policy)) for a in alerts],
        fixes=[_fix(content) for *_, content in fixes],
        messages=[_message(r) for r in messages],
        chain=verify_period(store, start, end).to_json(),
        generated_at=now,
        victim_fixes=[_fix(content) for *_, content in victim_fixes],
    )
    bundle.chain["shown"] = store.check_rows(shown)
    bundle.chain["intact"] = bundle.chain["intact"] and bundle.chain["shown"]["intact"]
    return bundle


def _chained_fixes(store: Store, devices: list[str], start: Millis, end: Millis) -> list[ShownRow]:
    """These devices' fixes of the period, by time, each with its link."""
    rows: list[ShownRow] = []
    for device in devices:
        rows += store.shown_rows(
            FIXES, "device_id = %s AND ts >= %s AND ts <= %s ORDER BY ts", [device, start, end]
        )
    return rows


def order_in_force(store: Store, order_id: str, at: Millis) -> tuple[int, dict[str, Any]]:
    """The version registered last before ``at`` (or the first one, for a
    period that starts before the order was registered)."""
    history = store.order_history(order_id)
    if not history:
        raise EvidenceError(f"no stored order {order_id}")
    before = [h for h in history if h[2] <= at and h[3] is None]
    version, body, _, _ = before[-1] if before else history[0]
    return version, {k: v for k, v in body.items() if k != "_warnings"}


def _fix(row: Sequence[Any]) -> dict[str, Any]:
    device_id, seq, ts, recv, lat, lon, acc, batt = row
    return {"device_id": device_id, "seq": int(seq), "ts": format_ts(int(ts)),
            "received": format_ts(int(recv)), "lat": lat, "lon": lon, "acc_m": acc,
            "battery_pct": batt}  # fmt: skip


def _message(row: tuple[Any, ...]) -> dict[str, Any]:
    recv, topic, payload, seq, digest = row
    try:
        text = json.dumps(json.loads(payload), separators=(",", ":"))
    except ValueError:
        text = payload.hex()
    return {"received": format_ts(recv), "topic": topic, "payload": text, "chain_seq": seq,
            "hash": digest}  # fmt: skip
