"""`emon demo`: the whole system on one machine, with simulated devices.

Starts `emon serve` on embedded defaults (in ./emon-demo), registers six
short cases, runs their devices as the device agents of ``devices/`` (which
report, press the panic button and acknowledge what they are told) and shows
what emon decides, live, in the terminal: agency alerts and device messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt
from rich.console import Console

from devices.agent import DeviceAgent, PositionSource
from devices.ankle_monitor import AnkleMonitor
from devices.victim_device import VictimDevice
from emon import topics
from emon.service.main import StartupError, serve
from emon.service.runtime import Runtime
from emon.service.settings import Settings, mqtt_endpoint
from simulators.demo_cases import cases

STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}


def run_demo(
    centre: tuple[float, float], duration: float | None, http: str, broker_port: int | None = None
) -> int:
    workdir = Path.cwd() / "emon-demo"
    shutil.rmtree(workdir, ignore_errors=True)  # a fresh demo every time
    workdir.mkdir()
    settings = Settings(http=http, workdir=workdir, admin_token="demo", broker_port=broker_port)
    console = Console(highlight=False)
    seen: Counter[str] = Counter()

    async def companion(runtime: Runtime, settings: Settings, stop: Callable[[], None]) -> None:
        demo = cases(centre)
        for case in demo:
            runtime.put_order(case.order)
            console.print(f"[bold]{case.order['order_id']}[/] {case.title}")
        console.print(
            f"\nconsole http://{settings.http}/ (token: demo), API docs http://{settings.http}/docs,"
            f" MQTT {settings.mqtt_url}; Ctrl-C stops\n"
        )
        assert settings.mqtt_url is not None
        endpoint = mqtt_endpoint(settings.mqtt_url)
        host, port = endpoint.host, endpoint.port
        async with aiomqtt.Client(host, port, identifier="emon-demo-devices") as client:
            await client.subscribe(topics.ALERTS + "#", qos=1)
            await client.subscribe(topics.NOTIFY + "#", qos=1)
            await client.subscribe(topics.ACK + "#", qos=1)
            show = asyncio.create_task(_show(client, console, seen))
            drive = asyncio.create_task(_drive(host, port, demo))
            status = asyncio.create_task(_progress(runtime, console, seen, started))
            if duration is None:
                await asyncio.Event().wait()  # until Ctrl-C
            else:
                await asyncio.sleep(max(0.0, duration - (time.monotonic() - started)))
            for task in (drive, show, status):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await task
        stop()

    started = time.monotonic()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(settings, companion))
    except StartupError as exc:
        print(f"emon demo: {exc}", file=sys.stderr)
        return 2
    console.print("\nalerts seen: " + ", ".join(f"{k} {v}" for k, v in sorted(seen.items())))
    return 0


async def _drive(host: str, port: int, demo: list[Any]) -> None:
    """Run every case's devices as device agents (devices/), each on its own
    MQTT connection, moving along the case's track; events at their time."""
    start = time.time()
    agents: list[tuple[DeviceAgent, float]] = []
    events: list[tuple[float, DeviceAgent, str]] = []
    for case in demo:
        tracks: dict[str, list[tuple[float, float, float]]] = {}
        for t, topic, payload in case.messages:
            kind, device = topic.split("/")[2], topic.split("/")[3]
            if kind == "fix":
                tracks.setdefault(device, []).append((t, payload["lat"], payload["lon"]))
        by_id: dict[str, DeviceAgent] = {}
        for device, track in tracks.items():
            agent_type: type[DeviceAgent] = (
                AnkleMonitor if device.startswith("am-") else VictimDevice
            )
            every = track[1][0] - track[0][0] if len(track) > 1 else 3.0
            agent = agent_type(device, _along(track, start), host, port, interval_s=every)
            by_id[device] = agent
            agents.append((agent, track[0][0] + (track[-1][0] - track[0][0]) + every / 2))
        for t, topic, payload in case.messages:
            if topic.startswith(topics.EVENT):
                events.append((t, by_id[topic.split("/")[3]], payload["type"]))
    stops = [asyncio.Event() for _ in agents]
    running = [asyncio.create_task(a.run(stop)) for (a, _), stop in zip(agents, stops, strict=True)]
    for (_, until), stop in zip(agents, stops, strict=True):
        asyncio.get_running_loop().call_later(until, stop.set)  # a track's end: silence
    try:
        for t, device_agent, event_type in sorted(events, key=lambda e: e[0]):
            await asyncio.sleep(max(0.0, start + t - time.time()))
            await device_agent.send_event(event_type)
        await asyncio.gather(*running)
    finally:
        for stop in stops:
            stop.set()


def _along(track: list[tuple[float, float, float]], start: float) -> PositionSource:
    """A position source that follows a timed track (and stays at its end)."""

    def position(now: float) -> tuple[float, float, float]:
        t = now - start
        for (t0, lat0, lon0), (t1, lat1, lon1) in itertools.pairwise(track):
            if t0 <= t < t1:
                w = (t - t0) / (t1 - t0)
                return lat0 + (lat1 - lat0) * w, lon0 + (lon1 - lon0) * w, 6.0
        _, lat, lon = track[-1] if t >= track[-1][0] else track[0]
        return lat, lon, 6.0

    return position


async def _progress(runtime: Runtime, console: Console, seen: Counter[str], started: float) -> None:
    """Every ten seconds: how far the demo is, in one dim line."""
    while True:
        await asyncio.sleep(10)
        stats = runtime.engine.stats
        console.print(
            f"[dim]t+{time.monotonic() - started:.0f}s: {stats['fixes']} fixes, "
            f"{stats['events']} events, {sum(seen.values())} alerts, "
            f"{len(runtime.delivery.pending)} notifications awaiting acknowledgement[/]"
        )


async def _show(client: aiomqtt.Client, console: Console, seen: Counter[str]) -> None:
    sent: Counter[str] = Counter()  # notification id -> times sent
    async for message in client.messages:
        topic = str(message.topic)
        body = json.loads(message.payload)
        clock = time.strftime("%H:%M:%S")
        if topic.startswith(topics.NOTIFY):
            device = topic.rsplit("/", 1)[1]
            sent[body["notification_id"]] += 1
            if sent[body["notification_id"]] > 1:  # not a new warning: nobody confirmed it yet
                console.print(
                    f"[dim]{clock}   → device {device}: re-sent ({body['level']}), "
                    "not yet confirmed[/]"
                )
                continue
            console.print(f"{clock}   → device {device} ({body['level']}): {body['text']}")
        elif topic.startswith(topics.ACK) and "notification_id" in body:
            device = topic.rsplit("/", 1)[1]
            console.print(f"[dim]{clock}   ✓ device {device} confirmed it was shown[/]")
        elif topic == topics.alerts("monitoring") and "type" in body:
            if body.get("state") == "open" or body.get("type") == "notification_unacknowledged":
                seen[body["type"]] += 1
            style = STYLE.get(body.get("severity", ""), "")
            zone = f" zone {body['zone_id']}" if body.get("zone_id") else ""
            console.print(
                f"{clock} [{style}]{body['type']} {body.get('severity', '')}[/] "
                f"{body.get('state', '')} {body.get('order_id', '')}{zone}"
            )
