"""Removing rows past their retention, not what holds keep (the SQL of it).

What is kept how long is the service's policy (emon/service/retention.py);
this module only knows how: chained rows leave their link and content digest
in ``pruned_links`` so the evidence chain still verifies across them, and
chained messages lose their content but keep their link and digest.
"""

from __future__ import annotations

from dataclasses import dataclass

from emon.storage.base import Store
from emon.storage.chain import content_digest
from emon.storage.holds import HELD_FIX, HELD_MESSAGE
from emon.storage.ledger import FIXES, NOTIFICATION_CHANGES, Chained
from emon.storage.schema import as_bytes
from emon.timeutil import Millis

#: rows read and removed per transaction (a long one would hold the writer up)
BATCH = 5000


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """For each kind of row, the time (ms) before which it goes."""

    messages: Millis
    fixes: Millis
    rejections: Millis
    notifications: Millis
    audit: Millis


def prune(store: Store, cut: Cutoffs) -> dict[str, int]:
    """Remove what is older than its cutoff and not held. Returns counts.

    Whole months go first where the store is partitioned and no hold reaches
    into them (``partitions.drop_expired``); rows are deleted one by one only
    in what is left, which is what holds keep months of."""
    months = store.drop_expired_months(cut.fixes, cut.messages)
    pruned_fixes = _prune_rows(store, FIXES, f"ts < %s AND NOT {HELD_FIX}", cut.fixes)
    pruned_notes = _prune_rows(store, NOTIFICATION_CHANGES, "at < %s", cut.notifications)
    deleted = store.maintain([
        (f"DELETE FROM fixes WHERE ts < %s AND NOT {HELD_FIX}", [cut.fixes]),
        ("DELETE FROM rejections WHERE recv < %s", [cut.rejections]),
        ("DELETE FROM notifications WHERE sent_at < %s AND (acked_at IS NOT NULL OR escalated)",
         [cut.notifications]),
        ("DELETE FROM audit WHERE at < %s", [cut.audit]),
        (f"DELETE FROM messages WHERE recv < %s AND chain_seq IS NULL AND NOT {HELD_MESSAGE}",
         [cut.messages]),
    ])  # fmt: skip
    counts = dict(zip(["fixes", "rejections", "notifications", "audit"], deleted, strict=False))
    counts["fixes"] += pruned_fixes
    counts["notification_changes"] = pruned_notes
    counts["messages"] = deleted[4] + _prune_messages(store, cut.messages)
    counts["months_dropped"] = len(months)
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
            f"NULL AND chain_seq > %s AND NOT {HELD_MESSAGE} ORDER BY chain_seq LIMIT {BATCH}",
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
