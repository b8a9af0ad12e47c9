"""Storage as evidence: the tables, two backends, the background writer, the chain.

``open_store`` picks the backend from a URL; ``Writer`` keeps the database off
the alert path; ``chain``, ``ledger`` and ``anchor`` make later changes show.
"""

from __future__ import annotations

from pathlib import Path

from emon.storage.base import Store
from emon.storage.postgres import PostgresStore
from emon.storage.schema import TABLES, Row, as_bytes
from emon.storage.sqlite import SqliteStore
from emon.storage.writer import Writer

__all__ = [
    "TABLES",
    "PostgresStore",
    "Row",
    "SqliteStore",
    "Store",
    "Writer",
    "as_bytes",
    "open_store",
]


def open_store(
    url: str | None, workdir: Path, timescaledb: str = "auto", compress_after_days: float = 7.0
) -> Store:
    if url is None:
        return SqliteStore(workdir / "emon.db")
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url, timescaledb, compress_after_days)
    if url.startswith("sqlite:///"):
        return SqliteStore(Path(url.removeprefix("sqlite:///")))
    raise ValueError(f"unsupported database URL {url!r} (postgresql://... or sqlite:///path)")
