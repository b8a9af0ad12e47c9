"""The production store: PostgreSQL through psycopg 3, fixes by COPY, monthly partitions."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from emon.alerts.model import ShownAlert
from emon.storage.base import _Reads, shown_alert
from emon.storage.schema import (
    _LATEST_ORDERS,
    _UNACKNOWLEDGED,
    CHAIN_COLUMNS,
    CHAIN_INDEXES,
    CHAINED,
    SCHEMA,
    SCHEMA_VERSION,
    TABLES,
    Row,
    _insert_sql,
    _json,
)


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

    def alerts(self) -> list[ShownAlert]:
        rows = self.db.execute("SELECT body FROM alerts").fetchall()
        return [shown_alert(_json(b)) for (b,) in rows]

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


@contextlib.contextmanager
def scratch_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A database of its own on the server at ``admin_url`` (ending in ``/``),
    dropped afterwards: for tests and benchmarks that must not see each
    other's orders, alerts or stream positions."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url + "postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield admin_url + name
    finally:
        with psycopg.connect(admin_url + "postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
