"""The benchmark suite: emon against what a user would pick instead, and how cost grows.

    python -m benchmarks.suite [--quick] [--out benchmarks/results]   (or: make bench)

Writes results.json, results.md and PNG plots to --out:

1. Side by side on the same fleet and orders, from the same raw MQTT payloads:
   emon's engine core; the same evaluation as per-fix PostGIS queries (a round
   trip each, and pipelined); a naive per-fix shapely loop. Fixes/s and the
   ratio to emon.
2. End to end through Mosquitto (deploy/mosquitto.conf) into `emon serve` and
   out as victim notifications, at increasing rates until saturation: fixes/s
   sustained, loss, latency from publish to notification (p50, p99, max); then
   the same for Mosquitto and one worker, NATS and one worker, NATS and two
   workers, on PostgreSQL (EMON_BENCH_POSTGRES, default the local server).
3. How cost grows: throughput and memory against devices (1k to 1M), zones per
   offender (1 to 50), polygon vertices (4 to 10k) and contact-ban pairs, each
   point in a fresh process, with the growth exponent observed.
4. Start-up and recovery of `emon serve` with 100k active orders.
5. Order changes beside 100k orders while fixes flow, against rebuilding the
   engine (benchmarks/order_changes.py).

Numbers are for this machine (written into the results); compare ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing as mp
import os
import platform
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from benchmarks import order_changes, postgis_baseline, storage_year
from benchmarks.core_throughput import engine_run, naive_run
from simulators.fleet import fleet_messages, fleet_orders

Result = dict[str, Any]


# -- 1. side by side ------------------------------------------------------------------
def side_by_side(n_orders: int, n_fixes: int, n_slow: int) -> Result:
    orders = fleet_orders(n_orders, seed=42)
    messages = fleet_messages(orders, n_fixes, seed=42, stray=0.02)
    emon, _ = engine_run(orders, messages)
    warm = 2 * n_orders  # every device's first fix, so all sides start from positions
    slow = messages[warm : warm + n_slow]
    rows: list[Result] = [
        {"system": "emon engine core", "fixes_per_s": round(emon), "fixes": len(messages)}
    ]
    naive = naive_run(orders, slow)
    rows.append({"system": "naive shapely loop", "fixes_per_s": round(naive), "fixes": len(slow)})
    if postgis_baseline.available():
        url = postgis_baseline.setup(orders)
        for name, run in (("PostGIS, a round trip per fix", postgis_baseline.run),
                          ("PostGIS, pipelined", postgis_baseline.run_pipelined)):  # fmt: skip
            postgis_baseline.warm_up(url, messages[:warm])
            rows.append({"system": name, "fixes_per_s": round(run(url, slow)),
                         "fixes": len(slow)})  # fmt: skip
    for row in rows:
        row["emon_is_x_faster"] = round(emon / row["fixes_per_s"], 1)
    return {"orders": n_orders, "devices": 2 * n_orders, "rows": rows}


# -- 2. end to end ----------------------------------------------------------------------
def end_to_end(
    rates: list[int], seconds: float, n_orders: int, kind: str = "mosquitto", workers: int = 1,
    database: Callable[[], AbstractContextManager[str | None]] = contextlib.nullcontext,
) -> Result:  # fmt: skip
    """``database``: a fresh one for each rate (a run's orders and stream
    positions must not reach the next), or None for SQLite."""
    from benchmarks.e2e_mosquitto import run_rate

    points = []
    for rate in rates:
        with database() as url:
            point = run_rate(rate, seconds, n_orders, kind, workers, url)
        points.append(point)
        print(f"  e2e {rate}/s: {point}", flush=True)
        saturated = (
            point["lost"] > 0
            or point["achieved_rate"] < 0.95 * rate
            or (point["latency_p99_ms"] or 0) > 1000
        )
        if saturated:
            break
    sustained = [p for p in points if p["lost"] == 0 and (p["latency_p99_ms"] or 0) <= 250]
    return {
        "points": points,
        "sustained_fixes_per_s_p99_under_250ms": max(
            (p["achieved_rate"] for p in sustained), default=0
        ),
    }


# -- 2b. the cluster --------------------------------------------------------------------
#: the configurations compared, each on the same PostgreSQL
CLUSTER_CONFIGS = (("mosquitto", 1), ("nats", 1), ("nats", 2))


def cluster(rates: list[int], seconds: float, n_orders: int) -> Result:
    """Sustained fixes/s (nothing lost, p99 under 250 ms) for Mosquitto and one
    worker, NATS and one worker, NATS and two workers, in one run, each into a
    fresh PostgreSQL database (the workers of a cluster share one)."""
    from emon.storage.postgres import scratch_database

    admin_url = os.environ.get("EMON_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/")

    def fresh() -> AbstractContextManager[str]:
        return scratch_database(admin_url, "emon_bench")

    rows = []
    for kind, workers in CLUSTER_CONFIGS:
        print(f"  {kind}, {workers} worker(s)", flush=True)
        result = end_to_end(rates, seconds, n_orders, kind, workers, fresh)
        rows.append({"broker": kind, "workers": workers, **result})
    return {"rows": rows}


# -- 3. growth ---------------------------------------------------------------------------
def shaped_orders(
    n_orders: int, zones: int = 1, vertices: int | None = None, victims: int = 1
) -> list[dict[str, Any]]:
    """The fleet, with more zones, finer polygons or more victims per order."""
    orders = fleet_orders(n_orders, seed=7)
    for order in orders:
        home = order["zones"][0]
        lon, lat = home["geometry"]["coordinates"]
        extra = []
        for z in range(zones):
            cx, cy = lon + 0.03 * math.cos(z), lat + 0.02 * math.sin(z)
            if vertices:
                ring = _ring(cx, cy, 600, vertices)
                geometry: dict[str, Any] = {"type": "Polygon", "coordinates": [ring]}
                extra.append({"zone_id": f"{home['zone_id']}-{z}", "type": "exclusion",
                              "geometry": geometry, "prealert_m": 200})  # fmt: skip
            elif z:
                extra.append({"zone_id": f"{home['zone_id']}-{z}", "type": "exclusion",
                              "geometry": {"type": "Point", "coordinates": [cx, cy]},
                              "radius_m": 300})  # fmt: skip
        order["zones"] = [home, *extra]
        base = order["victims"][0]
        order["victims"] = [
            dict(base, person_id=f"{base['person_id']}-{v}", device_id=f"{base['device_id']}-{v}")
            for v in range(victims)
        ]
    return orders


def _ring(lon: float, lat: float, radius_m: float, n: int) -> list[list[float]]:
    k = np.arange(n) * 2 * np.pi / n
    dlat = radius_m / 111_320 * np.sin(k)
    dlon = radius_m / (111_320 * np.cos(np.radians(lat))) * np.cos(k)
    ring: list[list[float]] = np.column_stack([lon + dlon, lat + dlat]).round(7).tolist()
    return ring + ring[:1]


def _growth_point(kind: str, value: int, n_orders: int, fixes_per_device: int) -> Result:
    """One point, in a fresh process: throughput and resident memory."""
    import gc

    from emon.engine.core import Engine
    from emon.orders import parse_order

    options = {"zones": {"zones": value}, "vertices": {"vertices": value},
               "victims": {"victims": value}, "devices": {}}[kind]  # fmt: skip
    orders = shaped_orders(value // 2 if kind == "devices" else n_orders, **options)
    n_dev = sum(1 + len(o["victims"]) for o in orders)
    messages = _with_every_victim(
        fleet_messages(orders, 2 * len(orders) * fixes_per_device, seed=3, stray=0.02), orders
    )
    gc.collect()
    before = _rss_mb()
    started = time.perf_counter()
    engine = Engine([parse_order(o) for o in orders], start=messages[0].recv)
    build_s = time.perf_counter() - started
    for i in range(0, n_dev, 10_000):  # first fixes: warm-up
        engine.handle_batch(messages[i : min(i + 10_000, n_dev)])
    started = time.perf_counter()
    for i in range(n_dev, len(messages), 10_000):
        engine.handle_batch(messages[i : i + 10_000])
    rate = (len(messages) - n_dev) / (time.perf_counter() - started)
    return {
        kind: value,
        "devices": n_dev,
        "fixes_per_s": round(rate),
        "us_per_fix": round(1e6 / rate, 2),
        "memory_mb": round(_rss_mb() - before, 1),
        "bytes_per_device": round((_rss_mb() - before) * 2**20 / n_dev),
        "build_s": round(build_s, 2),
    }


def _with_every_victim(messages: list[Any], orders: list[dict[str, Any]]) -> list[Any]:
    """The fleet simulator moves the first victim of each order; the others
    (contact-ban pairs) move with her."""
    from emon.engine.base import Message

    extra = {o["victims"][0]["device_id"]: [v["device_id"] for v in o["victims"][1:]]
             for o in orders}  # fmt: skip
    out = []
    for m in messages:
        out.append(m)
        for device in extra.get(m.topic.rsplit("/", 1)[1], ()):
            out.append(Message(m.recv, f"emon/v1/fix/{device}", m.payload))
    return out


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def growth(kind: str, values: list[int], n_orders: int, fixes_per_device: int) -> Result:
    points = []
    context = mp.get_context("spawn")
    for value in values:
        with context.Pool(1) as pool:
            point = pool.apply(_growth_point, (kind, value, n_orders, fixes_per_device))
        print(f"  {kind}={value}: {point}", flush=True)
        points.append(point)
    slope = _exponent([p[kind] for p in points], [p["us_per_fix"] for p in points])
    memory = _exponent([p[kind] for p in points], [max(p["memory_mb"], 0.1) for p in points])
    return {
        "points": points,
        "time_per_fix_grows_as": f"O(n^{slope:.2f})",
        "memory_grows_as": f"O(n^{memory:.2f})",
    }


def _exponent(x: list[float], y: list[float]) -> float:
    """The slope of log y against log x: the growth exponent observed."""
    if len(x) < 2:
        return float("nan")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


# -- 4. start-up and recovery -----------------------------------------------------------
def _recovery_point(n_orders: int) -> Result:
    import asyncio

    from emon.service.runtime import Runtime
    from emon.storage import SqliteStore, Writer
    from emon.storage.chain import Chain
    from emon.timeutil import now_ms

    folder = Path(tempfile.mkdtemp(prefix="emon-recovery-"))
    store = SqliteStore(folder / "emon.db")
    store.migrate()
    orders = fleet_orders(n_orders, seed=11)
    for o in orders:
        o["valid_from"], o["valid_until"] = "2026-01-01T00:00:00Z", "2030-01-01T00:00:00Z"
        # a healthy fleet: the hour replayed raises no signal_lost (each device's
        # two fixes are half an hour apart, the last at most half an hour old)
        o["max_silence_s"] = 7200
    now = now_ms()
    chain = Chain()
    rows = [(o["order_id"], 1, json.dumps(dict(o, _warnings=[])), now, None, None, None)
            for o in orders]  # fmt: skip
    fixes = fleet_messages(orders, 2 * len(orders), seed=5, interval_s=1800, t0=now - 3_600_000)
    messages = [
        (m.recv, m.topic, m.payload, *chain.link("message", (m.recv, m.topic, m.payload)))
        for m in fixes
    ]
    store.write({"orders": rows, "messages": messages})
    store.close()
    started = time.perf_counter()
    store = SqliteStore(folder / "emon.db")
    store.migrate()
    runtime = Runtime.open(store, Writer(store, folder / "spool.jsonl"))
    replayed = runtime.recover(6 * 3600)
    recovered_s = time.perf_counter() - started
    runtime.tick(now_ms())
    asyncio.run(runtime.writer.flush())
    return {"orders": n_orders, "devices": 2 * n_orders, "messages_replayed": replayed,
            "recovery_s": round(recovered_s, 1), "memory_mb": round(_rss_mb(), 0)}  # fmt: skip


def recovery(n_orders: int) -> Result:
    with mp.get_context("spawn").Pool(1) as pool:
        return dict(pool.apply(_recovery_point, (n_orders,)))


# -- output -------------------------------------------------------------------------------
def plots(results: Result, out: Path) -> list[str]:
    made = []

    def figure(name: str, draw: Callable[[Any], None]) -> None:
        fig = Figure(figsize=(6.4, 4.2), dpi=110)
        draw(fig.subplots())
        fig.tight_layout()
        fig.savefig(out / name)
        made.append(name)

    e2e = results.get("end_to_end", {}).get("points", [])
    if e2e:

        def latency(ax: Any) -> None:
            x = [p["achieved_rate"] for p in e2e]
            for key, label in (("latency_p50_ms", "p50"), ("latency_p99_ms", "p99"),
                               ("latency_max_ms", "max")):  # fmt: skip
                ax.plot(x, [p[key] or np.nan for p in e2e], "o-", label=label)
            ax.set(xlabel="fixes/s published", ylabel="publish to victim notification (ms)",
                   yscale="log", title="End to end through Mosquitto")  # fmt: skip
            ax.legend()

        def sustained(ax: Any) -> None:
            x = [p["rate_target"] for p in e2e]
            ax.plot(x, [p["achieved_rate"] for p in e2e], "o-", label="published")
            ax.plot(x, [p["stored"] / max(p["published"], 1) * p["achieved_rate"] for p in e2e],
                    "s--", label="stored")  # fmt: skip
            ax.plot(x, x, ":", color="grey", label="offered")
            ax.set(xlabel="offered fixes/s", ylabel="fixes/s", title="Sustained throughput")
            ax.legend()

        figure("e2e_latency.png", latency)
        figure("e2e_throughput.png", sustained)
    labels = {"devices": "devices", "zones": "zones per offender",
              "vertices": "polygon vertices", "victims": "victims per order"}  # fmt: skip
    for kind, label in labels.items():
        points = results.get("growth", {}).get(kind, {}).get("points", [])
        if not points:
            continue

        def draw(
            ax: Any, points: list[Result] = points, kind: str = kind, label: str = label
        ) -> None:
            x = [p[kind] for p in points]
            ax.plot(x, [p["fixes_per_s"] for p in points], "o-", color="tab:blue")
            ax.set(xscale="log", xlabel=label, ylabel="fixes/s (engine core)",
                   title=f"Cost against {label}")  # fmt: skip
            twin = ax.twinx()
            twin.plot(x, [p["memory_mb"] for p in points], "s--", color="tab:orange")
            twin.set_ylabel("memory (MB)", color="tab:orange")

        figure(f"growth_{kind}.png", draw)
    return made


def markdown(results: Result) -> str:
    lines = [f"# emon benchmark results\n\n{results['machine']}; {results['when']}\n"]
    side = results.get("side_by_side")
    if side:
        lines += [f"## Side by side ({side['orders']:,} orders, {side['devices']:,} devices)\n",
                  "| system | fixes/s | emon is x faster |", "|---|---:|---:|"]  # fmt: skip
        lines += [f"| {r['system']} | {r['fixes_per_s']:,} | {r['emon_is_x_faster']} |"
                  for r in side["rows"]]  # fmt: skip
    e2e = results.get("end_to_end")
    if e2e:
        lines += ["\n## End to end through Mosquitto\n",
                  "| offered/s | published/s | stored | not stored 60 s after the end "
                  "| p50 ms | p99 ms | max ms |",
                  "|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        lines += [
            f"| {p['rate_target']:,} | {p['achieved_rate']:,} | {p['stored']:,} | {p['lost']} "
            f"| {p['latency_p50_ms']} | {p['latency_p99_ms']} | {p['latency_max_ms']} |"
            for p in e2e["points"]
        ]
        lines.append(f"\nSustained with no loss and p99 under 250 ms: "
                     f"{e2e['sustained_fixes_per_s_p99_under_250ms']:,} fixes/s.")  # fmt: skip
    clustered = results.get("cluster")
    if clustered:
        lines += ["\n## Mosquitto or NATS, one worker or two (PostgreSQL)\n",
                  "| broker | workers | sustained fixes/s (none lost, p99 < 250 ms) "
                  "| points (offered/s: p99 ms, lost) |", "|---|---:|---:|---|"]  # fmt: skip
        for row in clustered["rows"]:
            points = "; ".join(f"{p['rate_target']:,}: {p['latency_p99_ms']}, {p['lost']}"
                               for p in row["points"])  # fmt: skip
            sustained = row["sustained_fixes_per_s_p99_under_250ms"]
            lines.append(f"| {row['broker']} | {row['workers']} | {sustained:,} | {points} |")
    for kind, grown in results.get("growth", {}).items():
        lines += [f"\n## Against {kind}: time per fix {grown['time_per_fix_grows_as']}, "
                  f"memory {grown['memory_grows_as']}\n",
                  f"| {kind} | devices | fixes/s | µs/fix | memory MB | bytes/device | build s |",
                  "|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        lines += [f"| {p[kind]:,} | {p['devices']:,} | {p['fixes_per_s']:,} | {p['us_per_fix']} "
                  f"| {p['memory_mb']} | {p['bytes_per_device']:,} | {p['build_s']} |"
                  for p in grown["points"]]  # fmt: skip
    rec = results.get("recovery")
    if rec:
        lines.append(f"\n## Start-up and recovery\n\n{rec['orders']:,} active orders "
                     f"({rec['devices']:,} devices), {rec['messages_replayed']:,} stored messages "
                     f"of the last hour replayed: {rec['recovery_s']} s to serve again, "
                     f"{rec['memory_mb']:,.0f} MB resident.")  # fmt: skip
    stored = results.get("storage")
    if stored:
        lines += ["\n## Storage for a year (PostgreSQL; fleet scaled, each device a full year)\n",
                  "| layout | devices x days | rows | COPY rows/s | order-month ms | "
                  "order-year compliance ms | person export ms | bytes/device-day |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        lines += [f"| {r['layout']} | {r['devices']} x {r['days']} | {r['rows']:,} | "
                  f"{r['copy_rows_per_s']:,} | {r['order_month_ms']} | "
                  f"{r['order_year_compliance_ms']} | {r['person_export_ms']} | "
                  f"{r['bytes_per_device_day_stored']:,} |" for r in stored["rows"]]  # fmt: skip
    if results.get("order_changes"):
        lines += order_changes.markdown(results["order_changes"])
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.suite",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a few minutes")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["side", "e2e", "cluster", "growth", "recovery", "storage",
                                 "orders"],
                        help="parts not to run (their last results in --out are kept)")  # fmt: skip
    args = parser.parse_args(argv)
    quick = args.quick
    args.out.mkdir(parents=True, exist_ok=True)
    previous = args.out / "results.json"
    # a part skipped keeps its results from the last run into the same folder
    results: Result = json.loads(previous.read_text()) if previous.exists() else {}
    results |= {
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, {platform.platform()}, "
                   f"Python {platform.python_version()}",
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "quick": quick,
    }  # fmt: skip
    if "side" not in args.skip:
        print("side by side", flush=True)
        results["side_by_side"] = side_by_side(2000 if quick else 10_000,
                                               100_000 if quick else 500_000,
                                               5_000 if quick else 30_000)  # fmt: skip
    if "e2e" not in args.skip:
        print("end to end", flush=True)
        rates = [1000, 5000] if quick else [1000, 2000, 5000, 10_000, 15_000, 20_000]
        results["end_to_end"] = end_to_end(rates, 6 if quick else 15, 1000)
    if "cluster" not in args.skip:
        print("cluster", flush=True)
        rates = [2000, 5000] if quick else [2000, 5000, 10_000, 15_000]
        results["cluster"] = cluster(rates, 6 if quick else 15, 1000)
    if "growth" not in args.skip:
        print("growth", flush=True)
        devices = [1000, 10_000, 100_000] if quick else [1000, 10_000, 100_000, 1_000_000]
        results["growth"] = {
            "devices": growth("devices", devices, 0, 3),
            "zones": growth("zones", [1, 5, 10, 25, 50], 500 if quick else 2000, 20),
            "vertices": growth("vertices", [4, 64, 1024, 10_000], 200 if quick else 1000, 20),
            "victims": growth("victims", [1, 2, 5, 10], 500 if quick else 2000, 20),
        }
    if "recovery" not in args.skip:
        print("recovery", flush=True)
        results["recovery"] = recovery(10_000 if quick else 100_000)
    if "storage" not in args.skip:
        print("storage", flush=True)
        results["storage"] = storage_year.suite(quick)
    if "orders" not in args.skip:
        print("order changes", flush=True)
        results["order_changes"] = order_changes.suite(quick)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    (args.out / "results.md").write_text(markdown(results))
    made = plots(results, args.out)
    print(markdown(results))
    print(f"written to {args.out}: results.json, results.md, {', '.join(made)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
