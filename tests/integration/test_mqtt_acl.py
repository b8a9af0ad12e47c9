"""Per-device credentials and ACLs in a real Mosquitto."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.integration.serve import free_port, reachable


def connect(port, user, password, received=None, topics=()):
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-{uuid.uuid4().hex[:4]}")
    client.username_pw_set(user, password)
    if received is not None:
        client.on_message = lambda c, u, m: received.append((m.topic, m.payload))
    client.connect("127.0.0.1", port)
    for topic in topics:
        client.subscribe(topic, qos=1)
    client.loop_start()
    time.sleep(0.3)
    return client


def test_devices_publish_only_as_themselves_and_read_only_their_own(tmp_path):
    if shutil.which("mosquitto") is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto is not installed")
    out = tmp_path / "auth"
    result = subprocess.run([sys.executable, "-m", "emon", "provision", "am-1", "vd-1", "vd-2", "--out", str(out)],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    creds = {
        row["user"]: row["password"] for row in csv.DictReader((out / "credentials.csv").open())
    }
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    # mosquitto started as root drops to its own user, who may not read the 0600
    # password file; a real install chowns it, the test keeps the broker as us
    import getpass

    conf.write_text(
        f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\n"
        + (out / "mosquitto-auth.conf").read_text()
    )
    broker = subprocess.Popen(
        ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.time() + 5
        while not reachable("127.0.0.1", port) and time.time() < deadline:
            time.sleep(0.05)
        engine_got: list = []
        engine = connect(port, "emon-engine", creds["emon-engine"], engine_got, ["emon/v1/fix/+"])
        victim_got: list = []
        victim = connect(
            port, "vd-1", creds["vd-1"], victim_got, ["emon/v1/notify/vd-1", "emon/v1/notify/vd-2"]
        )
        offender = connect(port, "am-1", creds["am-1"])
        om_got: list = []
        om = connect(port, "om", creds["om"], om_got,
                     ["emon/v1/reminders/om", "emon/v1/reminders/reclassering"])  # fmt: skip
        offender.publish("emon/v1/fix/am-1", json.dumps({"seq": 1}), qos=1).wait_for_publish(5)
        offender.publish("emon/v1/fix/vd-2", json.dumps({"seq": 1}), qos=1).wait_for_publish(
            5
        )  # not his
        engine.publish("emon/v1/notify/vd-1", b"mine", qos=1).wait_for_publish(5)
        engine.publish("emon/v1/notify/vd-2", b"not hers", qos=1).wait_for_publish(5)
        # the engine may send reminders (it could not under the first ACL), each to its reader
        engine.publish("emon/v1/reminders/om", b"due", qos=1).wait_for_publish(5)
        engine.publish("emon/v1/reminders/reclassering", b"theirs", qos=1).wait_for_publish(5)
        time.sleep(1.0)
        assert [t for t, _ in engine_got] == ["emon/v1/fix/am-1"]
        assert victim_got == [("emon/v1/notify/vd-1", b"mine")]
        assert om_got == [("emon/v1/reminders/om", b"due")]
        # without credentials, nothing
        stranger = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="stranger")
        assert stranger.connect("127.0.0.1", port) == 0  # TCP ok; CONNACK refuses
        stranger.loop_start()
        time.sleep(0.5)
        assert not stranger.is_connected()
        stranger.loop_stop()
        for client in (engine, victim, offender, om):
            client.loop_stop()
    finally:
        broker.terminate()
        broker.wait(timeout=10)
