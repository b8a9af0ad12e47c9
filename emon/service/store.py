"""Storage as evidence: SQLite (embedded default) or PostgreSQL (psycopg 3).

Everything is written by one background writer (``Writer``), never on the
alert path: a slow or absent database delays no alert. Writes that fail are
spooled to a file and written when the database is back. On PostgreSQL the
high-volume tables (raw messages, fixes) are range-partitioned by month
(native partitioning; TimescaleDB is not assumed).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from emon.service import ledger
from emon.service.chain import Link

log = logging.getLogger("emon.store")

Row = tuple[Any, ...]
TABLES: dict[str, tuple[str, ...]] = {
    "messages": ("recv", "topic", "payload", "chain_seq", "hash"),
    "rejections": ("recv", "topic", "reason", "detail", "payload"),
    "fixes": ("device_id", "seq", "ts", "recv", "lat", "lon", "acc", "batt", "chain_seq", "hash"),
    "orders": ("order_id", "version", "body", "registered_at", "revoked_at", "chain_seq", "hash"),
    "alert_changes": ("alert_id", "at", "body", "chain_seq", "hash"),
    "alerts": ("alert_id", "body", "updated_at"),
    "notifications": (
        "notification_id", "alert_id", "device_id", "level", "text", "sent_at", "attempts",
        "acked_at", "escalated",
    ),
    "actions": ("alert_id", "action", "note", "actor", "at", "chain_seq", "hash"),
    "notification_changes": ("notification_id", "at", "body", "chain_seq", "hash"),
    "pruned_links": ("chain_seq", "hash", "digest", "kind", "at"),
    "audit": ("at", "actor", "role", "action", "subject", "detail"),
    "holds": ("hold_id", "device_id", "lo", "hi", "subject", "reason"),
    "reminders": ("reminder_id", "order_id", "body", "at"),
}  # fmt: skip
UPSERT_KEYS = {
    "alerts": "alert_id", "notifications": "notification_id", "holds": "hold_id",
    "reminders": "reminder_id",
}  # fmt: skip

SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS messages (recv BIGINT NOT NULL, topic TEXT NOT NULL, payload {blob} NOT NULL){part_recv};
CREATE TABLE IF NOT EXISTS rejections (recv BIGINT NOT NULL, topic TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT, payload {blob});
CREATE TABLE IF NOT EXISTS fixes (device_id TEXT NOT NULL, seq BIGINT NOT NULL, ts BIGINT NOT NULL, recv BIGINT NOT NULL, lat DOUBLE PRECISION NOT NULL, lon DOUBLE PRECISION NOT NULL, acc REAL, batt REAL){part_ts};
CREATE TABLE IF NOT EXISTS orders (order_id TEXT NOT NULL, version INTEGER NOT NULL, body {json} NOT NULL, registered_at BIGINT NOT NULL, revoked_at BIGINT, PRIMARY KEY (order_id, version));
CREATE TABLE IF NOT EXISTS alerts (alert_id TEXT PRIMARY KEY, body {json} NOT NULL, updated_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS alert_changes (alert_id TEXT NOT NULL, at BIGINT NOT NULL, body {json} NOT NULL);
CREATE TABLE IF NOT EXISTS notifications (notification_id TEXT PRIMARY KEY, alert_id TEXT NOT NULL, device_id TEXT NOT NULL, level TEXT NOT NULL, text TEXT NOT NULL, sent_at BIGINT NOT NULL, attempts INTEGER NOT NULL, acked_at BIGINT, escalated BOOLEAN NOT NULL);
CREATE TABLE IF NOT EXISTS actions (alert_id TEXT NOT NULL, action TEXT NOT NULL, note TEXT NOT NULL, actor TEXT NOT NULL, at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (at BIGINT NOT NULL, actor TEXT NOT NULL, role TEXT NOT NULL, action TEXT NOT NULL, subject TEXT NOT NULL, detail TEXT);
CREATE TABLE IF NOT EXISTS reminders (reminder_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, body {json} NOT NULL, at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS notification_changes (notification_id TEXT NOT NULL, at BIGINT NOT NULL, body {json} NOT NULL);
CREATE TABLE IF NOT EXISTS pruned_links (chain_seq BIGINT PRIMARY KEY, hash TEXT NOT NULL, digest TEXT NOT NULL, kind TEXT NOT NULL, at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS holds (hold_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, lo BIGINT NOT NULL, hi BIGINT NOT NULL, subject TEXT NOT NULL, reason TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS fixes_device_ts ON fixes (device_id, ts);
CREATE INDEX IF NOT EXISTS messages_recv ON messages (recv);
CREATE INDEX IF NOT EXISTS alert_changes_alert ON alert_changes (alert_id, at);
"""
SCHEMA_VERSION = 3
#: version 2: received messages and alert changes are chained by hash;
#: version 3: fixes, order versions, actions and notification changes too
#: ``digest``: the content digest, kept when retention removes a row's content
CHAIN_COLUMNS = (("chain_seq", "BIGINT"), ("hash", "TEXT"), ("digest", "TEXT"))
CHAINED = tuple(spec.table for spec in ledger.CHAINED)
CHAIN_INDEXES = (
    "".join(
        f"CREATE INDEX IF NOT EXISTS {table}_chain ON {table} (chain_seq);\n" for table in CHAINED
    )
    + "CREATE INDEX IF NOT EXISTS notification_changes_id ON notification_changes (notification_id, chain_seq);\n"
)


