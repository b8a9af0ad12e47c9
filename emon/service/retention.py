"""Data protection (AVG/GDPR): each kind of data is kept only as long as configured.

Raw messages and fixes carry where people were; they are removed after their
retention period unless they are held as evidence: the window around an alert
that may matter in a case (violations, tamper, panic, shielding, unless an
operator classified it as technical), or a hold placed on an order. A removed
message keeps its chain link and its content digest, so the evidence chain
still verifies across it (`emon verify` counts such links as pruned).
Alerts, their changes and operator actions are the case record and stay.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, fields
from typing import Any

from emon.alerts.kinds import KINDS
from emon.alerts.model import ShownAlert
from emon.orders import Order
from emon.storage import Store, pruning
from emon.timeutil import Millis, now_ms

log = logging.getLogger("emon.retention")

DAY_MS = 86_400_000
#: alerts whose surroundings are kept as evidence
EVIDENCE_TYPES = frozenset(k.type for k in KINDS.values() if k.evidence)
HOLD_MARGIN_MS = 15 * 60_000
OPEN_END = 2**62


@dataclass(frozen=True)
class Retention:
    messages_days: float = 90
    fixes_days: float = 90
    rejections_days: float = 30
    notifications_days: float = 365
    audit_days: float = 5 * 365

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Retention:
        known = {f.name for f in fields(cls)}
        unknown = set(config) - known
        if unknown:
            raise ValueError(
                f"retention: unknown settings {sorted(unknown)}; known {sorted(known)}"
            )
        return cls(**{k: float(v) for k, v in config.items()})


def holds_for(shown: ShownAlert, order: Order | None) -> list[tuple[Any, ...]]:
    """Hold rows (hold_id, device_id, lo, hi, subject, reason) for an alert's window."""
    alert, span = shown.body, shown.span
    if order is None or alert["type"] not in EVIDENCE_TYPES:
        return []
    lo = span.started_at - HOLD_MARGIN_MS
    hi = OPEN_END if span.ended_at is None else span.ended_at + HOLD_MARGIN_MS
    if alert.get("classification") == "technical":
        hi = lo - 1  # released: a device fault is no evidence of anything
    return [
        (f"{alert['alert_id']}|{device}", device, lo, hi, alert["alert_id"], alert["type"])
        for device in _devices(order)
    ]


async def run_retention(store: Store, retention: Retention, period_s: float = 3600.0) -> None:
    """Hourly: remove what has outlived its retention period (not what is held)."""
    while True:
        try:
            await asyncio.to_thread(prune, store, retention, now_ms())
        except Exception:  # the database may be away: next hour, then
            log.exception("retention could not run")
        await asyncio.sleep(period_s)


def order_holds(order: Order, lo: Millis, hi: Millis, reason: str) -> list[tuple[Any, ...]]:
    """A hold placed by hand (a case under investigation) on all of an order's devices."""
    return [
        (f"{order.order_id}|{device}|{lo}|{hi}", device, lo, hi, order.order_id, reason)
        for device in _devices(order)
    ]


def _devices(order: Order) -> list[str]:
    """Every device of an order that sends positions: the offender's and the victims'."""
    return order.tracked_device_ids


def prune(store: Store, retention: Retention, now: Millis) -> dict[str, int]:
    """Remove what has outlived its period (and is not held). Returns counts."""
    cut = {f.name: now - int(getattr(retention, f.name) * DAY_MS) for f in fields(retention)}
    counts = pruning.prune(
        store,
        pruning.Cutoffs(
            messages=cut["messages_days"],
            fixes=cut["fixes_days"],
            rejections=cut["rejections_days"],
            notifications=cut["notifications_days"],
            audit=cut["audit_days"],
        ),
    )
    if any(counts.values()):
        log.info("retention removed %s", counts)
    return counts
