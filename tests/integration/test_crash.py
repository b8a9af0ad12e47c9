"""SIGKILL in the middle of a stream: every fix stored once, every violation alerted once."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from emon.timeutil import format_ts
from simulators.fleet import fleet_orders
from simulators.movement import offset
from tests.integration.serve import Serve
from tests.integration.test_devices import Broker


def publish_stream(
    port: int, devices: list[tuple[str, float, float]], total: int, rate: float
) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:6]}")
    client.max_inflight_messages_set(200)
    client.connect("127.0.0.1", port)
    client.loop_start()
    start = time.time()
    for k in range(total):
        device, lat, lon = devices[k % len(devices)]
        seq = k // len(devices) + 1
        fix = {
            "seq": seq,
            "ts": format_ts(int(time.time() * 1000)),
            "lat": lat,
            "lon": lon,
            "acc": 5,
        }
        client.publish(f"emon/v1/fix/{device}", json.dumps(fix), qos=1)
        time.sleep(max(0.0, start + (k + 1) / rate - time.time()))
    time.sleep(1.0)
    client.loop_stop()
    client.disconnect()


def test_sigkill_mid_stream_loses_no_fix_and_repeats_no_alert(tmp_path):
    broker = Broker(tmp_path)
    broker.start()
    try:
        orders = fleet_orders(10, seed=7)
        for order in orders:
            order["contact_ban"] = None
        # the first offender sits 500 m inside his victim's zone the whole time
        devices = []
        for i, order in enumerate(orders):
            lon, lat = order["zones"][0]["geometry"]["coordinates"]
            spot = offset(lat, lon, 0, 500 if i == 0 else 8000)
            devices.append((order["offender"]["device_id"], *spot))
        args = ("--mqtt", f"mqtt://127.0.0.1:{broker.port}")
        serve = Serve(tmp_path, *args).start()
        for order in orders:
            assert (
                serve.http.put(f"/api/v1/orders/{order['order_id']}", json=order).status_code == 200
            )
        total = 7_000  # 14 s at 500 fixes/s: killed at 11.5 s, the rest after
        publisher = threading.Thread(
            target=publish_stream, args=(broker.port, devices, total, 500.0)
        )
        publisher.start()
        time.sleep(11.5)  # the violation is raised after ~10 s of fixes inside
        raised = [
            a for a in serve.http.get("/api/v1/alerts").json() if a["type"] == "zone_violation"
        ]
        assert serve.process is not None
        serve.process.send_signal(signal.SIGKILL)  # no goodbye, no flush
        serve.process.wait(timeout=10)
        time.sleep(1.0)
        again = Serve(tmp_path, *args, client_id=serve.client_id).start()
        publisher.join(timeout=60)
        db = sqlite3.connect(tmp_path / "emon.db")
        deadline = time.time() + 30
        while time.time() < deadline:
            stored = db.execute("SELECT count(*) FROM fixes").fetchone()[0]
            if stored >= total:
                break
            time.sleep(0.5)
        distinct = db.execute(
            "SELECT count(*) FROM (SELECT DISTINCT device_id, seq FROM fixes)"
        ).fetchone()[0]
        stored = db.execute("SELECT count(*) FROM fixes").fetchone()[0]
        violations = [
            a for a in again.http.get("/api/v1/alerts").json() if a["type"] == "zone_violation"
        ]
        again.stop()
    finally:
        broker.stop()
    assert distinct == total  # every fix is there
    assert stored == total  # and only once
    assert len(raised) == 1  # raised before the crash
    assert [a["alert_id"] for a in violations] == [raised[0]["alert_id"]]  # and not again after


def test_broker_restart_mid_stream_loses_nothing(tmp_path):
    """The broker goes down and comes back: the engine reconnects by itself,
    the device agent buffers and uploads, every fix is stored once."""
    import asyncio

    from devices.ankle_monitor import AnkleMonitor

    broker = Broker(tmp_path)
    broker.start()
    try:
        order = fleet_orders(1, seed=3)[0]
        order["contact_ban"] = None
        lon, lat = order["zones"][0]["geometry"]["coordinates"]
        far = offset(lat, lon, 0, 8000)
        serve = Serve(tmp_path, "--mqtt", f"mqtt://127.0.0.1:{broker.port}").start()
        serve.http.put(f"/api/v1/orders/{order['order_id']}", json=order)
        monitor = AnkleMonitor(order["offender"]["device_id"], lambda now: (*far, 5.0),
                               port=broker.port, interval_s=0.1)  # fmt: skip

        async def drive():
            stop = asyncio.Event()
            running = asyncio.create_task(monitor.run(stop))
            await asyncio.sleep(2.0)
            broker.stop()
            await asyncio.sleep(2.0)
            broker.start()
            await asyncio.sleep(4.0)
            stop.set()
            await running

        asyncio.run(drive())
        db = sqlite3.connect(tmp_path / "emon.db")
        deadline = time.time() + 20
        while time.time() < deadline:
            stored = db.execute("SELECT count(DISTINCT seq) FROM fixes").fetchone()[0]
            if stored >= monitor.seq:
                break
            time.sleep(0.5)
        health = serve.http.get("/healthz").json()
        total = db.execute("SELECT count(*) FROM fixes").fetchone()[0]
        serve.stop()
    finally:
        broker.stop()
    assert monitor.uploaded_batches >= 1  # the device buffered through the outage
    assert stored == monitor.seq and total == monitor.seq  # all of them, once
    assert health["mqtt"] is True  # the engine is connected again