class Store(Protocol):
    def migrate(self) -> None: ...
    def write(self, batch: dict[str, list[Row]]) -> None: ...
    def orders(self) -> list[dict[str, Any]]: ...
    def order_versions(self) -> dict[str, int]: ...
    def alerts(self) -> list[dict[str, Any]]: ...
    def messages_since(self, recv: int) -> Iterator[tuple[int, str, bytes]]: ...
    def unacknowledged(self) -> list[Row]: ...
    def count(self, table: str) -> int: ...
    def fixes_between(self, device_ids: Sequence[str], start: int, end: int) -> list[Row]: ...
    def order_history(self, order_id: str) -> list[tuple[int, dict[str, Any], int, int | None]]: ...
    def messages_on(self, topics: Sequence[str], start: int, end: int) -> list[Row]: ...
    def messages_between(self, start: int, end: int) -> list[tuple[int, str, bytes]]: ...
    def order_ids(self) -> list[str]: ...
    def reminders(self) -> list[dict[str, Any]]: ...
    def maintain(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[int]: ...
    def read(self, sql: str, params: Sequence[Any]) -> list[Row]: ...
    def chain_head(self) -> tuple[int, str] | None: ...
    def chain_links(self, start: int, end: int) -> list[Link]: ...
    def chain_hash(self, seq: int) -> str | None: ...
    def latest_state_problems(self, start: int, end: int) -> list[dict[str, Any]]: ...
    def check_rows(self, rows: Sequence[ledger.ShownRow]) -> dict[str, Any]: ...
    def shown_rows(
        self, spec: ledger.Chained, where: str, params: Sequence[Any]
    ) -> list[ledger.ShownRow]: ...
    def close(self) -> None: ...


class _Reads:
    """What people read (console, reports): on a connection of its own, so a
    read never waits on or disturbs the writer's transaction. Maintenance
    (retention) writes on its own connection too."""

    def read(self, sql: str, params: Sequence[Any]) -> list[Row]:
        raise NotImplementedError

    def maintain(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[int]:
        """Run statements in one transaction; the rows each changed."""
        raise NotImplementedError

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
    def chain_head(self) -> tuple[int, str] | None:
        return ledger.head(self.read)

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


class SqliteStore(_Reads):
    """The embedded default: one file, no server."""

    def maintain(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[int]:
        with contextlib.closing(sqlite3.connect(self.path, timeout=30)) as db, db:
            return [
                db.execute(sql.replace("%s", "?"), params).rowcount for sql, params in statements
            ]

    placeholder = "?"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")

    def migrate(self) -> None:
        ddl = SCHEMA.format(blob="BLOB", json="TEXT", part_recv="", part_ts="")
        self.db.executescript(ddl)
        for table in CHAINED:
            have = {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}
            for column, kind in CHAIN_COLUMNS:
                if column not in have:
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        self.db.executescript(CHAIN_INDEXES)
        self.db.execute("DELETE FROM schema_version")
        self.db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))

    def write(self, batch: dict[str, list[Row]]) -> None:
        with self.db:  # one transaction
            self.db.execute("BEGIN")
            for table, rows in batch.items():
                if rows:
                    self.db.executemany(_insert_sql(table, "?"), rows)

    def orders(self) -> list[dict[str, Any]]:
        return [json.loads(body) for (body,) in self.db.execute(_LATEST_ORDERS)]

    def order_versions(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT order_id, max(version) FROM orders GROUP BY order_id"))

    def alerts(self) -> list[dict[str, Any]]:
        return [json.loads(b) for (b,) in self.db.execute("SELECT body FROM alerts")]

    def messages_since(self, recv: int) -> Iterator[tuple[int, str, bytes]]:
        query = "SELECT recv, topic, payload FROM messages WHERE recv >= ? ORDER BY rowid"
        yield from self.db.execute(query, (recv,))

    def unacknowledged(self) -> list[Row]:
        return list(self.db.execute(_UNACKNOWLEDGED))

    def count(self, table: str) -> int:
        assert table in TABLES
        return int(self.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def read(self, sql: str, params: Sequence[Any]) -> list[Row]:
        with contextlib.closing(sqlite3.connect(self.path)) as db:
            return list(db.execute(sql.replace("%s", "?"), params))

    def close(self) -> None:
        self.db.close()


class PostgresStore(_Reads):
    """PostgreSQL through psycopg 3; fixes arrive by COPY."""

    def maintain(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[int]:
        import psycopg

        with psycopg.connect(self.url, connect_timeout=5) as db, db.transaction():
            return [db.execute(sql, params).rowcount for sql, params in statements]

    def __init__(self, url: str) -> None:
        import psycopg

        self.url = url
        self.db = psycopg.connect(url, autocommit=True)

    def _connection(self) -> Any:
        """The connection, opened again if the server dropped it."""
        import psycopg

        if self.db.closed or self.db.broken:
            self.db = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        return self.db

    def migrate(self) -> None:
        ddl = SCHEMA.format(
            blob="BYTEA", json="JSONB",
            part_recv=" PARTITION BY RANGE (recv)", part_ts=" PARTITION BY RANGE (ts)",
        )  # fmt: skip
        with self.db.transaction():
            self.db.execute("SELECT pg_advisory_xact_lock(424242)")
            for statement in filter(str.strip, ddl.split(";")):
                self.db.execute(statement)
            for table in CHAINED:
                for column, kind in CHAIN_COLUMNS:
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}")
            for statement in filter(str.strip, CHAIN_INDEXES.split(";")):
                self.db.execute(statement)
            self._partitions()
            self.db.execute("DELETE FROM schema_version")
            self.db.execute("INSERT INTO schema_version VALUES (%s)", (SCHEMA_VERSION,))

    def _partitions(self) -> None:
        """Monthly partitions around now, and a default one for the rest."""
        now = datetime.now(UTC)
        for table in ("messages", "fixes"):
            for offset in (-1, 0, 1, 2):
                month = now.month - 1 + offset
                start = datetime(now.year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
                month += 1
                end = datetime(now.year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
                name = f"{table}_{start:%Y%m}"
                lo, hi = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
                exists = self.db.execute("SELECT to_regclass(%s)", (name,)).fetchone()
                if exists and exists[0] is None:
                    self.db.execute(
                        f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM ({lo}) TO ({hi})"
                    )
            self.db.execute(
                f"CREATE TABLE IF NOT EXISTS {table}_default PARTITION OF {table} DEFAULT"
            )

    def write(self, batch: dict[str, list[Row]]) -> None:
        db = self._connection()
        with db.transaction(), db.cursor() as cursor:
            for table, rows in batch.items():
                if not rows:
                    continue
                if table in ("fixes", "messages"):
                    columns = ", ".join(TABLES[table])
                    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                else:
                    cursor.executemany(_insert_sql(table, "%s"), rows)

    def orders(self) -> list[dict[str, Any]]:
        rows = self.db.execute(_LATEST_ORDERS).fetchall()
        return [_json(body) for (body,) in rows]

    def order_versions(self) -> dict[str, int]:
        rows = self.db.execute("SELECT order_id, max(version) FROM orders GROUP BY order_id")
        return {order_id: int(version) for order_id, version in rows}

    def alerts(self) -> list[dict[str, Any]]:
        return [_json(b) for (b,) in self.db.execute("SELECT body FROM alerts").fetchall()]

    def messages_since(self, recv: int) -> Iterator[tuple[int, str, bytes]]:
        with self.db.cursor() as cur:
            cur.execute(
                "SELECT recv, topic, payload FROM messages WHERE recv >= %s ORDER BY recv", (recv,)
            )
            for recv_ms, topic, payload in cur:
                yield recv_ms, topic, bytes(payload)

    def unacknowledged(self) -> list[Row]:
        return list(self.db.execute(_UNACKNOWLEDGED).fetchall())

    def count(self, table: str) -> int:
        assert table in TABLES
        row = self.db.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0]) if row else 0

    def read(self, sql: str, params: Sequence[Any]) -> list[Row]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as db:
            return list(db.execute(sql, params).fetchall())

    def close(self) -> None:
        self.db.close()


def _refused_errors() -> tuple[type[Exception], ...]:
    """Errors that mean "not these rows", as opposed to "not now"."""
    errors: list[type[Exception]] = [sqlite3.IntegrityError, sqlite3.DataError]
    try:
        import psycopg

        errors += [psycopg.errors.IntegrityError, psycopg.errors.DataError]
    except ImportError:  # pragma: no cover - psycopg is a dependency
        pass
    return tuple(errors)


REFUSED = _refused_errors()

_UNACKNOWLEDGED = f"""
SELECT {", ".join(TABLES["notifications"])} FROM notifications
WHERE acked_at IS NULL AND NOT escalated
"""

_LATEST_ORDERS = """
SELECT body FROM orders o
WHERE version = (SELECT max(version) FROM orders i WHERE i.order_id = o.order_id)
  AND revoked_at IS NULL
ORDER BY order_id
"""


def _fixes_sql(n_devices: int) -> str:
    marks = ", ".join(["%s"] * n_devices)
    return (
        f"SELECT device_id, seq, ts, recv, lat, lon, acc, batt FROM fixes "
        f"WHERE device_id IN ({marks}) AND ts >= %s AND ts <= %s ORDER BY ts"
    )


def as_bytes(value: Any) -> bytes:
    """A payload as stored (text, where somebody rewrote it in SQL, counts too)."""
    return value.encode() if isinstance(value, str) else bytes(value)


def _json(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else json.loads(value)


def _insert_sql(table: str, mark: str) -> str:
    columns = TABLES[table]
    values = ", ".join([mark] * len(columns))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})"
    key = UPSERT_KEYS.get(table)
    if key:
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
        sql += f" ON CONFLICT ({key}) DO UPDATE SET {updates}"
    return sql


def open_store(url: str | None, workdir: Path) -> Store:
    if url is None:
        return SqliteStore(workdir / "emon.db")
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url)
    if url.startswith("sqlite:///"):
        return SqliteStore(Path(url.removeprefix("sqlite:///")))
    raise ValueError(f"unsupported database URL {url!r} (postgresql://... or sqlite:///path)")


class Writer:
    """Queues writes and flushes them in the background; spools on failure."""

    def __init__(self, store: Store, spool: Path, flush_s: float = 0.2) -> None:
        self.store = store
        self.spool = spool
        self.flush_s = flush_s
        self.pending: dict[str, list[Row]] = {t: [] for t in TABLES}
        self.healthy = True
        self.written = 0
        self.refused = 0
        self.pending_acks: list[Callable[[], object]] = []
        self.refused_file = spool.with_name("emon-refused-writes.jsonl")
        self._closing = asyncio.Event()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    def add(self, table: str, rows: Sequence[Row]) -> None:
        self.pending[table].extend(rows)

    def after_durable(self, acks: Sequence[Callable[[], object]]) -> None:
        """Call these once everything added so far is stored (or spooled).

        The broker lets only so many messages wait for acknowledgement (stock
        Mosquitto: 20 per client), so waiting acks make the writer flush now
        rather than at its next tick."""
        self.pending_acks.extend(acks)
        if self.pending_acks:
            self._wake.set()

    @property
    def depth(self) -> int:
        return sum(len(rows) for rows in self.pending.values())

    async def run(self) -> None:
        """Flush every ``flush_s`` until ``close``; never cancelled mid-write,
        which would lose the batch in flight."""
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_s)
            self._wake.clear()
            await self.flush()

    async def close(self) -> None:
        self._closing.set()
        self._wake.set()
        await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            await self._flush()

    async def _flush(self) -> None:
        batch, self.pending = self.pending, {t: [] for t in TABLES}
        acks, self.pending_acks = self.pending_acks, []
        if self.spool.exists():
            if not await self._try(self._load_spool()):
                self._to_spool(batch)
                _call(acks)
                return
            self.spool.unlink()
        if any(batch.values()) and not await self._try(batch):
            self._to_spool(batch)
        _call(acks)

    async def _try(self, batch: dict[str, list[Row]]) -> bool:
        try:
            await asyncio.to_thread(self.store.write, batch)
        except REFUSED as exc:
            # the database is up but refuses these rows: write what it takes,
            # keep the refused rows aside for inspection, block nothing
            log.error("database refused a batch (%s); writing row by row", exc)
            return await self._row_by_row(batch)
        except Exception as exc:  # any other database fault: keep the data, say so
            if self.healthy:
                log.warning("database write failed, spooling to %s: %s", self.spool, exc)
            self.healthy = False
            return False
        self.written += sum(len(rows) for rows in batch.values())
        if not self.healthy:
            log.info("database back; spooled writes flushed")
        self.healthy = True
        return True

    async def _row_by_row(self, batch: dict[str, list[Row]]) -> bool:
        for table, rows in batch.items():
            for row in rows:
                try:
                    await asyncio.to_thread(self.store.write, {table: [row]})
                except REFUSED:
                    self.refused += 1
                    with self.refused_file.open("a") as out:
                        out.write(json.dumps([table, [_encode(v) for v in row]]) + "\n")
                except Exception:
                    return False
        return True

    def _to_spool(self, batch: dict[str, list[Row]]) -> None:
        with self.spool.open("a") as out:
            for table, rows in batch.items():
                for row in rows:
                    out.write(json.dumps([table, [_encode(v) for v in row]]) + "\n")
            out.flush()
            os.fsync(out.fileno())  # durable before the broker is told

    def _load_spool(self) -> dict[str, list[Row]]:
        batch: dict[str, list[Row]] = {t: [] for t in TABLES}
        for line in self.spool.read_text().splitlines():
            table, row = json.loads(line)
            batch[table].append(tuple(_decode(v) for v in row))
        return batch


def _call(acks: list[Callable[[], object]]) -> None:
    for ack in acks:
        with contextlib.suppress(Exception):  # a connection gone since: redelivered instead
            ack()


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "b64" in value:
        return base64.b64decode(value["b64"])
    return value
