"""Device messages from NATS JetStream: the contract's MQTT, carried by NATS.

Devices speak MQTT to the MQTT listener of any NATS server; NATS maps the
topic ``emon/v1/fix/am-1`` to the subject ``emon.v1.fix.am-1``. The stream
``emon-devices`` keeps every device message for a week, so nothing is lost
while no worker runs.

Where a message enters matters. NATS's MQTT listener acknowledges a QoS 1
publish once it is stored in its own stream ``$MQTT_msgs`` (replicated, kept
while a consumer has not acknowledged it), not once a stream capturing the
plain subject has it: measured here, killing the node that led such a stream
lost 23-48 of 93-168 acknowledged fixes in 9 of 11 runs. So ``emon-devices``
captures no subject; it *sources* the device subjects from ``$MQTT_msgs``
through a durable consumer acknowledged by flow control (NATS 2.14's reliable
sourcing from interest streams): ``$MQTT_msgs`` lets a message go only once
``emon-devices`` has stored it, whichever leader dies in between.

Every worker reads the whole stream with an ordered consumer (no
acknowledgements: the fastest way nats-py reads) and takes the messages of
the partitions it holds. How far each partition is stored is written in the
same transaction as its messages (``partition_marks``), so whoever holds a
partition next takes up exactly there: nothing lost, nothing stored twice.
A message's time is the stream's (when NATS took it), so a message read again
after a failover is judged exactly as it would have been the first time.

What emon sends out goes back through the NATS server's MQTT listener at
QoS 1 (``emon/service/mqtt.py``): measured on NATS 2.15, a NATS core publish
reaches an MQTT QoS 1 subscriber at QoS 0 and is lost while it is offline,
where an MQTT QoS 1 publish waits in its session.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from emon.service.runtime import Runtime
from emon.timeutil import Millis, now_ms

log = logging.getLogger("emon.nats")

STREAM = "emon-devices"
#: what devices publish (never what emon publishes, which the stream must not echo back)
SUBJECTS = ["emon.v1.fix.*", "emon.v1.fixes.*", "emon.v1.event.*", "emon.v1.ack.*",
            "emon.v1.beacon.*", "owntracks.*.*"]  # fmt: skip
#: a week: a day-long outage of every worker is survived with room to spare
MAX_AGE_S = 7 * 86_400.0
#: a backlog this long (messages still to come) means the intake is catching up:
#: the engine's clock then follows the stream, not the wall (see Runtime.clock_hold)
BACKLOG = 1000
#: and a message this old (ms) behind the wall clock too
BEHIND_MS = 2000
#: checks (one a second) without progress while the stream has more: a stall
STALL_CHECKS = 3
#: messages handed to the callback but not yet taken (nats-py's buffer)
PENDING_LIMIT = 200_000


def subject_to_topic(subject: str) -> str:
    """NATS's MQTT mapping backwards: ``.`` is ``/``, and ``//`` an MQTT ``.``."""
    return subject.replace("//", "\x00").replace(".", "/").replace("\x00", ".")


#: the MQTT listener's stream of QoS 1 messages, as the server makes it
#: (``server/mqtt.go``): made here if no MQTT client has connected yet
MQTT_STREAM = "$MQTT_msgs"
MQTT_PREFIX = "$MQTT.msgs."
#: the durable consumer on it through which ``emon-devices`` sources
SOURCE = "emon-devices-source"
SOURCE_DELIVER = "_emon.source.devices"
#: how often (s) the source consumer shows it is alive when idle
SOURCE_HEARTBEAT_S = 1.0


async def ensure_stream(js: Any, replicas: int) -> Millis:
    """``$MQTT_msgs`` (if not there yet), the durable source consumer on it,
    and ``emon-devices`` sourcing through it. Every worker calls this at start,
    several at once: each step is idempotent for the same configuration.
    Returns when ``emon-devices`` was made (ms): its positions are its own."""
    from nats.js import api

    await _create_or_update(js, api.StreamConfig(
        name=MQTT_STREAM, subjects=[MQTT_PREFIX + ">"], retention=api.RetentionPolicy.INTEREST,
        storage=api.StorageType.FILE, num_replicas=replicas,
    ), keep_existing=True)  # fmt: skip
    await js.add_consumer(MQTT_STREAM, api.ConsumerConfig(
        durable_name=SOURCE, deliver_subject=SOURCE_DELIVER, ack_policy=api.AckPolicy.FLOW_CONTROL,
        deliver_policy=api.DeliverPolicy.ALL, filter_subjects=[MQTT_PREFIX + s for s in SUBJECTS],
        flow_control=True, idle_heartbeat=SOURCE_HEARTBEAT_S, num_replicas=replicas,
    ))  # fmt: skip
    info = await _create_or_update(js, api.StreamConfig(
        name=STREAM, subjects=[], retention=api.RetentionPolicy.LIMITS,
        storage=api.StorageType.FILE, max_age=MAX_AGE_S, num_replicas=replicas,
        duplicate_window=120.0,
        sources=[api.StreamSource(
            name=MQTT_STREAM,
            consumer=api.StreamConsumerSource(name=SOURCE, deliver_subject=SOURCE_DELIVER),
            subject_transforms=[api.SubjectTransform(src=MQTT_PREFIX + ">", dest=">")],
        )],
    ))  # fmt: skip
    return int(info.created.timestamp() * 1000) if info.created is not None else 0


