"""What every store offers (the Protocol), and the reads both backends share.

Reads run on a connection of their own, so a person's read never waits on or
disturbs the writer's transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from emon.alerts.model import AlertSpan, ShownAlert
from emon.storage import ledger
from emon.storage.chain import Link
from emon.storage.schema import Row, _fixes_sql, _json, as_bytes


class Store(Protocol):
    def migrate(self) -> None: ...
    def write(self, batch: dict[str, list[Row]]) -> None: ...
    def orders(self) -> list[dict[str, Any]]: ...
    def order_versions(self) -> dict[str, int]: ...
    def alerts(self) -> list[ShownAlert]: ...
    def messages_since(self, recv: int) -> Iterator[tuple[int, str, bytes]]: ...
    def unacknowledged(self) -> list[Row]: ...
    def count(self, table: str) -> int: ...
    def fixes_between(self, device_ids: Sequence[str], start: int, end: int) -> list[Row]: ...
    def order_history(self, order_id: str) -> list[tuple[int, dict[str, Any], int, int | None]]: ...
    def messages_on(self, topics: Sequence[str], start: int, end: int) -> list[Row]: ...
    def messages_between(self, start: int, end: int) -> list[tuple[int, str, bytes]]: ...
    def order_ids(self) -> list[str]: ...
    def audit_trail(self) -> list[Row]: ...
    def notifications_to(self, device_ids: Sequence[str]) -> list[Row]: ...
    def reminders(self) -> list[dict[str, Any]]: ...
    def maintain(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[int]: ...
    def read(self, sql: str, params: Sequence[Any]) -> list[Row]: ...
    def chain_head(self, slot: int = 0) -> tuple[int, str] | None: ...
    def partition_marks(self) -> dict[int, int]: ...
    def adopt_stream(self, epoch: int) -> bool: ...
    def chain_links(self, start: int, end: int) -> list[Link]: ...
    def chain_hash(self, seq: int) -> str | None: ...
    def latest_state_problems(self, start: int, end: int) -> list[dict[str, Any]]: ...
    def check_rows(self, rows: Sequence[ledger.ShownRow]) -> dict[str, Any]: ...
    def shown_rows(
        self, spec: ledger.Chained, where: str, params: Sequence[Any]
    ) -> list[ledger.ShownRow]: ...
    def upkeep(self, now: int) -> list[str]: ...
    def drop_expired_months(self, fixes_before: int, messages_before: int) -> list[str]: ...
    def describe(self) -> dict[str, Any]: ...
    def close(self) -> None: ...


def shown_alert(body: dict[str, Any]) -> ShownAlert:
    """A stored alert with its times: the one place they are read back from
    the JSON they were stored as."""
    return ShownAlert(body, AlertSpan.from_json(body))


#: the row of ``partition_marks`` holding which stream the marks are positions in
STREAM_EPOCH = -1


class _Reads:
    """What people read (console, reports): on a connection of its own, so a
    read never waits on or disturbs the writer's transaction. Maintenance
    (retention) writes on its own connection too."""

    def read(self, sql: str, params: Sequence[Any]) -> list[Row]:
        raise NotImplementedError

    def maintain(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[int]:
        """Run statements in one transaction; the rows each changed."""
        raise NotImplementedError

    def upkeep(self, now: int) -> list[str]:
        """Make what time will need (the partitions ahead); returns what was made."""
        return []

    def drop_expired_months(self, fixes_before: int, messages_before: int) -> list[str]:
        """Drop whole months past retention that no hold reaches into."""
        return []

    def describe(self) -> dict[str, Any]:
        """What the store is and how it lays out its tables (for /healthz and the log)."""
        return {"backend": "sqlite", "layout": "single file", "timescaledb": None}

    def fixes_between(self, device_ids: Sequence[str], start: int, end: int) -> list[Row]:
        return self.read(_fixes_sql(len(device_ids)), [*device_ids, start, end])

    def order_history(self, order_id: str) -> list[tuple[int, dict[str, Any], int, int | None]]:
        """Every version of an order: (version, body, registered_at, revoked_at)."""
        rows = self.read(
            "SELECT version, body, registered_at, revoked_at FROM orders "
            "WHERE order_id = %s ORDER BY version",
            [order_id],
        )
        return [(int(v), _json(b), int(r), None if x is None else int(x)) for v, b, r, x in rows]

    def messages_between(self, start: int, end: int) -> list[tuple[int, str, bytes]]:
        rows = self.read(
            "SELECT recv, topic, payload FROM messages WHERE recv >= %s AND recv <= %s "
            "ORDER BY chain_seq, recv",
            [start, end],
        )
        return [(int(r), t, as_bytes(p)) for r, t, p in rows]

    def reminders(self) -> list[dict[str, Any]]:
        return [_json(body) for (body,) in self.read("SELECT body FROM reminders ORDER BY at", [])]

    def order_ids(self) -> list[str]:
        return [i for (i,) in self.read("SELECT DISTINCT order_id FROM orders ORDER BY 1", [])]

    def audit_trail(self) -> list[Row]:
        """Every read of protected data: (at, actor, role, action, subject)."""
        return self.read("SELECT at, actor, role, action, subject FROM audit ORDER BY at", [])

    def notifications_to(self, device_ids: Sequence[str]) -> list[Row]:
        """What these devices were sent: (device_id, level, text, sent_at, acked_at)."""
        if not device_ids:
            return []
        marks = ", ".join(["%s"] * len(device_ids))
        return self.read(
            f"SELECT device_id, level, text, sent_at, acked_at FROM notifications "
            f"WHERE device_id IN ({marks}) ORDER BY sent_at",
            list(device_ids),
        )

    def messages_on(self, topics: Sequence[str], start: int, end: int) -> list[Row]:
        """Raw messages on these topics, with their chain links."""
        marks = ", ".join(["%s"] * len(topics))
        rows = self.read(
            f"SELECT recv, topic, payload, chain_seq, hash FROM messages "
            f"WHERE topic IN ({marks}) AND recv >= %s AND recv <= %s ORDER BY recv",
            [*topics, start, end],
        )
        return [(int(r), t, as_bytes(p), q, h) for r, t, p, q, h in rows]

    # -- the evidence chain (which rows, and how: emon/service/ledger.py) -------------
    def chain_head(self, slot: int = 0) -> tuple[int, str] | None:
        return ledger.head(self.read, slot)

    def partition_marks(self) -> dict[int, int]:
        """Partition -> the stream sequence up to which its messages are stored
        (written in the same transaction as the messages: see emon/cluster)."""
        rows = self.read("SELECT part, seq FROM partition_marks WHERE part >= 0", [])
        return {int(p): int(s) for p, s in rows}

    def adopt_stream(self, epoch: int) -> bool:
        """The marks are positions in one stream, the one created at ``epoch``
        (ms): those of another (a stream made again, a new NATS cluster on the
        same database) would skip its first messages, so they are dropped.
        True if they were. Safe for workers starting at once: a worker that
        finds the epoch already adopted deletes nothing."""
        adopted = f"EXISTS (SELECT 1 FROM partition_marks WHERE part = {STREAM_EPOCH} AND seq = %s)"
        deleted, _ = self.maintain([
            (f"DELETE FROM partition_marks WHERE part >= 0 AND NOT {adopted}", [epoch]),
            (f"INSERT INTO partition_marks (part, seq) VALUES ({STREAM_EPOCH}, %s) "
             "ON CONFLICT (part) DO UPDATE SET seq = excluded.seq", [epoch]),
        ])  # fmt: skip
        return deleted > 0

    def chain_hash(self, seq: int) -> str | None:
        return ledger.hash_at(self.read, seq)

    def chain_links(self, start: int, end: int) -> list[Link]:
        return ledger.links(self.read, start, end)

    def latest_state_problems(self, start: int, end: int) -> list[dict[str, Any]]:
        return ledger.latest_state_problems(self.read, start, end)

    def check_rows(self, rows: Sequence[ledger.ShownRow]) -> dict[str, Any]:
        return ledger.check_rows(self.read, rows)

    def shown_rows(
        self, spec: ledger.Chained, where: str, params: Sequence[Any]
    ) -> list[ledger.ShownRow]:
        return ledger.shown_rows(self.read, spec, where, params)
