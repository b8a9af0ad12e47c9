"""The production store: PostgreSQL through psycopg 3, fixes by COPY, monthly partitions."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from emon.alerts.model import ShownAlert
from emon.storage import partitions, timescale
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
from emon.timeutil import now_ms


class PostgresStore(_Reads):
    """PostgreSQL through psycopg 3; fixes arrive by COPY."""

    def maintain(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[int]:
        import psycopg

        with psycopg.connect(self.url, connect_timeout=5) as db, db.transaction():
            return [db.execute(sql, params).rowcount for sql, params in statements]

    def __init__(
        self, url: str, timescaledb: str = "auto", compress_after_days: float = 7.0
    ) -> None:
        """``timescaledb``: "auto" (hypertables for a new database where the
        extension can be used) or "off" (native monthly partitions)."""
        import psycopg

        if timescaledb not in ("auto", "off"):
            raise ValueError(f"timescaledb: expected auto or off, not {timescaledb!r}")
        self.url = url
        self.db = psycopg.connect(url, autocommit=True)
        self.timescaledb = timescaledb
        self.compress_after_days = compress_after_days
        #: how fixes and messages are laid out: "native" partitions or "timescaledb"
        self.layout = "native"
        self.timescaledb_version: str | None = None

    def _connection(self) -> Any:
        """The connection, opened again if the server dropped it."""
        import psycopg

        if self.db.closed or self.db.broken:
            self.db = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        return self.db

    def migrate(self) -> None:
        with self.db.transaction():
            self.db.execute("SELECT pg_advisory_xact_lock(424242)")
            self.layout = self._choose_layout()
            native = self.layout == "native"
            ddl = SCHEMA.format(
                blob="BYTEA", json="JSONB",
                part_recv=" PARTITION BY RANGE (recv)" if native else "",
                part_ts=" PARTITION BY RANGE (ts)" if native else "",
            )  # fmt: skip
            for statement in filter(str.strip, ddl.split(";")):
                self.db.execute(statement)
            for table in CHAINED:
                for column, kind in CHAIN_COLUMNS:
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}")
            for statement in filter(str.strip, CHAIN_INDEXES.split(";")):
                self.db.execute(statement)
            if native:
                partitions.ensure(self.db, now_ms())
            else:
                timescale.make_hypertables(self.db, self.compress_after_days)
            self.db.execute("DELETE FROM schema_version")
            self.db.execute("INSERT INTO schema_version VALUES (%s)", (SCHEMA_VERSION,))

    def _choose_layout(self) -> str:
        """TimescaleDB for a new database where it can be used; what a database
        was made with otherwise (its tables cannot change layout in place)."""
        self.timescaledb_version = timescale.available(self.db)
        made = self.db.execute("SELECT to_regclass('fixes')").fetchone()
        if made is not None and made[0] is not None:
            return "timescaledb" if timescale.in_use(self.db) else "native"
        if self.timescaledb == "auto" and self.timescaledb_version is not None:
            return "timescaledb"
        return "native"

    def describe(self) -> dict[str, Any]:
        return {"backend": "postgresql", "layout": self.layout,
                "timescaledb": self.timescaledb_version}  # fmt: skip

    def upkeep(self, now: int) -> list[str]:
        """The months ahead of ``now`` (and any the default holds rows of);
        hypertables make their chunks themselves."""
        import psycopg

        if self.layout != "native":
            return []
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as db:
            return partitions.ensure(db, now)

    def drop_expired_months(self, fixes_before: int, messages_before: int) -> list[str]:
        import psycopg

        drop = partitions.drop_expired if self.layout == "native" else timescale.drop_expired
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as db:
            return drop(db, "fixes", fixes_before) + drop(db, "messages", messages_before)

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
