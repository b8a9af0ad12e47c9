"""Which stored rows the evidence chain covers, and how they are read back.

Everything an evidence report draws from is chained as it is stored:
received messages, accepted fixes, every version of an order, every alert
change, every operator action and every change of a notification. Two
tables hold only the latest state (``alerts``, ``notifications``); they are
checked against the last chained change of the same alert or notification.
A row whose content retention removed leaves its digest behind (in the row,
or in ``pruned_links`` where the row itself is deleted).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from emon.storage.chain import CHAIN_BLOCK, Link, content_digest, next_hash

Row = tuple[Any, ...]
Read = Callable[[str, Sequence[Any]], list[Row]]


def _same(value: Any) -> Any:
    return value


def _float32(value: Any) -> Any:
    """REAL columns are 4-byte floats in PostgreSQL: 12.3 comes back as
    12.300000190734863. Seven significant digits read the same either way."""
    return None if value is None else format(float(value), ".7g")


def _as_bytes(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def _as_json(value: Any) -> Any:
    return value if isinstance(value, dict | list) else json.loads(value)


@dataclass(frozen=True)
class Chained:
    table: str
    kind: str
    #: the column that places a row in time (a period's bounds)
    time: str
    #: the content, in digest order, and how each is read back the same
    fields: tuple[tuple[str, Callable[[Any], Any]], ...]

    def content(self, row: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(read(value) for (_, read), value in zip(self.fields, row, strict=True))

    @property
    def columns(self) -> str:
        return ", ".join(name for name, _ in self.fields)


MESSAGES = Chained("messages", "message", "recv",
                   (("recv", int), ("topic", str), ("payload", _as_bytes)))  # fmt: skip
ALERT_CHANGES = Chained("alert_changes", "alert_change", "at",
                        (("alert_id", str), ("at", int), ("body", _as_json)))  # fmt: skip
FIXES = Chained("fixes", "fix", "recv", (
    ("device_id", str), ("seq", int), ("ts", int), ("recv", int), ("lat", float),
    ("lon", float), ("acc", _float32), ("batt", _float32),
))  # fmt: skip
ORDERS = Chained("orders", "order", "registered_at", (
    ("order_id", str), ("version", int), ("body", _as_json), ("registered_at", int),
    ("revoked_at", _same),
))  # fmt: skip
ACTIONS = Chained("actions", "action", "at", (
    ("alert_id", str), ("action", str), ("note", str), ("actor", str), ("at", int),
))  # fmt: skip
NOTIFICATION_CHANGES = Chained("notification_changes", "notification", "at", (
    ("notification_id", str), ("at", int), ("body", _as_json),
))  # fmt: skip
CHAINED = (MESSAGES, ALERT_CHANGES, FIXES, ORDERS, ACTIONS, NOTIFICATION_CHANGES)
BY_KIND = {spec.kind: spec for spec in CHAINED}


def link_fields(kind: str, row: Sequence[Any]) -> tuple[Any, ...]:
    """The content of a row about to be stored, as it will read back."""
    return BY_KIND[kind].content(row)


def head(read: Read, slot: int = 0) -> tuple[int, str] | None:
    """The last link of one chain (a cluster keeps one per worker slot)."""
    lo, hi = slot * CHAIN_BLOCK, (slot + 1) * CHAIN_BLOCK
    heads = [
        row
        for table in [spec.table for spec in CHAINED] + ["pruned_links"]
        for row in read(
            f"SELECT chain_seq, hash FROM {table} WHERE chain_seq = (SELECT max(chain_seq) "
            f"FROM {table} WHERE chain_seq > %s AND chain_seq <= %s)",
            [lo, hi],
        )
    ]
    return max(((int(seq), str(h)) for seq, h in heads if seq is not None), default=None)


def hash_at(read: Read, seq: int) -> str | None:
    for table in [spec.table for spec in CHAINED] + ["pruned_links"]:
        rows = read(f"SELECT hash FROM {table} WHERE chain_seq = %s", [seq])
        if rows:
            return str(rows[0][0])
    return None


def links(read: Read, start: int, end: int) -> list[Link]:
    """The stored links of a period, in chain order: every link numbered
    from the first to the last one stored in the period (arrival and
    processing order differ a little, so numbers, not times, bound it),
    and rows of the period that carry no link at all."""
    bounds = [
        row
        for spec in CHAINED
        for row in read(
            f"SELECT min(chain_seq), max(chain_seq) FROM {spec.table} "
            f"WHERE {spec.time} >= %s AND {spec.time} <= %s",
            [start, end],
        )
        if row[0] is not None
    ]
    bounds += [
        row
        for row in read(
            "SELECT min(chain_seq), max(chain_seq) FROM pruned_links WHERE at >= %s AND at <= %s",
            [start, end],
        )
        if row[0] is not None
    ]
    found: list[Link] = []
    if bounds:
        lo, hi = min(b[0] for b in bounds), max(b[1] for b in bounds)
        found += _links(read, "chain_seq >= %s AND chain_seq <= %s", [lo, hi])
        found += [
            Link(int(seq), kind, (), h, int(at), digest)
            for seq, h, digest, kind, at in read(
                "SELECT chain_seq, hash, digest, kind, at FROM pruned_links "
                "WHERE chain_seq >= %s AND chain_seq <= %s",
                [lo, hi],
            )
        ]
    found += _links(read, "chain_seq IS NULL AND {time} >= %s AND {time} <= %s", [start, end])
    return sorted(found, key=lambda link: (link.seq is not None, link.seq or 0))


def _links(read: Read, where: str, params: list[Any]) -> list[Link]:
    out = []
    for spec in CHAINED:
        digest = "digest" if spec is MESSAGES else "NULL"
        rows = read(
            f"SELECT chain_seq, hash, {digest}, {spec.columns} FROM {spec.table} WHERE "
            + where.format(time=spec.time),
            params,
        )
        time_at = [name for name, _ in spec.fields].index(spec.time)
        for seq, h, pruned, *content in rows:
            fields = spec.content(content)
            out.append(Link(seq, spec.kind, fields, h, int(content[time_at]), pruned))
    return out


def latest_state_problems(read: Read, start: int, end: int) -> list[dict[str, Any]]:
    """``alerts`` and ``notifications`` hold each one's latest state: it must
    be the last chained change of that alert or notification."""
    problems: list[dict[str, Any]] = []
    alerts = read(
        "SELECT a.alert_id, a.body, (SELECT c.body FROM alert_changes c WHERE c.alert_id = "
        "a.alert_id ORDER BY c.chain_seq DESC LIMIT 1) FROM alerts a "
        "WHERE a.updated_at >= %s AND a.updated_at <= %s",
        [start, end],
    )
    for alert_id, body, last in alerts:
        if last is None:
            problems.append({"table": "alerts", "id": alert_id, "problem": "unchained"})
        elif _as_json(body) != _as_json(last):
            problems.append({"table": "alerts", "id": alert_id, "problem": "altered"})
    notifications = read(
        "SELECT n.notification_id, n.alert_id, n.device_id, n.level, n.text, n.sent_at, "
        "n.attempts, n.acked_at, n.escalated, (SELECT c.body FROM notification_changes c WHERE "
        "c.notification_id = n.notification_id ORDER BY c.chain_seq DESC LIMIT 1) "
        "FROM notifications n WHERE n.sent_at >= %s AND n.sent_at <= %s",
        [start, end],
    )
    for *row, last in notifications:
        if last is None:
            problems.append({"table": "notifications", "id": row[0], "problem": "unchained"})
        elif notification_body(row) != _as_json(last):
            problems.append({"table": "notifications", "id": row[0], "problem": "altered"})
    return problems


NOTIFICATION_FIELDS = ("notification_id", "alert_id", "device_id", "level", "text", "sent_at",
                       "attempts", "acked_at", "escalated")  # fmt: skip


def notification_body(row: Sequence[Any]) -> dict[str, Any]:
    """A notification row as the JSON its chained change holds."""
    body = dict(zip(NOTIFICATION_FIELDS, row, strict=True))
    body["escalated"] = bool(body["escalated"])
    for key in ("sent_at", "attempts", "acked_at"):
        body[key] = None if body[key] is None else int(body[key])
    return body


ShownRow = tuple[str, int | None, str | None, Sequence[Any]]


def check_rows(read: Read, rows: Sequence[ShownRow]) -> dict[str, Any]:
    """Verify exactly these rows (what a report shows): (kind, chain_seq,
    hash, content as stored). Each must carry a link whose hash follows
    from the link before it and from this very content."""
    problems: list[dict[str, Any]] = []
    for kind, seq, stored_hash, content in rows:
        if seq is None or stored_hash is None:
            problems.append({"kind": kind, "problem": "unchained"})
            continue
        previous = hash_at(read, int(seq) - 1) if int(seq) > 1 else "0" * 64
        if previous is None:  # the link before it was deleted: this one cannot be checked
            problems.append({"kind": kind, "seq": int(seq) - 1, "problem": "missing"})
            continue
        digest = content_digest(kind, BY_KIND[kind].content(content))
        if next_hash(previous, digest) != stored_hash:
            problems.append({"kind": kind, "seq": int(seq), "problem": "altered"})
    return {"checked": len(rows), "intact": not problems, "problems": problems}


def shown_rows(read: Read, spec: Chained, where: str, params: Sequence[Any]) -> list[ShownRow]:
    """Rows of one chained table, as check_rows takes them."""
    rows = read(f"SELECT chain_seq, hash, {spec.columns} FROM {spec.table} WHERE {where}", params)
    return [(spec.kind, seq, h, tuple(content)) for seq, h, *content in rows]
