"""Run `emon serve` as a user would, and talk to it over HTTP and MQTT."""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest

from emon.timeutil import format_ts
from simulators.movement import offset
from simulators.scenarios import ROTTERDAM, base_order

TOKEN = "test-admin-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def scratch_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A PostgreSQL database of its own (on the machine's server), dropped after."""
    from emon.storage.postgres import scratch_database as scratch

    need_service("PostgreSQL", "127.0.0.1", 5432)
    with scratch(admin_url, prefix) as url:
        yield url


def need_service(name: str, host: str, port: int) -> None:
    """Skip where a developer has no such server; CI (EMON_REQUIRE_SERVICES) fails instead."""
    if not reachable(host, port):
        if os.environ.get("EMON_REQUIRE_SERVICES"):
            pytest.fail(f"{name} is not running on {host}:{port}")
        pytest.skip(f"{name} is not running on {host}:{port}")


class Serve:
    def __init__(
        self,
        workdir: Path,
        *args: str,
        client_id: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.env = env or {}
        https = "EMON_HTTP_CERT" in self.env
        self.args = list(args)
        self.http_port = free_port()
        self.client_id = client_id or f"emon-test-{uuid.uuid4().hex[:8]}"
        self.process: subprocess.Popen[str] | None = None
        self.mqtt_port = 0
        self.http = httpx.Client(
            base_url=f"{'https' if https else 'http'}://127.0.0.1:{self.http_port}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
            verify=self.env.get("EMON_MQTT_CA", True),
        )

    def start(self) -> Serve:
        env = dict(
            os.environ, EMON_ADMIN_TOKEN=TOKEN, EMON_MQTT_CLIENT_ID=self.client_id, **self.env
        )
        self.log = self.workdir / f"serve-{self.http_port}.log"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "emon",
                "serve",
                "--http",
                f"127.0.0.1:{self.http_port}",
                *self.args,
            ],
            cwd=self.workdir,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 30
        while time.time() < deadline and not self.mqtt_port:
            if self.process.poll() is not None:
                raise RuntimeError(f"emon serve exited: {self.log.read_text()}")
            found = re.search(r"MQTT mqtts?://127\.0\.0\.1:(\d+)", self.log.read_text())
            if found:
                self.mqtt_port = int(found.group(1))
            time.sleep(0.1)
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if self.http.get("/healthz").json().get("mqtt"):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("emon serve did not become healthy")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired as slow:
                self.process.send_signal(signal.SIGUSR1)  # the stacks, into the log
                time.sleep(1)
                self.process.kill()
                log = self.log.read_text()[-8000:]
                raise AssertionError(f"emon serve did not stop:\n{log}") from slow


class Device:
    """A test device: publishes as a device, collects what reaches it."""

    def __init__(self, port: int, *topics: str, tls_ca: str | None = None) -> None:
        self.received: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}"
        )
        if tls_ca:
            self.client.tls_set(ca_certs=tls_ca)
        self.client.on_message = lambda c, u, m: self.received.put((m.topic, json.loads(m.payload)))
        self.client.connect("127.0.0.1", port)
        for topic in topics:
            self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        time.sleep(0.3)

    def publish(self, topic: str, payload: Any) -> None:
        self.client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(5)

    def expect(self, predicate: Any, timeout: float = 10.0) -> tuple[str, Any]:
        deadline = time.time() + timeout
        seen = []
        while time.time() < deadline:
            try:
                topic, body = self.received.get(timeout=0.2)
            except queue.Empty:
                continue
            seen.append((topic, body))
            if predicate(topic, body):
                return topic, body
        raise AssertionError(f"nothing matched; saw {seen}")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


LAT, LON = ROTTERDAM


def order_for(suffix: str) -> dict:
    order = base_order(ROTTERDAM, contact_ban={"distance_m": 1000, "prealert_m": 2000})
    order["order_id"] = f"OM-{suffix}"
    order["offender"]["device_id"] = f"am-{suffix}"
    order["offender"]["residence"] = {"type": "Point", "coordinates": [4.40, 51.90]}
    order["victims"][0]["device_id"] = f"vd-{suffix}"
    order["zones"][0]["prealert_m"] = 500
    return order


def approach(
    device: Device,
    suffix: str,
    distances: list[float],
    first_seq: int = 1,
    step_ms: int = 20_000,
    lead_ms: int = 0,
) -> None:
    """Fixes ``step_ms`` apart, the last one ``lead_ms`` from now."""
    now = int(time.time() * 1000) + lead_ms
    for k, metres in enumerate(distances):
        lat, lon = offset(LAT, LON, 270, metres)
        ts = now - step_ms * (len(distances) - 1 - k)
        fix = {"seq": first_seq + k, "ts": format_ts(ts), "lat": lat, "lon": lon, "acc": 8}
        device.publish(f"emon/v1/fix/am-{suffix}", fix)


class Broker:
    """A Mosquitto of our own, with persistence, that we can take down."""

    def __init__(self, folder: Path, settings: str = "max_queued_messages 100000\n") -> None:
        if shutil.which("mosquitto") is None:
            pytest.skip("mosquitto is not installed")
        self.port = free_port()
        self.conf = folder / "mosquitto.conf"
        # started as root, mosquitto drops to its own user, which could not
        # write its persistence file here: keep it as the user running the tests
        self.conf.write_text(
            f"user {getpass.getuser()}\n"
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {folder}/\n{settings}"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(["mosquitto", "-c", str(self.conf)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.time() + 5
        while not reachable("127.0.0.1", self.port) and time.time() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)
