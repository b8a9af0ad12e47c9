"""`emon demo`: the whole system on one machine, with simulated devices.

Starts `emon serve` on embedded defaults (in ./emon-demo), registers six
short cases, drives their devices in real time over MQTT and shows what emon
decides, live, in the terminal: agency alerts and what each device is told.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt
from rich.console import Console

from emon.service.main import serve
from emon.service.runtime import Runtime
from emon.service.settings import Settings, mqtt_endpoint
from emon.timeutil import format_ts
from simulators.demo_cases import cases

STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}


def run_demo(centre: tuple[float, float], duration: float | None, http: str) -> int:
    workdir = Path.cwd() / "emon-demo"
    shutil.rmtree(workdir, ignore_errors=True)  # a fresh demo every time
    workdir.mkdir()
    settings = Settings(http=http, workdir=workdir, admin_token="demo")
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
        host, port, _, _ = mqtt_endpoint(settings.mqtt_url)
        async with aiomqtt.Client(host, port, identifier="emon-demo-devices") as client:
            await client.subscribe("emon/v1/alerts/#", qos=1)
            await client.subscribe("emon/v1/notify/#", qos=1)
            show = asyncio.create_task(_show(client, console, seen))
            drive = asyncio.create_task(_drive(client, demo))
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
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings, companion))
    console.print("\nalerts seen: " + ", ".join(f"{k} {v}" for k, v in sorted(seen.items())))
    return 0


async def _drive(client: aiomqtt.Client, demo: list[Any]) -> None:
    """Publish every case's messages at their time, with event time = now."""
    start = time.time()
    timeline = sorted((t, topic, payload) for case in demo for t, topic, payload in case.messages)
    seq: Counter[str] = Counter()
    for t, topic, payload in timeline:
        delay = start + t - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        seq[topic] += 1
        body = {"seq": seq[topic], "ts": format_ts(int(time.time() * 1000)), **payload}
        await client.publish(topic, json.dumps(body), qos=1)


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
    async for message in client.messages:
        topic = str(message.topic)
        body = json.loads(message.payload)
        clock = time.strftime("%H:%M:%S")
        if topic.startswith("emon/v1/notify/"):
            device = topic.rsplit("/", 1)[1]
            console.print(f"{clock}   → device {device} ({body['level']}): {body['text']}")
            await client.publish(f"emon/v1/ack/{device}", json.dumps(
                {"notification_id": body["notification_id"]}), qos=1)  # fmt: skip
        elif topic == "emon/v1/alerts/monitoring" and "type" in body:
            if body.get("state") == "open" or body.get("type") == "notification_unacknowledged":
                seen[body["type"]] += 1
            style = STYLE.get(body.get("severity", ""), "")
            zone = f" zone {body['zone_id']}" if body.get("zone_id") else ""
            console.print(
                f"{clock} [{style}]{body['type']} {body.get('severity', '')}[/] "
                f"{body.get('state', '')} {body.get('order_id', '')}{zone}"
            )