async def _create_or_update(js: Any, config: Any, keep_existing: bool = False) -> Any:
    """The stream as it now is (its info)."""
    from nats.js.errors import BadRequestError, NotFoundError

    try:
        info = await js.stream_info(config.name)
    except NotFoundError:
        try:
            return await js.add_stream(config)
        except BadRequestError:  # another worker made it meanwhile
            info = await js.stream_info(config.name)
    return info if keep_existing else await js.update_stream(config)


class Intake:
    """The stream into the runtime, for the partitions this worker holds.

    ``taken`` holds, per partition the intake hands on, the last stream
    sequence handed on: a message at or below it (read again after a
    restart of the consumer) is skipped."""

    def __init__(self, js: Any, runtime: Runtime) -> None:
        self.js = js
        self.runtime = runtime
        self.taken: dict[int, int] = {}
        #: the last stream sequence the current consumer delivered, and the
        #: last handed in as a position marker
        self.position = 0
        self._marked = 0
        self._watched = 0
        self._stalls = 0
        self._subscription: Any = None
        self._generation = 0
        self._behind: Millis | None = None
        runtime.clock_hold = lambda: self._behind

    async def restart(self, gained: dict[int, int] | None = None) -> None:
        """Read from just after the earliest position of a partition held;
        ``gained``: partitions to hand on from now, with their stored marks
        (added only once the old consumer can hand on nothing more, else it
        would hand on their newer messages before the older ones it skipped)."""
        from nats.js.api import ConsumerConfig, DeliverPolicy

        self._generation += 1
        generation = self._generation
        self.taken.update(gained or {})
        if self._subscription is not None:
            try:
                await self._subscription.unsubscribe()
            except Exception:  # the connection went: the server drops it anyway
                log.debug("could not unsubscribe the old consumer")
            self._subscription = None
        self.position = self._marked = 0
        if not self.taken:
            self._behind = None
            return
        start = min(self.taken.values()) + 1
        config = ConsumerConfig(filter_subjects=SUBJECTS, deliver_policy=DeliverPolicy.ALL)
        if start > 1:
            config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = start

        async def on_message(message: Any) -> None:
            if generation != self._generation:
                return
            await self._take(message)
            # not if the consumer was restarted meanwhile: this one's position
            # may be far past where the new one starts (see ``mark``)
            if generation == self._generation:
                self.position = message.metadata.sequence.stream

        self._subscription = await self.js.subscribe(
            SUBJECTS[0], stream=STREAM, ordered_consumer=True, config=config, cb=on_message,
            pending_msgs_limit=PENDING_LIMIT, pending_bytes_limit=-1,
        )  # fmt: skip
        log.info("reading %s from sequence %d for %d partitions", STREAM, start, len(self.taken))

    async def _take(self, message: Any) -> None:
        meta = message.metadata
        seq = meta.sequence.stream
        topic = subject_to_topic(message.subject)
        partition = self.runtime.shard.of_topic(topic)
        last = self.taken.get(partition)
        if last is None or seq <= last:
            return  # another worker's, or read again after a restart
        recv = int(meta.timestamp.timestamp() * 1000)
        behind = meta.num_pending > BACKLOG and recv < now_ms() - BEHIND_MS
        self._behind = recv if behind else None
        self.runtime.stream_backlog = meta.num_pending
        self.taken[partition] = seq
        if self.runtime.ingest.offer(topic, message.data, recv, (partition, seq)):
            return  # the usual case: room in the inbox, nothing to wait for
        # an unsubscribe cancels this callback: the message is handed on all the same
        await asyncio.shield(
            self.runtime.ingest.submit(topic, message.data, recv=recv, mark=(partition, seq))
        )

    async def watch(self) -> None:
        """Read again should the consumer stall: the stream has messages past
        its position and it has not moved for ``STALL_CHECKS`` checks (seen
        after a stream leader's death: the ordered consumer delivered nothing more)."""
        if not self.taken:
            return
        info = await self.js.stream_info(STREAM)
        if info.state.last_seq <= self.position or self.position != self._watched:
            self._watched, self._stalls = self.position, 0
            return
        self._stalls += 1
        if self._stalls >= STALL_CHECKS:
            log.warning("the consumer stalled at %d of %d; reading again", self.position,
                        info.state.last_seq)  # fmt: skip
            self._stalls = 0
            await self.restart()

    async def mark(self) -> None:
        """Every partition handed on has all its messages up to the consumer's
        position handed in: marked so (stored after them), so a partition
        without traffic does not hold the next reader back to its last message."""
        if self.position <= self._marked:
            return
        position = self._marked = self.position
        for partition, seq in self.taken.items():
            self.taken[partition] = max(seq, position)
        await self.runtime.ingest.mark_position(dict(self.taken))
