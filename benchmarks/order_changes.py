"""Order changes while fixes flow: what one registration, replacement or
revocation costs beside 100,000 other orders, against rebuilding the engine.

    python -m benchmarks.order_changes --orders 100000

The engine is built for the fleet, every device sends its first fix, then
batches of fixes alternate with one order change each (a replaced order with
a wider zone, a revoked one, a new one with new devices, in turn). Reported:
the first build, each change's time (p50, p99, max: a batch waits at most
that long behind a change), and the baseline in the same run, the way emon
changed orders before (a new engine for every order, taking over the old
one's state), timed a few times.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from typing import Any

import numpy as np

from emon.engine import Engine
from emon.orders import parse_order
from simulators.fleet import fleet_messages, fleet_orders

#: fixes handled between two order changes (a second of a 100k-device fleet)
BATCH = 2000


def _variant(raw: dict[str, Any], step: int) -> tuple[list[Any], list[str]]:
    """(put, drop) of change number ``step``: replace, revoke, register anew."""
    kind = step % 3
    if kind == 1:
        return [], [raw["order_id"]]
    order = copy.deepcopy(raw)
    if kind == 0:
        order["zones"][0]["radius_m"] = 1500
    else:
        order["order_id"] += f"-n{step}"
        order["offender"]["device_id"] += f"-n{step}"
        order["victims"][0]["device_id"] += f"-n{step}"
    return [parse_order(order)], []


def run(n_orders: int, changes: int, rebuilds: int) -> dict[str, Any]:
    raw = fleet_orders(n_orders, seed=3)
    orders = [parse_order(o) for o in raw]
    messages = fleet_messages(raw, 2 * n_orders + changes * BATCH, seed=3, stray=0.02)
    started = time.perf_counter()
    engine = Engine(orders, start=messages[0].recv)
    first_build_s = time.perf_counter() - started
    warm = 2 * n_orders
    for i in range(0, warm, 20_000):
        engine.handle_batch(messages[i : min(warm, i + 20_000)])
    timings, batches = [], []
    for step in range(changes):
        lo = warm + step * BATCH
        began = time.perf_counter()
        engine.handle_batch(messages[lo : lo + BATCH])
        batches.append(time.perf_counter() - began)
        put, drop = _variant(raw[(step * 7919) % n_orders], step)
        began = time.perf_counter()
        engine.change_orders(put, drop)
        timings.append(time.perf_counter() - began)
    rebuild_s = []
    current = [c.order for c in engine.index.orders.values()]
    for _ in range(rebuilds):
        began = time.perf_counter()
        fresh = Engine(current, start=engine.clock)
        fresh.carry_over(engine)
        rebuild_s.append(time.perf_counter() - began)
        engine = fresh
    ms = np.array(timings) * 1000
    p99 = float(np.percentile(ms, 99))
    rebuild_ms = float(np.median(rebuild_s)) * 1000
    return {
        "orders": n_orders,
        "devices": len(engine.devices.index),
        "first_build_s": round(first_build_s, 1),
        "changes": changes,
        "change_p50_ms": round(float(np.percentile(ms, 50)), 2),
        "change_p99_ms": round(p99, 2),
        "change_max_ms": round(float(ms.max()), 2),
        "batch_p50_ms": round(float(np.percentile(batches, 50)) * 1000, 1),
        "rebuild_ms": round(rebuild_ms, 0),
        "rebuild_is_x_slower": round(rebuild_ms / p99, 0),
    }


def markdown(result: dict[str, Any]) -> list[str]:
    r = result
    return [
        f"\n## Order changes while fixes flow ({r['orders']:,} orders, {r['devices']:,} devices)\n",
        "| first build s | changes | change p50 ms | p99 ms | max ms | batch of "
        f"{BATCH:,} fixes p50 ms | baseline: rebuild and carry over ms | baseline / p99 |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {r['first_build_s']} | {r['changes']} | {r['change_p50_ms']} | "
        f"{r['change_p99_ms']} | {r['change_max_ms']} | {r['batch_p50_ms']} | "
        f"{r['rebuild_ms']:,.0f} | {r['rebuild_is_x_slower']:,.0f} |",
    ]


def suite(quick: bool) -> dict[str, Any]:
    return run(10_000 if quick else 100_000, 100 if quick else 300, 2 if quick else 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.order_changes",
                                     description=__doc__)  # fmt: skip
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=300)
    parser.add_argument("--rebuilds", type=int, default=3)
    args = parser.parse_args(argv)
    result = run(args.orders, args.changes, args.rebuilds)
    print(json.dumps(result, indent=2))
    print("\n".join(markdown(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
