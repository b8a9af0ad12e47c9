"""What every device has: a connection that comes and goes, a counter, a buffer.

A device keeps measuring while it has no connection; what it could not send
it keeps (store-and-forward) and uploads as one ``fixes`` batch when the
connection is back, so the monitoring centre gets every fix exactly once
(the engine drops a repeated (device, seq)). Notifications it receives are
shown and acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from emon import topics
from emon.timeutil import TimestampError, format_ts, parse_ts

log = logging.getLogger("emon.devices")

#: where the device is at a given wall-clock time: (lat, lon, accuracy in m)
PositionSource = Callable[[float], tuple[float, float, float]]
BATCH_LIMIT = 500
#: notification ids remembered to drop repeats (a few days of warnings)
SEEN_LIMIT = 1000


@dataclass
class Shown:
    """A notification as the wearer or the victim sees it."""

    level: str
    text: str
    at: float
    vibrate: bool


@dataclass
class DeviceAgent:
    device_id: str
    position: PositionSource
    host: str = "127.0.0.1"
    port: int = 1883
    #: per-device credentials (see `emon provision`) and TLS (a CA file: mqtts)
    username: str | None = None
    password: str | None = None
    tls_ca: str | None = None
    interval_s: float = 30.0
    battery: float = 100.0
    seq: int = 0
    buffer: list[dict[str, Any]] = field(default_factory=list)
    #: events that happened offline, sent on reconnection (not part of a batch)
    pending_events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    shown: list[Shown] = field(default_factory=list)
    connected: bool = False
    sent: int = 0
    uploaded_batches: int = 0
    #: what the centre asked (emon/v1/cmd): report every ``interval`` s until ``until``
    commanded: tuple[float, float] | None = None
    _client: aiomqtt.Client | None = None
    _seen: OrderedDict[str, None] = field(default_factory=OrderedDict)
    _report_now: asyncio.Event = field(default_factory=asyncio.Event)

    # -- what subclasses name ---------------------------------------------------------
    @property
    def fix_topic(self) -> str:
        return topics.fix(self.device_id)

    def fix_payload(self, now: float) -> dict[str, Any]:
        lat, lon, acc = self.position(now)
        self.seq += 1
        return {"seq": self.seq, "ts": format_ts(int(now * 1000)), "lat": lat, "lon": lon,
                "acc": round(acc, 1), "batt": round(self.battery)}  # fmt: skip

    def current_interval(self, now: float) -> float:
        return self.commanded_interval(now, self.interval_s)

    def commanded_interval(self, now: float, usual: float) -> float:
        """Never slower than the centre asked, while it asked."""
        if self.commanded is not None and now < self.commanded[1]:
            return min(self.commanded[0], usual)
        return usual

    def on_command(self, body: dict[str, Any]) -> None:
        """``report_interval`` until a time, or ``report_now`` (the contract's commands)."""
        if body.get("command") == "report_interval":
            try:
                until = parse_ts(str(body.get("until"))) / 1000
                self.commanded = (max(1.0, float(body["interval_s"])), until)
            except (KeyError, TypeError, ValueError, TimestampError):
                return
            self._report_now.set()  # the new interval from now
        elif body.get("command") == "report_now":
            self._report_now.set()

    def on_notification(self, body: dict[str, Any], now: float) -> None:
        self.shown.append(Shown(body["level"], body["text"], now, body["level"] != "clear"))

    def first_time(self, body: dict[str, Any]) -> bool:
        """A notification id seen before is a repeat (a re-send, or a worker
        that took over and sent it again): acknowledged again, shown once."""
        notification_id = str(body.get("notification_id"))
        if notification_id in self._seen:
            return False
        self._seen[notification_id] = None
        while len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)
        return True

    # -- running ----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Measure on schedule forever (or until ``stop``), connected or not."""
        stop = stop or asyncio.Event()
        link = asyncio.create_task(self._stay_connected(stop))
        try:
            while not stop.is_set():
                now = time.time()
                await self.send_fix(now)
                self._report_now.clear()
                woken = asyncio.ensure_future(self._report_now.wait())
                stopping = asyncio.ensure_future(stop.wait())
                await asyncio.wait({woken, stopping}, timeout=self.current_interval(now),
                                   return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                woken.cancel()
                stopping.cancel()
        finally:
            link.cancel()

    async def send_fix(self, now: float) -> None:
        await self._send(self.fix_topic, self.fix_payload(now), bufferable=True)

    async def send_event(self, kind: str) -> None:
        self.seq += 1
        body = {"seq": self.seq, "ts": format_ts(int(time.time() * 1000)), "type": kind}
        await self._send(topics.event(self.device_id), body, bufferable=False)

    async def _send(self, topic: str, body: dict[str, Any], bufferable: bool) -> None:
        if self._client is not None and self.connected:
            try:
                await self._client.publish(topic, json.dumps(body), qos=1)
                self.sent += 1
                return
            except aiomqtt.MqttError:
                self.connected = False
        if bufferable:
            self.buffer.append(body)
        else:
            self.pending_events.append((topic, body))

    async def _stay_connected(self, stop: asyncio.Event) -> None:
        backoff = 0.2
        while not stop.is_set():
            try:
                tls = aiomqtt.TLSParameters(ca_certs=self.tls_ca) if self.tls_ca else None
                async with aiomqtt.Client(
                    self.host, self.port, identifier=f"dev-{self.device_id}",
                    clean_session=False, keepalive=10, username=self.username,
                    password=self.password, tls_params=tls,
                ) as client:  # fmt: skip
                    await client.subscribe(topics.notify(self.device_id), qos=1)
                    await client.subscribe(topics.command(self.device_id), qos=1)
                    self._client, self.connected, backoff = client, True, 0.2
                    await self._upload(client)
                    async for message in client.messages:
                        await self._receive(client, message)
            except aiomqtt.MqttError:
                pass
            self.connected = False
            self._client = None
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _upload(self, client: aiomqtt.Client) -> None:
        """Store-and-forward: what was measured offline goes up as batches."""
        while self.buffer:
            batch = self.buffer[:BATCH_LIMIT]
            await client.publish(topics.fixes(self.device_id), json.dumps(batch), qos=1)
            del self.buffer[: len(batch)]
            self.uploaded_batches += 1
            self.sent += len(batch)
        while self.pending_events:
            topic, body = self.pending_events.pop(0)
            await client.publish(topic, json.dumps(body), qos=1)

    async def _receive(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        try:
            body = json.loads(bytes(message.payload))
        except (TypeError, ValueError):
            return
        if message.topic.matches(topics.command(self.device_id)):
            self.on_command(body)
            ack = {"command_id": body.get("command_id")}
            await client.publish(topics.ack(self.device_id), json.dumps(ack), qos=1)
            return
        if self.first_time(body):
            self.on_notification(body, time.time())
        ack = {"notification_id": body.get("notification_id")}
        await client.publish(topics.ack(self.device_id), json.dumps(ack), qos=1)
