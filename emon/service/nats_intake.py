"""Device messages from NATS JetStream: the contract's MQTT, carried by NATS.

Devices speak MQTT to the MQTT listener of a NATS server; NATS maps the topic
``emon/v1/fix/am-1`` to the subject ``emon.v1.fix.am-1``. The stream
``emon-devices`` keeps every device message for a week, so nothing is lost
while no worker runs, and a durable push consumer feeds the runtime. Each
message is acknowledged only once stored (as a QoS 1 message is with an MQTT
broker), so a killed worker's unacknowledged messages come again.

What emon sends out goes back through the NATS server's MQTT listener at
QoS 1 (``emon/service/mqtt.py``): measured on NATS 2.15, a NATS core publish
reaches an MQTT QoS 1 subscriber at QoS 0 and is lost while it is offline,
where an MQTT QoS 1 publish waits in its session.

This is one worker; sharing the partitions among several is the next step.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from emon.service.runtime import Runtime

log = logging.getLogger("emon.nats")

STREAM = "emon-devices"
#: what devices publish (never what emon publishes, which the stream must not echo back)
SUBJECTS = ["emon.v1.fix.*", "emon.v1.fixes.*", "emon.v1.event.*", "emon.v1.ack.*",
            "owntracks.*.*"]  # fmt: skip
DURABLE = "emon-worker"
#: a week: a day-long outage of every worker is survived with room to spare
MAX_AGE_S = 7 * 86_400.0
#: messages handed out but not yet stored and acknowledged (the in-flight window)
MAX_ACK_PENDING = 20_000
#: a second worker on the same stream stands by and tries again this often (it
#: takes over once the first is gone: one active worker until partitions are shared)
STANDBY_RETRY_S = 2.0
#: redelivered if not acknowledged within this: what a killed worker had not
#: stored comes again to the next one this soon (the writer stores, or spools
#: to disk, within a fraction of a second; a backlog past this is delivered
#: twice and the engine drops the repeated (device, seq))
ACK_WAIT_S = 10.0


def subject_to_topic(subject: str) -> str:
    """NATS's MQTT mapping backwards: ``.`` is ``/``, and ``//`` an MQTT ``.``."""
    return subject.replace("//", "\x00").replace(".", "/").replace("\x00", ".")


async def ensure_stream(js: Any, replicas: int) -> None:
    from nats.js.api import RetentionPolicy, StorageType, StreamConfig
    from nats.js.errors import NotFoundError

    config = StreamConfig(
        name=STREAM, subjects=SUBJECTS, retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE, max_age=MAX_AGE_S, num_replicas=replicas,
        duplicate_window=120.0,
    )  # fmt: skip
    try:
        await js.stream_info(STREAM)
        await js.update_stream(config)
    except NotFoundError:
        await js.add_stream(config)


async def run_nats(
    urls: list[str], runtime: Runtime, connected: asyncio.Event, replicas: int = 1
) -> None:
    """Forever: connect (any of the servers), keep the stream, feed the runtime."""
    import nats
    import nats.js.errors
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    loop = asyncio.get_running_loop()

    async def disconnected() -> None:
        connected.clear()
        log.warning("NATS connection lost; reconnecting")

    async def reconnected() -> None:
        connected.set()
        log.info("NATS connection back")

    client = await nats.connect(
        servers=urls, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
        disconnected_cb=disconnected, reconnected_cb=reconnected,
    )  # fmt: skip
    try:
        js = client.jetstream()
        await ensure_stream(js, replicas)

        async def acknowledge(message: Any) -> None:
            try:
                await message.ack()
            except Exception:  # the connection went: the message comes again, deduplicated
                log.debug("could not acknowledge %s", message.subject)

        def acknowledger(message: Any) -> Callable[[], object]:
            return lambda: loop.create_task(acknowledge(message))

        async def on_message(message: Any) -> None:
            await runtime.submit(
                subject_to_topic(message.subject), message.data, acknowledger(message)
            )

        config = ConsumerConfig(
            durable_name=DURABLE, ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT_S,
            max_ack_pending=MAX_ACK_PENDING, deliver_policy=DeliverPolicy.ALL,
            filter_subjects=SUBJECTS,
        )  # fmt: skip
        while True:
            try:
                await js.subscribe(SUBJECTS[0], durable=DURABLE, stream=STREAM, config=config,
                                   cb=on_message, manual_ack=True)  # fmt: skip
                break
            except nats.js.errors.Error as exc:
                if "already bound" not in str(exc):
                    raise
                # another worker consumes: stand by, and take over when it is gone
                log.warning("another worker consumes %s; standing by", STREAM)
                await asyncio.sleep(STANDBY_RETRY_S)
        connected.set()
        log.info("consuming %s from %s", STREAM, ", ".join(urls))
        await asyncio.Event().wait()
    finally:
        connected.clear()
        await client.close()
