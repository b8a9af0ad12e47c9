"""MQTT in and out with aiomqtt: QoS 1, a persistent session, reconnects."""

from __future__ import annotations

import asyncio
import functools
import logging

import aiomqtt

from emon import topics
from emon.config import Config
from emon.service.runtime import Runtime
from emon.service.settings import mqtt_endpoint

log = logging.getLogger("emon.mqtt")

SUBSCRIPTIONS = topics.SUBSCRIPTIONS


async def run_mqtt(
    url: str,
    runtime: Runtime,
    client_id: str,
    connected: asyncio.Event,
    env: Config | None = None,
    intake: bool = True,
) -> None:
    """Forever: connect, subscribe, pump messages both ways; back off on loss.
    Without ``intake`` (device messages come from NATS JetStream) it only
    sends, at QoS 1, on a persistent session. ``url`` may list several
    (``mqtt://a:1883,mqtt://b:1883``: the MQTT listeners of a NATS cluster,
    which keeps the session whichever node holds it): tried in turn."""
    endpoints = [mqtt_endpoint(u.strip()) for u in url.split(",") if u.strip()]
    backoff = 0.5
    attempt = 0
    while True:
        endpoint = endpoints[attempt % len(endpoints)]
        host, port = endpoint.host, endpoint.port
        attempt += 1
        try:
            async with aiomqtt.Client(
                host, port, identifier=client_id, clean_session=False, keepalive=30,
                max_queued_incoming_messages=50_000, **endpoint.client_options(env),
            ) as client:  # fmt: skip
                # QoS 1 messages are acknowledged only once stored (see Writer),
                # so a crash before that gets them redelivered, not lost
                paho = client._client
                paho.manual_ack_set(True)
                for topic in SUBSCRIPTIONS if intake else ():
                    await client.subscribe(topic, qos=1)
                log.info("connected to %s://%s:%d", "mqtts" if endpoint.tls else "mqtt", host, port)
                connected.set()
                backoff = 0.5
                publisher = asyncio.create_task(_publish(client, runtime))
                try:
                    received = 0
                    async for message in client.messages:
                        payload = message.payload
                        data = payload if isinstance(payload, bytes) else str(payload).encode()
                        ack = functools.partial(paho.ack, message.mid, message.qos)
                        await runtime.ingest.submit(
                            str(message.topic), data, ack if message.qos else None
                        )
                        received += 1
                        if received % 64 == 0:
                            runtime.metrics.mqtt_queue.set(client._queue.qsize())
                            # a ready queue never suspends: let the engine run
                            await asyncio.sleep(0)
                finally:
                    publisher.cancel()
        except aiomqtt.MqttError as exc:
            connected.clear()
            # the next listener at once; round them all again only after a back-off
            pause = backoff if attempt % len(endpoints) == 0 else 0.1
            log.warning("MQTT connection to %s:%d lost (%s); retrying in %.1f s",
                        host, port, exc, pause)  # fmt: skip
            await asyncio.sleep(pause)
            if attempt % len(endpoints) == 0:
                backoff = min(backoff * 2, 30.0)


async def _publish(client: aiomqtt.Client, runtime: Runtime) -> None:
    while True:
        message = await runtime.outbox.get()
        try:
            await client.publish(message.topic, message.payload, qos=1)
        except aiomqtt.MqttError:
            runtime.outbox.put_nowait(message)  # kept for the next connection
            raise
