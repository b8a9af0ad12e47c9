"""MQTT identity under the provisioned Mosquitto config: a stolen device
password cannot take the engine's session, and the broker starts as it
would in production (dropping from root to its own user)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from emon.timeutil import format_ts
from simulators.movement import offset
from tests.integration.serve import LAT, LON, Broker, Serve, free_port, order_for, reachable

FIXES = 200


def provision(out: Path, *devices: str) -> dict[str, str]:
    if shutil.which("mosquitto") is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto is not installed")
    result = subprocess.run([sys.executable, "-m", "emon", "provision", *devices, "--out", str(out)],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return {r["user"]: r["password"] for r in csv.DictReader((out / "credentials.csv").open())}


def test_a_device_password_with_the_engines_client_id_takes_nothing(tmp_path: Path) -> None:
    creds = provision(tmp_path / "auth", "am-1", "am-id", "vd-id")
    broker = Broker(tmp_path, settings=(tmp_path / "auth" / "mosquitto-auth.conf").read_text())
    broker.start()
    serve = Serve(tmp_path, "--mqtt",
                  f"mqtt://emon-engine:{creds['emon-engine']}@127.0.0.1:{broker.port}",
                  client_id="emon-engine")  # the default, and what the thief uses  # fmt: skip
    serve.mqtt_port = broker.port
    serve.start()
    stop = threading.Event()
    takeovers = 0

    def attacker() -> None:
        """am-1's stolen password, the engine's client id, reconnecting all the time."""
        nonlocal takeovers
        while not stop.is_set():
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="emon-engine")
            client.username_pw_set("am-1", creds["am-1"])
            try:
                client.connect("127.0.0.1", broker.port)
                client.loop_start()
                time.sleep(0.15)
                takeovers += 1
            finally:
                client.loop_stop()
                client.disconnect()

    try:
        assert serve.http.put("/api/v1/orders/OM-id", json=order_for("id")).json()["registered"]
        thief = threading.Thread(target=attacker)
        thief.start()
        device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="am-id")
        device.username_pw_set("am-id", creds["am-id"])
        device.connect("127.0.0.1", broker.port)
        device.loop_start()
        start = int(time.time() * 1000) - FIXES * 1000
        for seq in range(1, FIXES + 1):
            lat, lon = offset(LAT, LON, 90, 6000 + seq)  # far from the zone: no alerts
            fix = {"seq": seq, "ts": format_ts(start + seq * 1000), "lat": lat, "lon": lon}
            device.publish("emon/v1/fix/am-id", json.dumps(fix), qos=1).wait_for_publish(5)
            time.sleep(0.03)
        device.loop_stop()
        device.disconnect()
        stop.set()
        thief.join(timeout=10)
        assert takeovers >= 5  # the engine was challenged all through the stream
        deadline, stored = time.time() + 20, 0
        while time.time() < deadline and stored < FIXES:
            with sqlite3.connect(tmp_path / "emon.db") as db:
                stored = db.execute(
                    "SELECT COUNT(*) FROM fixes WHERE device_id = 'am-id'"
                ).fetchone()[0]
            time.sleep(0.2)
        assert stored == FIXES
        assert "connection lost" not in serve.log.read_text()
    finally:
        stop.set()
        serve.stop()
        broker.stop()


def test_the_provisioned_broker_starts_as_its_own_user_and_takes_logins() -> None:
    """Started as root without a `user` line, Mosquitto drops to `mosquitto`:
    it must still read the 0600 password file that provision wrote."""
    if os.geteuid() != 0:
        pytest.skip("only root can start Mosquitto the way a service manager does")
    folder = Path(tempfile.mkdtemp(prefix="emon-broker-"))
    folder.chmod(0o755)  # the broker's user must reach the files in it
    try:
        creds = provision(folder / "auth", "vd-own")
        (folder / "auth").chmod(0o755)
        port = free_port()
        conf = folder / "mosquitto.conf"
        conf.write_text(f"listener {port} 127.0.0.1\npersistence false\n"
                        + (folder / "auth" / "mosquitto-auth.conf").read_text())  # fmt: skip
        broker = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)  # fmt: skip
        try:
            deadline = time.time() + 5
            while not reachable("127.0.0.1", port) and time.time() < deadline:
                assert broker.poll() is None, broker.stderr.read() if broker.stderr else ""
                time.sleep(0.05)
            connected = threading.Event()
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="vd-own")
            client.username_pw_set("vd-own", creds["vd-own"])
            client.on_connect = lambda c, u, f, rc, p: rc == 0 and connected.set()
            client.connect("127.0.0.1", port)
            client.loop_start()
            assert connected.wait(5), "the provisioned login was refused"
            client.loop_stop()
            client.disconnect()
        finally:
            broker.terminate()
            broker.wait(timeout=10)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
