"""A real OwnTracks phone as a victim device, through a provisioned Mosquitto.

The test phone behaves as the app does: it logs in with its user name, uses
the app's client id ("user device"), publishes the app's real location
payloads (integer and fractional ``tst``, ``conn``, ``vel``, ``BSSID``, ...)
to ``owntracks/{user}/{device}``, subscribes to what the app subscribes to,
and never acknowledges anything. One phone encrypts with its secret.
"""

from __future__ import annotations

import base64
import csv
import json
import queue
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from nacl.secret import SecretBox
from paho.mqtt.enums import CallbackAPIVersion

from emon.ingest.owntracks import secret_key
from tests.integration.serve import Broker, Serve, approach, order_for

SECRET = "correct horse battery"
RESEND_S = 1.0


class Phone:
    """The OwnTracks app, as far as MQTT can see it."""

    def __init__(self, port: int, user: str, device: str, password: str) -> None:
        self.base = f"owntracks/{user}/{device}"
        self.received: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{user} {device}")
        self.client.username_pw_set(user, password)
        self.client.on_message = lambda c, u, m: self.received.put((m.topic, m.payload))
        self.client.connect("127.0.0.1", port)
        for topic in ("owntracks/+/+", "owntracks/+/+/event", "owntracks/+/+/info",
                      f"{self.base}/cmd"):  # fmt: skip
            self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        time.sleep(0.3)

    def location(self, lat: float, lon: float, tst: float) -> dict[str, Any]:
        return {
            "_type": "location", "BSSID": "b0:be:83:6e:1a:2c", "SSID": "thuis", "acc": 12,
            "alt": 4, "batt": 81, "bs": 1, "cog": 0, "conn": "w", "created_at": int(tst),
            "lat": lat, "lon": lon, "m": 1, "t": "u", "tid": "ph", "tst": tst,
            "vac": 3, "vel": 0, "topic": self.base,
        }  # fmt: skip

    def publish(self, payload: dict[str, Any], key: bytes | None = None) -> None:
        body = json.dumps(payload).encode()
        if key is not None:
            box = bytes(SecretBox(key).encrypt(body))
            body = json.dumps({"_type": "encrypted", "data": base64.b64encode(box).decode()})
        self.client.publish(self.base, body, qos=1).wait_for_publish(5)

    def commands(self, wait_s: float) -> list[bytes]:
        out, deadline = [], time.time() + wait_s
        while time.time() < deadline:
            try:
                topic, payload = self.received.get(timeout=0.2)
            except queue.Empty:
                continue
            assert topic == f"{self.base}/cmd", f"the phone may read only its cmd topic: {topic}"
            out.append(payload)
        return out

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Monitor:
    """An ankle monitor with its own provisioned credentials."""

    def __init__(self, port: int, user: str, password: str) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user)
        self.client.username_pw_set(user, password)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: Any) -> None:
        self.client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def provisioned(tmp_path: Path) -> tuple[Broker, dict[str, str]]:
    if shutil.which("mosquitto") is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto is not installed")
    out = tmp_path / "auth"
    devices = ["am-ot", "owntracks/jane/phone", "owntracks/kim/ipad"]
    result = subprocess.run([sys.executable, "-m", "emon", "provision", *devices, "--out", str(out)],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    creds = {r["user"]: r["password"] for r in csv.DictReader((out / "credentials.csv").open())}
    broker = Broker(tmp_path, settings=(out / "mosquitto-auth.conf").read_text())
    broker.start()
    yield broker, creds
    broker.stop()


def test_provision_refuses_bad_ids_and_writes_nothing(tmp_path: Path) -> None:
    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto is not installed")
    for bad in (["owntracks/jane"], ["vd-1", "owntracks/a+b/phone"], ["emon-engine"],
                ["owntracks/jane/phone", "owntracks/jane/tablet"]):  # fmt: skip
        out = tmp_path / uuid.uuid4().hex
        result = subprocess.run([sys.executable, "-m", "emon", "provision", *bad, "--out", str(out)],
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert result.returncode == 2, bad
        assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
        assert not out.exists(), bad


def test_owntracks_phone_is_warned_on_its_cmd_topic_and_the_centre_told_once(
    tmp_path: Path, provisioned: tuple[Broker, dict[str, str]]
) -> None:
    broker, creds = provisioned
    config = tmp_path / "emon.json"
    config.write_text(json.dumps({"owntracks": {"keys": {"owntracks/jane/phone": SECRET}}}))
    serve = Serve(
        tmp_path,
        "--mqtt", f"mqtt://emon-engine:{creds['emon-engine']}@127.0.0.1:{broker.port}",
        "--config", str(config),
        env={"EMON_RESEND_AFTER_S": str(RESEND_S)},
    )  # fmt: skip
    serve.mqtt_port = broker.port
    serve.start()
    suffix = "ot"  # the ankle monitor am-ot was provisioned (its own broker, its own database)
    order = order_for(suffix)
    order["victims"][0]["device_id"] = "owntracks/jane/phone"
    order.pop("contact_ban")
    assert serve.http.put(f"/api/v1/orders/OM-{suffix}", json=order).json()["registered"]
    key = secret_key(SECRET)
    jane = Phone(broker.port, "jane", "phone", creds["jane"])
    kim = Phone(broker.port, "kim", "ipad", creds["kim"])
    centre_got: queue.Queue[dict[str, Any]] = queue.Queue()
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"centre-{suffix}")
    watcher.username_pw_set("monitoring", creds["monitoring"])
    watcher.on_message = lambda c, u, m: centre_got.put(json.loads(m.payload))
    watcher.connect("127.0.0.1", broker.port)
    watcher.subscribe("emon/v1/alerts/monitoring", qos=1)
    watcher.loop_start()
    offender = Monitor(broker.port, "am-ot", creds["am-ot"])
    try:
        now = time.time()
        # her position, encrypted (an integer tst) and in the clear (a fractional one)
        jane.publish(jane.location(51.93, 4.49, int(now) - 5), key=key)
        jane.publish(jane.location(51.93, 4.49, now - 2.5))
        kim.publish(kim.location(52.0, 4.3, int(now)), key=secret_key("not configured"))
        approach(offender, suffix, [3000, 1600, 900, 600, 500])
        commands = jane.commands(wait_s=6 + 4 * RESEND_S)
        texts = []
        for raw in commands:
            body = json.loads(raw)
            assert body["_type"] == "encrypted"  # she set a secret: so does emon
            inner = json.loads(SecretBox(key).decrypt(base64.b64decode(body["data"])))
            assert inner["_type"] == "cmd" and inner["action"] == "action"
            assert inner["notification"] == inner["content"]
            assert not any(c.isdigit() for c in inner["notification"])  # no place, no distance
            texts.append(inner["notification"])
        assert any(t.startswith("Gevaar") for t in texts), texts  # Dutch: an order in NL
        # never "be alert" while the violation is open (one warning level: emon/alerts/warnings.py)
        danger = next(k for k, t in enumerate(texts) if t.startswith("Gevaar"))
        assert not [t for t in texts[danger:] if t.startswith("Let op")], texts
        assert len(texts) == len(set(texts)), f"re-sent to a phone that cannot confirm: {texts}"
        assert kim.commands(wait_s=0.5) == []  # nothing of hers reaches another phone
        escalations = []
        while not centre_got.empty():
            body = centre_got.get()
            if body.get("type", "").startswith("notification_"):
                escalations.append(body)
        assert {e["type"] for e in escalations} == {"notification_unconfirmable"}
        per_alert = [e["alert_id"] for e in escalations]
        # once for each warning she was sent (be alert, if he was in the ring first, and danger)
        assert len(per_alert) == len(set(per_alert)) == len(texts)
        assert all("cannot confirm" in e["action"] for e in escalations)
        alerts = serve.http.get("/api/v1/alerts").json()
        (violation,) = [a for a in alerts if a["order_id"] == f"OM-{suffix}"
                        and a["type"] == "zone_violation"]  # fmt: skip
        assert violation["escalation"]["reason"] == "unconfirmable"
        case = serve.http.get(f"/api/v1/alerts/{violation['alert_id']}").json()
        (note,) = [n for n in case["notifications"] if n["device_id"] == "owntracks/jane/phone"]
        assert note["confirmable"] is False and note["attempts"] == 1
        metrics = serve.http.get("/metrics").text
        assert 'emon_rejections_total{reason="encrypted_no_key"} 1.0' in metrics
        assert "decryption_failed" not in metrics.replace("# HELP", "")
        board = serve.http.get("/api/v1/devices/health").json()
        (phone,) = [d for d in board if d["device_id"] == "owntracks/jane/phone"]
        assert phone["last_fix_age_s"] is not None  # her positions were taken
    finally:
        watcher.loop_stop()
        watcher.disconnect()
        offender.close()
        jane.close()
        kim.close()
        serve.stop()


def test_the_phone_cannot_publish_as_another_or_read_another(
    provisioned: tuple[Broker, dict[str, str]],
) -> None:
    broker, creds = provisioned
    engine_got: list[str] = []
    engine = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="engine-watch")
    engine.username_pw_set("emon-engine", creds["emon-engine"])
    engine.on_message = lambda c, u, m: engine_got.append(m.topic)
    engine.connect("127.0.0.1", broker.port)
    engine.subscribe("owntracks/+/+", qos=1)
    engine.loop_start()
    time.sleep(0.3)
    jane = Phone(broker.port, "jane", "phone", creds["jane"])
    try:
        jane.client.publish("owntracks/kim/ipad", b"{}", qos=1).wait_for_publish(5)
        jane.client.publish("emon/v1/fix/am-ot", b"{}", qos=1).wait_for_publish(5)
        jane.publish(jane.location(51.9, 4.4, int(time.time())))
        engine.publish("owntracks/kim/ipad/cmd", b"{}", qos=1).wait_for_publish(5)
        time.sleep(1.0)
        assert engine_got == ["owntracks/jane/phone"]
        assert jane.commands(wait_s=0.5) == []
    finally:
        engine.loop_stop()
        engine.disconnect()
        jane.close()
