"""Engine-core throughput against a naive per-fix shapely loop, in one run.

    python -m benchmarks.core_throughput [--orders 10000] [--fixes 1000000]

Both sides start from the same raw MQTT payloads (bytes) and the same orders:
10k orders (a 1 km circle around each victim's home with a 500 m pre-alert
ring, a polygon zone for every second order, a contact ban), 20k devices
(offender and victim per order), fixes round-robin over all devices. The naive
loop decodes each payload with ``json``, projects with one pyproj transformer,
and tests each zone with shapely and the contact distance with ``Geod``: what
a first version would do. Reported: fixes/s for each, the ratio, and the
engine's memory per monitored device. Numbers are a ratio within one run on
one machine; the absolute figures move with the machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import time
import tracemalloc
from typing import Any

import numpy as np
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import Point, shape

from emon.engine import Engine, Message
from emon.orders import parse_order
from emon.timeutil import parse_ts
from simulators.fleet import fleet_messages, fleet_orders

BATCH = 10_000


def engine_run(orders: list[dict[str, Any]], messages: list[Message]) -> tuple[float, Engine]:
    engine = Engine([parse_order(o) for o in orders], start=messages[0].recv)
    n_dev = len(engine.devices)
    for i in range(0, n_dev, BATCH):  # every device's first fix: the warm-up
        engine.handle_batch(messages[i : min(i + BATCH, n_dev)])
    gc.collect()
    start = time.perf_counter()
    for i in range(n_dev, len(messages), BATCH):
        engine.handle_batch(messages[i : i + BATCH])
    elapsed = time.perf_counter() - start
    return (len(messages) - n_dev) / elapsed, engine


def naive_run(orders: list[dict[str, Any]], messages: list[Message]) -> float:
    """Per fix: json, pyproj, shapely per zone, Geod for the contact ban."""
    to_metric = Transformer.from_crs("EPSG:4326", "EPSG:3035", always_xy=True)
    geod = Geod(ellps="WGS84")
    zones: dict[str, list[Any]] = {}
    bans: dict[str, tuple[str, float]] = {}
    for order in orders:
        offender = order["offender"]["device_id"]
        victim = order["victims"][0]["device_id"]
        shapes = []
        for z in order["zones"]:
            geom = shapely.transform(
                shape(z["geometry"]),
                lambda xy: np.column_stack(to_metric.transform(xy[:, 0], xy[:, 1])),
            )
            if z.get("radius_m"):
                geom = geom.buffer(z["radius_m"])
            shapes.append((geom, z.get("prealert_m") or 0))
        zones[offender] = shapes
        bans[offender] = (victim, order["contact_ban"]["distance_m"])
        bans[victim] = (offender, order["contact_ban"]["distance_m"])
    last: dict[str, tuple[float, float]] = {}
    start = time.perf_counter()
    hits = 0
    for message in messages:
        device = message.topic.rsplit("/", 1)[1]
        fix = json.loads(message.payload)
        parse_ts(fix["ts"])
        x, y = to_metric.transform(fix["lon"], fix["lat"])
        point = Point(x, y)
        for geom, ring in zones.get(device, ()):
            if geom.contains(point) or geom.distance(point) < ring:
                hits += 1
        other, limit = bans[device]
        if other in last:
            olon, olat = last[other]
            if geod.inv(fix["lon"], fix["lat"], olon, olat)[2] < limit:
                hits += 1
        last[device] = (fix["lon"], fix["lat"])
    return len(messages) / (time.perf_counter() - start)


def memory_per_device(orders: list[dict[str, Any]], messages: list[Message]) -> float:
    """Everything the engine holds (orders, zones, device state, episodes)
    per device, after one-off costs (imports, caches) are paid."""
    warm = Engine([parse_order(o) for o in orders[:2]], start=messages[0].recv)
    warm.handle_batch(messages[:10])
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    engine = Engine([parse_order(o) for o in orders], start=messages[0].recv)
    for i in range(0, len(messages), BATCH):
        engine.handle_batch(messages[i : i + BATCH])
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return used / len(engine.devices)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.core_throughput")
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--fixes", type=int, default=1_000_000)
    parser.add_argument("--naive-fixes", type=int, default=100_000)
    parser.add_argument("--json", help="also write the results as JSON to this file")
    args = parser.parse_args(argv)

    orders = fleet_orders(args.orders, seed=42)
    t0 = time.perf_counter()
    messages = fleet_messages(orders, args.fixes, seed=42, stray=0.02)
    print(
        f"generated {len(messages):,} fixes for {2 * args.orders:,} devices "
        f"in {time.perf_counter() - t0:.0f} s"
    )

    emon_rate, engine = engine_run(orders, messages)
    naive_rate = naive_run(orders, messages[: args.naive_fixes])
    mem_orders = orders[: max(2, args.orders // 5)]
    mem_msgs = fleet_messages(mem_orders, 20 * len(mem_orders), seed=1)
    per_device = memory_per_device(mem_orders, mem_msgs)
    fast_share = engine.stats["fast_fixes"] / max(engine.stats["fixes"], 1)
    live_state = engine.devices.state_bytes / len(engine.devices)
    alerts = len(engine.open_alerts)
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
        "orders": args.orders,
        "devices": len(engine.devices),
        "fixes": len(messages),
        "emon_fixes_per_s": round(emon_rate),
        "naive_fixes_per_s": round(naive_rate),
        "ratio": round(emon_rate / naive_rate, 1),
        "fast_path_share": round(fast_share, 3),
        "bytes_per_device": round(per_device),
        "live_state_bytes_per_device": round(live_state),
        "open_alerts_at_end": alerts,
    }
    print(f"emon core:        {emon_rate:>12,.0f} fixes/s  ({fast_share:.1%} on the fast path)")
    print(f"naive shapely:    {naive_rate:>12,.0f} fixes/s  (first {args.naive_fixes:,} fixes)")
    print(f"ratio:            {emon_rate / naive_rate:>12.1f} x")
    print(f"memory per device:{per_device:>12,.0f} bytes (all engine state incl. orders)")
    print(f"  of which live:  {live_state:>12,.0f} bytes (positions, duplicate window, liveness)")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
