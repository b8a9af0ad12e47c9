"""A year of fixes in PostgreSQL: COPY rate, the reads a case needs, disk per device-day.

A 1,000-device fleet at a fix a minute is 525 million rows a year, too much
for the 2-core machine CI runs on; the fleet is scaled down (``--devices``)
while each device keeps its full year at a fix a minute, so every per-order
read (a month of evidence, a year of compliance, a person's export) reads
what it would read in the full fleet, and only the indexes are shallower
(one level of a b-tree for a hundredfold). Run:

    python -m benchmarks.storage_year --devices 10 --days 365

``EMON_BENCH_POSTGRES`` (admin URL) picks the server; with ``--timescaledb``
the same on hypertables (where the extension is preloaded), compressed.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from emon.alerts.model import AlertSpan, ShownAlert
from emon.review.compliance import compliance
from emon.review.export import person_export
from emon.storage import PostgresStore
from emon.storage.postgres import scratch_database
from emon.timeutil import format_ts
from simulators.scenarios import base_order

MINUTE = 60_000
DAY = 86_400_000
START = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
#: rows per COPY transaction (the writer's batches are smaller; this measures the server)
COPY_BATCH = 50_000


def fixes(devices: int, days: int) -> Iterator[tuple[Any, ...]]:
    """A fix a minute per device, in time order (as a fleet reports)."""
    for minute in range(days * 24 * 60):
        t = START + minute * MINUTE
        for d in range(devices):
            lat = 51.9 + d * 0.001 + (minute % 60) * 1e-5
            yield (f"am-{d:04d}", minute, t + d, t + d + 300, lat, 4.4, 8.0, 80.0, None, None)


def load(store: PostgresStore, devices: int, days: int) -> tuple[int, float]:
    """COPY the year in; returns (rows, seconds)."""
    if store.layout == "native":
        for month in range(0, days + 31, 28):
            store.upkeep(START + month * DAY)
    started = time.perf_counter()
    rows, batch = 0, []
    for row in fixes(devices, days):
        batch.append(row)
        if len(batch) >= COPY_BATCH:
            store.write({"fixes": batch})
            rows += len(batch)
            batch = []
    if batch:
        store.write({"fixes": batch})
        rows += len(batch)
    store.db.execute("ANALYZE fixes")
    return rows, time.perf_counter() - started


def timed(call: Any, repeats: int = 3) -> tuple[float, Any]:
    """Best of ``repeats`` in ms (the first read warms the cache as a second reader would)."""
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = call()
        best = min(best, (time.perf_counter() - started) * 1000)
    return best, result


def disk_bytes(store: PostgresStore) -> int:
    if store.layout == "timescaledb":
        row = store.db.execute("SELECT hypertable_size('fixes')").fetchone()
    else:
        row = store.db.execute(
            "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits "
            "WHERE inhparent = 'fixes'::regclass"
        ).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def year_alerts(days: int) -> list[ShownAlert]:
    """An alert a day for the order (a busy case): what compliance reads."""
    out = []
    for day in range(days):
        t = START + day * DAY + 3_600_000
        body = {"alert_id": f"A-{day}", "order_id": "OM-1", "type": "zone_violation",
                "device_id": "am-0000", "started_at": format_ts(t), "detected_at": format_ts(t),
                "ended_at": format_ts(t + 600_000), "state": "ended",
                "severity": "critical", "zone_id": "Z-1", "late": False, "details": {},
                "person_id": "P-1", "victim_person_id": "V-1"}  # fmt: skip
        out.append(ShownAlert(body, AlertSpan(t, t, t + 600_000)))
    return out


def run(devices: int, days: int, timescaledb: bool, admin: str | None = None) -> dict[str, Any]:
    admin = (
        admin or os.environ.get("EMON_BENCH_POSTGRES") or "postgresql://postgres@127.0.0.1:5432/"
    )
    with scratch_database(admin, "emon_year") as url:
        store = PostgresStore(url, timescaledb="auto" if timescaledb else "off")
        store.migrate()
        if timescaledb and store.layout != "timescaledb":
            raise SystemExit("TimescaleDB is not preloaded on this server")
        order = base_order((51.9, 4.4))  # P-1 wears am-0000: his export reads his year
        order["offender"] = {"person_id": "P-1", "device_id": "am-0000"}
        store.write({"orders": [("OM-1", 1, json.dumps(order), START, None, None, None)]})
        rows, seconds = load(store, devices, days)
        raw = disk_bytes(store)
        if store.layout == "timescaledb":
            store.db.execute("SELECT compress_chunk(c, if_not_compressed => TRUE) "
                             "FROM show_chunks('fixes') c")  # fmt: skip
        pair = ["am-0000", "am-0001"]  # an order: the offender and his victim
        month = (START + 31 * DAY, START + 62 * DAY)
        evidence_ms, got = timed(lambda: store.fixes_between(pair, *month))
        year = (START, START + days * DAY)
        stored = [(a.alert_id, json.dumps(a.body), a.span.started_at) for a in year_alerts(days)]
        store.write({"alerts": stored})

        def order_year() -> dict[str, Any]:  # as the API computes it: stored alerts, then figures
            return compliance("OM-1", store.alerts(), *year, year[1])

        compliance_ms, _ = timed(order_year)
        alerts = store.alerts()
        export_ms, exported = timed(lambda: person_export(store, alerts[:0], "P-1"), repeats=1)
        result = {
            "layout": store.layout, "devices": devices, "days": days, "rows": rows,
            "copy_rows_per_s": round(rows / seconds), "order_month_fixes": len(got),
            "order_month_ms": round(evidence_ms, 1), "order_year_compliance_ms":
            round(compliance_ms, 1), "person_export_ms": round(export_ms, 1),
            "bytes_per_device_day": round(raw / (devices * days)),
            "bytes_per_device_day_stored": round(disk_bytes(store) / (devices * days)),
            "export_keys": sorted(exported),
        }  # fmt: skip
        store.close()
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--timescaledb", action="store_true")
    args = parser.parse_args()
    print(json.dumps(run(args.devices, args.days, args.timescaledb), indent=2))


if __name__ == "__main__":
    main()


def suite(quick: bool) -> dict[str, Any]:
    """The suite's part: native partitions, and TimescaleDB where ``EMON_TIMESCALE_URL``
    (or the benchmark server) has it preloaded."""
    devices, days = (2, 60) if quick else (10, 365)
    rows = [run(devices, days, timescaledb=False)]
    timescale_server = os.environ.get("EMON_TIMESCALE_URL")
    if timescale_server:
        rows.append(run(devices, days, timescaledb=True, admin=timescale_server))
    for row in rows:
        row.pop("export_keys", None)
    return {"rows": rows}
