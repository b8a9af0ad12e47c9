"""The TimescaleDB branch: fixes and messages as hypertables, old chunks
compressed, retention by dropping whole chunks that no hold reaches into.

Runs where the extension is installed and preloaded on the server at
``EMON_TIMESCALE_URL`` (an admin URL ending in ``/``; the machine's
PostgreSQL by default); skipped with the reason elsewhere. Debian's
PostgreSQL has no package for it: see the README (Storage) for building it.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime

import psycopg
import pytest

from emon.engine import Message
from emon.service.retention import Retention, prune
from emon.service.runtime import Runtime
from emon.storage import PostgresStore, Writer
from emon.storage import timescale as ts
from emon.storage.chain import verify_period
from emon.timeutil import format_ts
from simulators.movement import offset
from simulators.scenarios import ROTTERDAM, base_order
from tests.integration.serve import reachable

ADMIN = os.environ.get("EMON_TIMESCALE_URL", "postgresql://postgres@127.0.0.1:5432/")
DAY = 86_400_000


def _why_not() -> str | None:
    host_port = ADMIN.rsplit("@", 1)[-1].split("/", 1)[0]
    host, port = host_port.split(":") if ":" in host_port else (host_port, "5432")
    if not reachable(host, int(port)):
        return f"no PostgreSQL at {host_port}"
    with psycopg.connect(ADMIN + "postgres", autocommit=True) as db:
        if ts.available(db) is None:
            return (
                f"TimescaleDB is not installed and preloaded on {host_port} "
                "(shared_preload_libraries = 'timescaledb'); set EMON_TIMESCALE_URL to one that has it"
            )
    return None


pytestmark = pytest.mark.skipif(bool(why := _why_not()), reason=why or "")


@pytest.fixture
def store():
    from emon.storage.postgres import scratch_database

    with scratch_database(ADMIN, "emon_tsdb") as url:
        store = PostgresStore(url, compress_after_days=7)
        store.migrate()
        yield store
        store.close()


def ms(year: int, month: int, day: int = 1) -> int:
    return int(datetime(year, month, day, tzinfo=UTC).timestamp() * 1000)


def test_a_new_database_uses_hypertables_with_compression(store):
    assert store.describe()["layout"] == "timescaledb" and store.describe()["timescaledb"]
    tables = {name for (name,) in store.db.execute(
        "SELECT hypertable_name FROM timescaledb_information.hypertables")}  # fmt: skip
    assert tables == {"fixes", "messages"}
    jobs = store.db.execute(
        "SELECT hypertable_name FROM timescaledb_information.jobs "
        "WHERE proc_name = 'policy_compression'"
    ).fetchall()
    assert {name for (name,) in jobs} == {"fixes", "messages"}
    assert store.upkeep(ms(2030, 1, 1)) == []  # chunks are the extension's to make


def test_compressed_chunks_read_back_and_retention_keeps_what_holds_keep(store, tmp_path):
    rt = Runtime.open(store, Writer(store, tmp_path / "spool.jsonl"))
    order = base_order(ROTTERDAM, valid_from="2026-01-01T00:00:00Z",
                       valid_until="2035-01-01T00:00:00Z")  # fmt: skip
    rt.put_order(order)
    lat, lon = offset(*ROTTERDAM, 270, 5000)
    times = list(range(ms(2031, 1, 1), ms(2031, 5, 1), DAY // 2))
    for k, t in enumerate(times):
        fix = {"seq": k + 1, "ts": format_ts(t), "lat": lat, "lon": lon, "acc": 8}
        rt.process([Message(t, "emon/v1/fix/am-0001", json.dumps(fix).encode())])
    held_lo = ms(2031, 1, 20)
    rt.hold(order["order_id"], held_lo, held_lo + DAY, "ZAAK-77 onderzoek")
    asyncio.run(rt.writer.flush())
    chunks = store.db.execute("SELECT show_chunks('fixes')").fetchall()
    for (chunk,) in chunks:
        store.db.execute("SELECT compress_chunk(%s, if_not_compressed => TRUE)", (chunk,))
    assert store.count("fixes") == len(times)  # compressed, read back the same
    before = verify_period(store, 0, ms(2032, 1, 1))
    assert before.intact

    counts = prune(store, Retention(fixes_days=1, messages_days=1), ms(2031, 4, 1))
    assert counts["months_dropped"] >= 2  # chunks no hold reaches, of fixes and of messages
    kept = [int(t) for (t,) in store.db.execute("SELECT ts FROM fixes ORDER BY ts")]
    held = [t for t in times if held_lo <= t <= held_lo + DAY]
    assert set(held) <= set(kept)
    assert all(t >= ms(2031, 3, 1) or t in held for t in kept)
    after = verify_period(store, 0, ms(2032, 1, 1))
    assert after.intact and after.head == before.head
