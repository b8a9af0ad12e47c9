"""A flood above capacity: back-pressure, bounded memory, clear metrics, nothing dropped.

A fleet that went dark reconnects at once: 20,000 buffered fixes wait in the
broker while emon is down, and 10,000 more arrive live while it catches up,
through a Mosquitto configured as shipped (deploy/mosquitto.conf). emon's
messages are acknowledged to the broker only once stored, so the broker's
in-flight window bounds what emon holds: the rest waits in the broker for
emon's persistent session, none is dropped, and memory stays bounded. A violation in the middle of it is still alerted, once.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
import uuid

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from emon.timeutil import format_ts
from simulators.movement import offset
from simulators.scenarios import ROTTERDAM, base_order
from tests.integration.serve import Broker, Device, Serve, approach, need_service, order_for

DEVICES = 40
BUFFERED, LIVE = 500, 250  # fixes per device
DEPLOY = "max_queued_messages 6000000\nmax_queued_bytes 0\nmax_inflight_messages 1000\n"


def fleet_order(k: int) -> dict:
    order = base_order(ROTTERDAM)
    order["order_id"], order["case_id"] = f"OM-FLOOD-{k}", f"ZAAK-FLOOD-{k}"
    order["offender"]["device_id"] = f"am-flood-{k}"
    order["victims"][0]["device_id"] = f"vd-flood-{k}"
    order["contact_ban"] = None
    return order


def blast(port: int, first_seq: int, per_device: int, start_ms: int) -> None:
    """Publish per_device fixes for every fleet device, QoS 1, from 4 clients."""

    def worker(devices: range) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"p-{uuid.uuid4().hex[:6]}")
        client.max_inflight_messages_set(500)
        client.max_queued_messages_set(0)
        client.connect("127.0.0.1", port)
        client.loop_start()
        far = offset(*ROTTERDAM, 90, 5000)  # 5 km from every zone: no alerts
        infos = []
        for n in range(per_device):
            ts = format_ts(start_ms + n * 1000)
            for k in devices:
                fix = {"seq": first_seq + n, "ts": ts, "lat": far[0], "lon": far[1], "acc": 10}
                infos.append(client.publish(f"emon/v1/fix/am-flood-{k}", json.dumps(fix), qos=1))
        for info in infos:
            info.wait_for_publish(120)
        client.loop_stop()
        client.disconnect()

    threads = [threading.Thread(target=worker, args=(range(w, DEVICES, 4),)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def metric(serve: Serve, name: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{serve.http_port}/metrics").text
    found = re.search(rf"^{name} ([0-9.e+]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def peak_memory_mb(serve: Serve) -> float:
    assert serve.process is not None
    status = open(f"/proc/{serve.process.pid}/status").read()  # noqa: SIM115
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


def test_a_reconnecting_fleet_above_capacity_loses_nothing(tmp_path):
    need_service("Mosquitto binary", "127.0.0.1", 1883)
    broker = Broker(tmp_path, DEPLOY)
    broker.start()
    env = {"EMON_QUEUE_LIMIT": "200"}
    mqtt_url = f"mqtt://127.0.0.1:{broker.port}"
    serve = Serve(tmp_path, "--mqtt", mqtt_url, env=env).start()
    try:
        for k in range(DEVICES):
            assert serve.http.put(f"/api/v1/orders/OM-FLOOD-{k}", json=fleet_order(k)).is_success
        suffix = uuid.uuid4().hex[:6]
        assert serve.http.put(f"/api/v1/orders/OM-{suffix}", json=order_for(suffix)).is_success
        serve.stop()
        start = int(time.time() * 1000) - 3_600_000
        blast(broker.port, 1, BUFFERED, start)  # while emon is down: held by the broker

        serve = Serve(tmp_path, "--mqtt", mqtt_url, client_id=serve.client_id, env=env).start()
        idle_mb = peak_memory_mb(serve)
        # more than it can take at once: the backlog waits in the broker, not in emon
        assert metric(serve, "emon_fixes_total") < DEVICES * BUFFERED
        live = threading.Thread(target=blast, args=(broker.port, BUFFERED + 1, LIVE, start))
        live.start()
        offender = Device(broker.port)
        approach(offender, suffix, [3000, 1400, 900, 600, 500])  # a real violation in the flood
        offender.close()
        live.join()

        total = DEVICES * (BUFFERED + LIVE) + 5
        deadline = time.time() + 180
        while time.time() < deadline and metric(serve, "emon_fixes_total") < total:
            time.sleep(0.5)
        assert metric(serve, "emon_fixes_total") == total
        assert metric(serve, "emon_mqtt_queue_depth") <= 1000  # the broker's in-flight window
        assert peak_memory_mb(serve) < idle_mb + 200  # bounded: the broker holds the backlog
        alerts = [a for a in serve.http.get("/api/v1/alerts").json()
                  if a["order_id"] == f"OM-{suffix}" and a["type"] == "zone_violation"]  # fmt: skip
        assert len(alerts) == 1
        assert "Discarding" not in serve.log.read_text()
    finally:
        serve.stop()
        broker.stop()
    with sqlite3.connect(tmp_path / "emon.db") as db:
        stored, distinct = db.execute(
            "SELECT count(*), count(DISTINCT device_id || '/' || seq) FROM fixes"
        ).fetchone()
    assert stored == distinct == total  # every fix stored, exactly once
