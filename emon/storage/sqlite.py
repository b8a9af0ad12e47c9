"""The embedded default store: one SQLite file, no server."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
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
        return [_json(body) for (body,) in self.db.execute(_LATEST_ORDERS)]

    def order_versions(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT order_id, max(version) FROM orders GROUP BY order_id"))

    def alerts(self) -> list[ShownAlert]:
        return [shown_alert(json.loads(b)) for (b,) in self.db.execute("SELECT body FROM alerts")]

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
