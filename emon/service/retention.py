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

import logging
from dataclasses import dataclass, fields
from typing import Any

from emon.alerts.model import AlertType
from emon.orders import Order
from emon.storage import Store, as_bytes
from emon.storage.chain import content_digest
from emon.storage.ledger import FIXES, NOTIFICATION_CHANGES, Chained
from emon.timeutil import Millis, parse_ts

log = logging.getLogger("emon.retention")

DAY_MS = 86_400_000
#: alerts whose surroundings are kept as evidence
EVIDENCE_TYPES = frozenset(
    {
        AlertType.ZONE_VIOLATION,
        AlertType.CONTACT_VIOLATION,
        AlertType.TAMPER,
        AlertType.PANIC,
        AlertType.SHIELDING,
    }
)
HOLD_MARGIN_MS = 15 * 60_000
OPEN_END = 2**62
_HELD_MESSAGE = (
    "EXISTS (SELECT 1 FROM holds h WHERE messages.recv BETWEEN h.lo AND h.hi AND messages.topic"
    " IN ('emon/v1/fix/' || h.device_id, 'emon/v1/fixes/' || h.device_id,"
    " 'emon/v1/event/' || h.device_id))"
)
_HELD_FIX = (
    "EXISTS (SELECT 1 FROM holds h WHERE h.device_id = fixes.device_id"
    " AND fixes.ts BETWEEN h.lo AND h.hi)"
)
BATCH = 5000


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


def holds_for(alert: dict[str, Any], order: Order | None) -> list[tuple[Any, ...]]:
    """Hold rows (hold_id, device_id, lo, hi, subject, reason) for an alert's window."""
    if order is None or alert["type"] not in EVIDENCE_TYPES:
        return []
    lo = parse_ts(alert["started_at"]) - HOLD_MARGIN_MS
    hi = parse_ts(alert["ended_at"]) + HOLD_MARGIN_MS if alert.get("ended_at") else OPEN_END
    if alert.get("classification") == "technical":
        hi = lo - 1  # released: a device fault is no evidence of anything
    return [
        (f"{alert['alert_id']}|{device}", device, lo, hi, alert["alert_id"], alert["type"])
        for device in _devices(order)
    ]


def order_holds(order: Order, lo: Millis, hi: Millis, reason: str) -> list[tuple[Any, ...]]:
    """A hold placed by hand (a case under investigation) on all of an order's devices."""
    return [
        (f"{order.order_id}|{device}|{lo}|{hi}", device, lo, hi, order.order_id, reason)
        for device in _devices(order)
    ]


def _devices(order: Order) -> list[str]:
    """Every device of an order: the offender's and the victims'."""
    candidates = [order.offender.device_id, *(v.device_id for v in order.victims)]
    return [device for device in candidates if device]


def prune(store: Store, retention: Retention, now: Millis) -> dict[str, int]:
    """Remove what has outlived its period (and is not held). Returns counts."""
    cut = {f.name: now - int(getattr(retention, f.name) * DAY_MS) for f in fields(retention)}
    pruned_fixes = _prune_rows(store, FIXES, f"ts < %s AND NOT {_HELD_FIX}", cut["fixes_days"])
    pruned_notes = _prune_rows(store, NOTIFICATION_CHANGES, "at < %s", cut["notifications_days"])
    deleted = store.maintain([
        (f"DELETE FROM fixes WHERE ts < %s AND NOT {_HELD_FIX}", [cut["fixes_days"]]),
        ("DELETE FROM rejections WHERE recv < %s", [cut["rejections_days"]]),
        ("DELETE FROM notifications WHERE sent_at < %s AND (acked_at IS NOT NULL OR escalated)",
         [cut["notifications_days"]]),
        ("DELETE FROM audit WHERE at < %s", [cut["audit_days"]]),
        (f"DELETE FROM messages WHERE recv < %s AND chain_seq IS NULL AND NOT {_HELD_MESSAGE}",
         [cut["messages_days"]]),
    ])  # fmt: skip
    counts = dict(zip(["fixes", "rejections", "notifications", "audit"], deleted, strict=False))
    counts["fixes"] += pruned_fixes
    counts["notification_changes"] = pruned_notes
    counts["messages"] = deleted[4] + _prune_messages(store, cut["messages_days"])
    if any(counts.values()):
        log.info("retention removed %s", counts)
    return counts


def _prune_rows(store: Store, spec: Chained, where: str, before: Millis) -> int:
    """Chained rows past retention are deleted, each leaving its link and its
    content digest in ``pruned_links``, so the chain still verifies past them."""
    pruned, after = 0, -1
    while True:
        rows = store.read(
            f"SELECT chain_seq, hash, {spec.time}, {spec.columns} FROM {spec.table} "
            f"WHERE {where} AND chain_seq > %s ORDER BY chain_seq LIMIT {BATCH}",
            [before, after],
        )
        if not rows:
            return pruned
        tombstones = [
            (seq, h, content_digest(spec.kind, spec.content(content)), spec.kind, at)
            for seq, h, at, *content in rows
        ]
        marks = ", ".join(["%s"] * 5)
        store.maintain(
            [(f"INSERT INTO pruned_links (chain_seq, hash, digest, kind, at) VALUES ({marks})",
              list(t)) for t in tombstones]
            + [(f"DELETE FROM {spec.table} WHERE chain_seq = %s", [t[0]]) for t in tombstones]
        )  # fmt: skip
        pruned += len(rows)
        after = rows[-1][0]


def _prune_messages(store: Store, before: Millis) -> int:
    """Chained messages lose their content but keep their link and digest."""
    pruned, after = 0, -1
    while True:
        rows = store.read(
            "SELECT chain_seq, recv, topic, payload FROM messages WHERE recv < %s AND digest IS "
            f"NULL AND chain_seq > %s AND NOT {_HELD_MESSAGE} ORDER BY chain_seq LIMIT {BATCH}",
            [before, after],
        )
        if not rows:
            return pruned
        store.maintain([
            ("UPDATE messages SET payload = %s, digest = %s WHERE chain_seq = %s",
             [b"", content_digest("message", (recv, topic, as_bytes(payload))), seq])
            for seq, recv, topic, payload in rows
        ])  # fmt: skip
        pruned += len(rows)
        after = rows[-1][0]
