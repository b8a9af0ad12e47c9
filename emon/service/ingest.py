"""Messages in: the inbox, what travels with each message, and the micro-batches.

A message waits in the inbox with its broker acknowledgement (MQTT: sent once
it is stored) and its stream position (NATS: stored with it, so the next owner
of its partition takes up exactly where storage ends). When the engine falls
behind, ``submit`` waits: back-pressure to the broker, which holds QoS 1
messages for our session, rather than dropping anything. Batches go to the
runtime's ``process`` under its lock; this module does no IO of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from emon.engine import Message
from emon.service.metrics import Metrics
from emon.timeutil import Millis, now_ms

#: the topic of a position marker in the inbox (never a device's: see mark_position)
POSITION = "\x00position"
#: how many times a micro-batch looks for more messages within its wait
#: (``batch_wait_s``): a batch that fills early goes early
BATCH_LOOKS = 4
#: how often (s) a caller waiting for the engine to catch up looks again
CATCH_UP_POLL_S = 0.01

Ack = Callable[[], object]


#: (partition, stream sequence)
Mark = tuple[int, int]


@dataclass
class Taken:
    """A batch as the runtime stores it: the device messages, how far each
    partition's messages are handed in, and the acknowledgements owed once
    the messages are durable."""

    messages: list[Message]
    marks: dict[int, int]
    acks: list[Ack]


@dataclass
class Ingest:
    metrics: Metrics = field(default_factory=Metrics)
    batch_max: int = 2000
    batch_wait_s: float = 0.02
    queue_limit: int = 100_000
    #: the wall clock (ms) a message is stamped with on arrival
    clock: Callable[[], Millis] = now_ms

    def __post_init__(self) -> None:
        self.inbox: asyncio.Queue[Message] = asyncio.Queue(self.queue_limit)
        #: broker acknowledgements waiting for their message to be stored
        self._acks: dict[int, Ack] = {}
        #: stream positions of messages not yet processed
        self._marks: dict[int, Mark] = {}
        self._positions: dict[int, dict[int, int]] = {}
        #: messages handed in, and processed: a handover waits for those taken
        self.received = 0
        self.processed = 0

    async def submit(
        self,
        topic: str,
        payload: bytes,
        ack: Ack | None = None,
        recv: Millis | None = None,
        mark: Mark | None = None,
    ) -> None:
        """One message from a broker. ``recv``: when the broker took it (a
        stream's time), else now; ``mark``: its stream position."""
        message = Message(self.clock() if recv is None else recv, topic, payload)
        self.received += 1
        if self.inbox.full():
            self.metrics.overload.inc()
        await self.inbox.put(message)
        self._keep(message, ack, mark)

    def offer(self, topic: str, payload: bytes, recv: Millis, mark: Mark) -> bool:
        """``submit`` without waiting, for a caller that reads faster than a
        coroutine a message allows: False (nothing taken) when the inbox is full."""
        if self.inbox.full():
            return False
        message = Message(recv, topic, payload)
        self.received += 1
        self.inbox.put_nowait(message)
        self._keep(message, None, mark)
        return True

    def _keep(self, message: Message, ack: Ack | None, mark: Mark | None) -> None:
        """What goes with a message in the inbox until it is processed."""
        if ack is not None:
            self._acks[id(message)] = ack
        if mark is not None:
            self._marks[id(message)] = mark

    async def mark_position(self, marks: dict[int, int]) -> None:
        """The stream positions up to which every message of these partitions
        has been handed in (a partition without traffic moves on too): stored
        once what came before is."""
        message = Message(0, POSITION, b"")
        self._positions[id(message)] = marks
        self.received += 1
        await self.inbox.put(message)

    def take(self, batch: list[Message]) -> Taken:
        """A batch out of the inbox, with what travelled with its messages."""
        acks = [a for a in (self._acks.pop(id(m), None) for m in batch) if a is not None]
        if not (self._marks or self._positions):
            return Taken(batch, {}, acks)
        latest: dict[int, int] = {}
        kept = []
        for m in batch:
            marks = [self._marks.pop(id(m))] if id(m) in self._marks else []
            if m.topic == POSITION:
                marks = list(self._positions.pop(id(m), {}).items())
            else:
                kept.append(m)
            for partition, seq in marks:
                latest[partition] = max(seq, latest.get(partition, 0))
        return Taken(kept, latest, acks)

    async def run(self, process: Callable[[list[Message]], None], lock: asyncio.Lock) -> None:
        """Micro-batches: what has come, then a little more (no task a message)."""
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.inbox.get()]
            deadline = loop.time() + self.batch_wait_s
            while True:
                while len(batch) < self.batch_max and not self.inbox.empty():
                    batch.append(self.inbox.get_nowait())
                left = deadline - loop.time()
                if len(batch) >= self.batch_max or left <= 0:
                    break
                await asyncio.sleep(min(left, self.batch_wait_s / BATCH_LOOKS))
            async with lock:
                process(batch)
            self.processed += len(batch)

    async def processed_up_to(self, received: int) -> None:
        """Until every message handed in so far has been through the engine."""
        while self.processed < received:
            await asyncio.sleep(CATCH_UP_POLL_S)
