"""Storage that runs for years, on the machine's PostgreSQL: monthly partitions
made ahead for as long as the service runs (on a clock that runs fast), a
default partition repaired, whole months dropped by retention except where
holds keep them, and a dump restored into a fresh database that verifies."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from datetime import UTC, datetime

import pytest

from emon.engine import Message
from emon.service.retention import Retention, prune
from emon.service.runtime import Runtime
from emon.service.storage_upkeep import run_upkeep
from emon.storage import PostgresStore, Writer
from emon.storage.chain import verify_period
from emon.storage.partitions import MONTHS_AHEAD, Month, months_of
from emon.timeutil import format_ts
from simulators.movement import offset
from simulators.scenarios import ROTTERDAM, base_order
from tests.integration.serve import scratch_database

POSTGRES = "postgresql://postgres@127.0.0.1:5432/"
DAY = 86_400_000


@pytest.fixture
def store():
    with scratch_database(POSTGRES, "emon_years") as url:
        store = PostgresStore(url, timescaledb="off")  # the native partitions, wherever
        store.migrate()
        yield store
        store.close()


def ms(year: int, month: int, day: int = 1, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp() * 1000)


def rows_at(t: int, n: int, first_seq: int) -> dict[str, list[tuple]]:
    fixes = [("am-1", first_seq + k, t + k, t + k, 51.9, 4.4, 8.0, 90.0, None, None)
             for k in range(n)]  # fmt: skip
    messages = [(t + k, "emon/v1/fix/am-1", b"{}", None, None) for k in range(n)]
    return {"fixes": fixes, "messages": messages}


def in_default(store: PostgresStore) -> int:
    one = store.db.execute("SELECT count(*) FROM fixes_default").fetchone()[0]
    return int(one) + int(store.db.execute("SELECT count(*) FROM messages_default").fetchone()[0])


def test_fourteen_months_on_a_fast_clock_never_write_to_the_default(store):
    """A day a step, the upkeep once a week: every row lands in its month."""
    start = ms(2027, 1, 1)
    seq = 0
    for day in range(14 * 31):
        now = start + day * DAY
        if day % 7 == 0:
            store.upkeep(now)
        store.write(rows_at(now + 3_600_000, 3, seq))
        seq += 3
    assert in_default(store) == 0
    assert store.count("fixes") == seq
    made = months_of(store.db, "fixes")
    last = Month.at(start + (14 * 31 - 1) * DAY)
    assert made[-1] == last.shifted(MONTHS_AHEAD)  # always three months ahead
    names = {m.name("fixes") for m in made}
    assert {Month(2027, m).name("fixes") for m in range(1, 13)} <= names
    assert Month(2028, 2).name("fixes") in names


def test_the_background_upkeep_runs_on_its_clock_and_outlives_a_failure(store):
    calls = []

    def clock() -> int:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("clock fault")  # one failed round, then on
        return ms(2027, 1, 1) + len(calls) * 40 * DAY

    async def run_a_while() -> None:
        task = asyncio.create_task(run_upkeep(store, clock, period_s=0.01))
        while len(calls) < 12:
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(run_a_while())
    furthest = Month.at(ms(2027, 1, 1) + 11 * 40 * DAY).shifted(MONTHS_AHEAD)
    assert furthest in months_of(store.db, "fixes")


def test_a_default_holding_rows_is_repaired_before_its_month_is_made(store):
    far = ms(2029, 6, 15)  # beyond what is made ahead: into the default
    store.write(rows_at(far, 5, 0))
    assert in_default(store) == 10
    made = store.upkeep(ms(2029, 2, 1))  # June 2029 is now three months ahead... almost
    assert in_default(store) == 0 and "fixes_202906" in made
    assert store.count("fixes") == 5 and store.count("messages") == 5
    moved = store.db.execute("SELECT count(*) FROM fixes_202906").fetchone()[0]
    assert moved == 5


def feed(rt: Runtime, at: int, seq: int) -> None:
    lat, lon = offset(*ROTTERDAM, 270, 5000)
    fix = {"seq": seq, "ts": format_ts(at), "lat": lat, "lon": lon, "acc": 8}
    rt.process([Message(at, "emon/v1/fix/am-0001", json.dumps(fix).encode())])


def test_retention_drops_whole_months_keeps_held_ones_and_the_chain_verifies(store, tmp_path):
    """Four months of fixes every 12 hours; a hold across the edge of the
    first and second month. Past retention, the third month is dropped
    whole; the first two lose only what the hold does not cover."""
    rt = Runtime.open(store, Writer(store, tmp_path / "spool.jsonl"))
    order = base_order(ROTTERDAM, valid_from="2026-01-01T00:00:00Z",
                       valid_until="2035-01-01T00:00:00Z")  # fmt: skip
    rt.put_order(order)
    first = ms(2031, 1, 1, 6)
    for month in (Month(2031, m) for m in range(1, 5)):
        store.upkeep(month.lo)
    times = list(range(first, ms(2031, 5, 1), DAY // 2))
    for k, t in enumerate(times):
        feed(rt, t, k + 1)
    edge = ms(2031, 2, 1)
    rt.hold(order["order_id"], edge - DAY, edge + DAY, "ZAAK-77 onderzoek")
    asyncio.run(rt.writer.flush())
    assert store.count("fixes") == len(times)

    counts = prune(store, Retention(fixes_days=1, messages_days=1), ms(2031, 4, 2))
    names = {m.name("fixes") for m in months_of(store.db, "fixes")}
    assert "fixes_203103" not in names and "messages_203103" not in {
        m.name("messages") for m in months_of(store.db, "messages")
    }
    assert {"fixes_203101", "fixes_203102", "fixes_203104"} <= names
    # March of fixes and of messages, and the empty months made before 2031
    assert counts["months_dropped"] >= 2
    held = [t for t in times if edge - DAY <= t <= edge + DAY]
    april = [t for t in times if t >= ms(2031, 4, 1)]
    kept = [int(ts) for (ts,) in store.db.execute("SELECT ts FROM fixes ORDER BY ts")]
    # what is held, and April (within retention)
    assert kept == sorted(held + april)
    verdict = verify_period(store, 0, ms(2032, 1, 1))
    assert verdict.intact, verdict
    assert verdict.pruned >= 2 * (len(times) - len(kept))  # each fix and its message, digested


def test_a_dump_restored_into_a_fresh_database_verifies(store, tmp_path):
    if not shutil.which("pg_dump"):
        pytest.skip("pg_dump is not installed")
    rt = Runtime.open(store, Writer(store, tmp_path / "spool.jsonl"))
    rt.put_order(base_order(ROTTERDAM, valid_from="2026-01-01T00:00:00Z",
                            valid_until="2035-01-01T00:00:00Z"))  # fmt: skip
    start = ms(2027, 3, 1)
    store.upkeep(start)
    for k in range(20):
        feed(rt, start + k * 30_000, k + 1)
    asyncio.run(rt.writer.flush())
    dump = tmp_path / "emon.dump"
    subprocess.run(["pg_dump", "--format=custom", f"--file={dump}", store.url], check=True)
    with scratch_database(POSTGRES, "emon_restored") as url:
        subprocess.run(["pg_restore", "--no-owner", f"--dbname={url}", str(dump)], check=True)
        restored = PostgresStore(url, timescaledb="off")
        try:
            assert restored.count("fixes") == 20
            verdict = verify_period(restored, 0, start + DAY)
            assert verdict.intact and (verdict.checked, verdict.head) == (
                lambda v: (v.checked, v.head)
            )(verify_period(store, 0, start + DAY))
        finally:
            restored.close()
