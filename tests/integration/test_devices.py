"""Device agents against a real broker, including a broker outage."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devices.ankle_monitor import AnkleMonitor
from devices.victim_device import VictimDevice
from tests.integration.serve import Broker


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


class Watcher:
    def __init__(self, port: int, *topics: str) -> None:
        self.messages: list[tuple[str, dict | list]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"w-{uuid.uuid4().hex[:6]}",
                                  clean_session=False)  # fmt: skip
        self.client.on_message = lambda c, u, m: self.messages.append(
            (m.topic, json.loads(m.payload))
        )
        self.client.on_connect = lambda c, u, f, rc, p: [c.subscribe(t, qos=1) for t in topics]
        self.client.reconnect_delay_set(0.1, 1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        time.sleep(0.3)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def still(lat=52.09, lon=5.12, acc=6.0):
    return lambda now: (lat, lon, acc)


def test_store_and_forward_across_a_broker_outage_delivers_every_fix(broker):
    watcher = Watcher(broker.port, "emon/v1/fix/am-T", "emon/v1/fixes/am-T")
    monitor = AnkleMonitor("am-T", still(), port=broker.port, interval_s=0.2)

    async def scenario():
        stop = asyncio.Event()
        running = asyncio.create_task(monitor.run(stop))
        await asyncio.sleep(1.5)
        broker.stop()  # the broker goes down for two seconds
        await asyncio.sleep(2.0)
        assert monitor.buffer  # measuring went on, into the buffer
        broker.start()
        await asyncio.sleep(3.0)
        stop.set()
        await running

    asyncio.run(scenario())
    time.sleep(1.0)
    watcher.close()
    seqs: list[int] = []
    for topic, body in watcher.messages:
        seqs.extend(f["seq"] for f in body) if topic.endswith("/fixes/am-T") else seqs.append(
            body["seq"]
        )
    assert monitor.uploaded_batches >= 1 and not monitor.buffer
    assert set(seqs) == set(range(1, monitor.seq + 1))  # no fix lost
    # QoS 1 is at least once: a repeat is the same (device, seq), which emon drops
    assert len(seqs) - len(set(seqs)) <= 2


def test_victim_device_shows_and_acknowledges_and_panics(broker):
    watcher = Watcher(broker.port, "emon/v1/ack/vd-T", "emon/v1/event/vd-T")
    victim = VictimDevice("vd-T", still(), port=broker.port, interval_s=60)
    centre = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="centre")
    centre.connect("127.0.0.1", broker.port)
    centre.loop_start()

    async def scenario():
        stop = asyncio.Event()
        running = asyncio.create_task(victim.run(stop))
        await asyncio.sleep(0.8)
        note = {"notification_id": "N-1", "alert_id": "A-1", "ts": "2026-11-28T12:00:00.000Z",
                "level": "alert", "text": "Danger: go to a safe place now."}  # fmt: skip
        centre.publish("emon/v1/notify/vd-T", json.dumps(note), qos=1).wait_for_publish(5)
        await asyncio.sleep(0.8)
        await victim.panic()
        await asyncio.sleep(0.8)
        stop.set()
        await running

    asyncio.run(scenario())
    centre.loop_stop()
    watcher.close()
    assert victim.alarms == ["alert: Danger: go to a safe place now."]
    acks = [b for t, b in watcher.messages if t.endswith("/ack/vd-T")]
    assert acks == [{"notification_id": "N-1"}]
    assert [b["type"] for t, b in watcher.messages if t.endswith("/event/vd-T")] == ["panic"]


def test_ankle_monitor_speeds_up_after_a_warning():
    monitor = AnkleMonitor("am-1", still(), interval_s=30, pursuit_interval_s=5, pursuit_s=300)
    assert monitor.current_interval(1000) == 30
    monitor.on_notification({"level": "prealert", "text": "Turn back now."}, 1000)
    assert monitor.current_interval(1001) == 5 and monitor.shown[-1].vibrate
    assert monitor.current_interval(1301) == 30
    monitor.on_notification({"level": "prealert", "text": "Turn back now."}, 2000)
    monitor.on_notification({"level": "clear", "text": "The warning has ended."}, 2010)
    assert monitor.current_interval(2011) == 30


def test_owntracks_mode_speaks_owntracks():
    phone = VictimDevice("phone", still(), owntracks_user="alice")
    assert phone.fix_topic == "owntracks/alice/phone"
    payload = phone.fix_payload(1_795_000_000.0)
    assert payload["_type"] == "location" and payload["tst"] == 1_795_000_000


def test_pursuit_is_never_slower_than_the_normal_interval():
    monitor = AnkleMonitor("am-2", still(), interval_s=3, pursuit_interval_s=5)
    monitor.on_notification({"level": "prealert", "text": "Turn back now."}, 0)
    assert monitor.current_interval(1) == 3
