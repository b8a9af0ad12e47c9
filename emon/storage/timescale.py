"""TimescaleDB where the extension exists: fixes and messages as hypertables.

What it adds over the native monthly partitions (emon/storage/partitions.py):
chunks are made by the extension as rows arrive (no upkeep, no default
partition), and chunks older than ``compress_after_days`` are compressed
(segmented by device, ordered by time: about a tenth of the space for fixes).
Retention still goes through emon, not the extension's retention policy,
which would drop chunks that evidence holds keep: a chunk past retention that
no hold reaches into is dropped whole, its chain links kept first; the rest is
pruned row by row, as on native partitions.

Detected at start-up: the extension must be installed and preloaded
(``shared_preload_libraries``). A database made with native partitions stays
native (its tables cannot become hypertables in place), and
``EMON_TIMESCALEDB=off`` keeps a new one native too.
"""

from __future__ import annotations

from typing import Any

from emon.storage.partitions import PARTITIONED, held, keep_links
from emon.timeutil import Millis

#: a chunk a month, as the native partitions (ms: the tables' times are epoch milliseconds)
CHUNK_MS = 30 * 86_400_000
#: the function hypertables with integer times ask for "now" (compression policies)
NOW_FUNCTION = """
CREATE OR REPLACE FUNCTION emon_now_ms() RETURNS BIGINT LANGUAGE SQL STABLE AS
$$ SELECT (extract(epoch FROM now()) * 1000)::BIGINT $$
"""


def available(db: Any) -> str | None:
    """The extension's version if it can be used here (installed and preloaded)."""
    row = db.execute(
        "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    if row is None:
        return None
    preload = db.execute("SHOW shared_preload_libraries").fetchone()
    if preload is None or "timescaledb" not in str(preload[0]):
        return None
    return str(row[0])


def in_use(db: Any) -> bool:
    """Whether the fixes table is a hypertable (the layout the database was made with)."""
    if db.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone() is None:
        return False
    row = db.execute(
        "SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = 'fixes'"
    ).fetchone()
    return row is not None


def make_hypertables(db: Any, compress_after_days: float) -> None:
    """Fixes and messages (just made, plain) as hypertables, compressed when old."""
    db.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    db.execute(NOW_FUNCTION)
    for table, key in PARTITIONED.items():
        db.execute(
            "SELECT create_hypertable(%s, by_range(%s, %s::BIGINT), if_not_exists => TRUE)",
            (table, key, CHUNK_MS),
        )
        db.execute("SELECT set_integer_now_func(%s, 'emon_now_ms', replace_if_exists => TRUE)",
                   (table,))  # fmt: skip
    db.execute(
        "ALTER TABLE fixes SET (timescaledb.compress, timescaledb.compress_segmentby = "
        "'device_id', timescaledb.compress_orderby = 'ts')"
    )
    db.execute(
        "ALTER TABLE messages SET (timescaledb.compress, timescaledb.compress_orderby = 'recv')"
    )
    after = int(compress_after_days * 86_400_000)
    for table in PARTITIONED:
        db.execute(
            "SELECT add_compression_policy(%s, compress_after => %s::BIGINT, "
            "if_not_exists => TRUE)",
            (table, after),
        )


def drop_expired(db: Any, table: str, before: Millis) -> list[str]:
    """Drop every chunk of ``table`` that ends by ``before`` and that no hold
    reaches into, its chain links kept in ``pruned_links``; returns the names."""
    chunks = db.execute(
        "SELECT chunk_schema, chunk_name, range_start_integer, range_end_integer "
        "FROM timescaledb_information.chunks WHERE hypertable_name = %s "
        "ORDER BY range_start_integer",
        (table,),
    ).fetchall()
    dropped = []
    for schema, name, lo, hi in chunks:
        if hi > before:
            break
        chunk = f"{schema}.{name}"
        with db.transaction():
            if held(db, table, chunk):
                continue
            keep_links(db, table, chunk)
            db.execute(
                "SELECT drop_chunks(%s, older_than => %s::BIGINT, newer_than => %s::BIGINT)",
                (table, hi, lo - 1),
            )
        dropped.append(chunk)
    return dropped
