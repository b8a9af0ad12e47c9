"""A worker among workers: slots, partition leases, and what the others must know.

Every worker of a cluster talks to the same NATS (JetStream) and PostgreSQL:
- it holds a **slot** (a key of the KV bucket ``emon-slots``, renewed every
  second, gone 6 s after its worker is): the slot names its evidence chain and
  its MQTT session, and says it is alive;
- it holds **partitions** by lease (``emon-partitions``, the same TTL): each step
  it renews its own, releases those over its fair share and claims free ones
  (emon/cluster/partitioning.py), so that a dead worker's partitions are taken
  within ``LEASE_TTL_S + RENEW_S``;
- what the others must know (orders, alert changes, operator actions, case
  views and the device board) goes between workers as emon/service/peers.py says.

A partition changes hands only with what is stored: the one giving it up
stops taking its messages, lets the engine finish those already taken, and
flushes them before it lets the lease go; the one taking it rebuilds its state
from storage and reads the stream from the partition's stored mark.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emon.cluster.partitioning import plan
from emon.cluster.shard import Shard
from emon.service import recovery
from emon.service.nats_intake import Intake
from emon.service.peers import NatsPeers
from emon.service.runtime import Runtime
from emon.storage.chain import CHAIN_BLOCK
from emon.timeutil import now_ms

log = logging.getLogger("emon.cluster")

SLOTS = "emon-slots"
LEASES = "emon-partitions"
ORDERS = "emon-orders"
#: a lease (and a slot) not renewed for this long is free: a SIGKILLed worker's
#: partitions are taken within this and one step (the issue asks 10 s)
LEASE_TTL_S = 6.0
#: how often a worker renews, and looks for partitions to take or give up
RENEW_S = 1.0
#: leases not renewed for this long are given up before they can lapse (a
#: lapsed lease may be taken by another worker: two must never hold one)
LEASE_SAFE_S = LEASE_TTL_S - 2 * RENEW_S
#: a bucket or stream request not answered within this fails (a step fails
#: fast while a bucket has no leader, and the leases' age is checked)
REQUEST_TIMEOUT_S = 2.0
#: slots a cluster may have (workers at once)
MAX_SLOTS = 1024
#: free slots in a row after which no live worker is looked for further up
SLOT_GAP = 8


def _worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass
class Member:
    client: Any
    js: Any
    runtime: Runtime
    partitions: int
    replicas: int = 1
    recovery_window_s: float = 3600.0
    #: asks the service to stop (the slot was lost: its chain is no longer ours alone)
    stop: Callable[[], None] = lambda: None
    name: str = field(default_factory=_worker_name)
    slot: int = -1
    health: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.intake = Intake(self.js, self.runtime)
        self._held: dict[int, int] = {}  # partition -> lease revision
        self._slot_revision = 0
        self._renewed_at = time.monotonic()
        self._loop = asyncio.get_running_loop()

    # -- joining ------------------------------------------------------------------
    async def join(self) -> None:
        """Claim a slot (before anything is chained) and hook into the runtime."""
        from nats.js.api import KeyValueConfig, StorageType

        def bucket(name: str, ttl: float | None) -> KeyValueConfig:
            return KeyValueConfig(bucket=name, ttl=ttl, history=1, replicas=self.replicas,
                                  storage=StorageType.FILE)  # fmt: skip

        self.slots = await self.js.create_key_value(bucket(SLOTS, LEASE_TTL_S))
        self.leases = await self.js.create_key_value(bucket(LEASES, LEASE_TTL_S))
        orders = await self.js.create_key_value(bucket(ORDERS, None))
        self.slot, self._slot_revision = await self._claim_slot()
        runtime = self.runtime
        runtime.use_chain_slot(self.slot)
        runtime.shard = Shard(self.partitions, set())
        self.peers = NatsPeers(self.client, runtime, self.name, orders, self._loop)
        runtime.peers = self.peers
        await self.peers.listen()
        log.info("worker %s joined in slot %d", self.name, self.slot)

    async def _claim_slot(self) -> tuple[int, int]:
        from nats.js.errors import KeyWrongLastSequenceError

        while True:
            for slot in range(MAX_SLOTS):
                try:
                    return slot, await self.slots.create(f"slot.{slot}", self.name.encode())
                except KeyWrongLastSequenceError:
                    continue
            log.error("every slot is taken; waiting for one")
            await asyncio.sleep(RENEW_S)

    # -- the leases -----------------------------------------------------------------
    async def run(self) -> None:
        """Forever: orders from the others, and a lease step every second."""
        watching = asyncio.create_task(self.peers.watch_orders())
        try:
            while True:
                try:
                    await self.step()
                    self._renewed_at = time.monotonic()
                    await self.intake.mark()
                    await self.intake.watch()
                except Exception as exc:  # NATS away for a moment: the next step
                    log.warning("cluster step failed: %s", exc)
                    if self._held and time.monotonic() - self._renewed_at > LEASE_SAFE_S:
                        # the leases may lapse any moment and be taken: stop first
                        log.error("leases not renewed for %.0f s; giving them up",
                                  time.monotonic() - self._renewed_at)  # fmt: skip
                        await self._give_up(list(self._held), lease=False)
                self._report()
                await asyncio.sleep(RENEW_S)
        finally:
            watching.cancel()

    async def step(self) -> None:
        from nats.js.errors import KeyNotFoundError

        if not await self._renew_slot():
            return
        workers = self.peers.workers_seen = await self._workers()
        owners: dict[int, str] = {}
        revisions: dict[int, int] = {}
        for p in range(self.partitions):
            try:
                entry = await self.leases.get(f"p.{p}")
            except KeyNotFoundError:
                continue
            if entry.value:
                owners[p], revisions[p] = entry.value.decode(), entry.revision
        lost = [p for p in self._held if owners.get(p) != self.name]
        if lost:  # lapsed (an election longer than the TTL): given up, claimed again below
            log.error("leases of partitions %s lapsed; giving them up", lost)
            await self._give_up(lost, lease=False)
        for p in list(self._held):
            self._held[p] = await self.leases.update(f"p.{p}", self.name.encode(),
                                                     last=revisions[p])  # fmt: skip
        step = plan(self.name, workers, owners, self.partitions)
        if step.release:
            await self._give_up(list(step.release), lease=True)
        claimed = [p for p in step.claim if await self._claim(p)]
        if claimed:
            await self._gain(claimed)

    async def _renew_slot(self) -> bool:
        from nats.js.errors import KeyWrongLastSequenceError

        key = f"slot.{self.slot}"
        try:
            self._slot_revision = await self.slots.update(key, self.name.encode(),
                                                          last=self._slot_revision)  # fmt: skip
            return True
        except KeyWrongLastSequenceError:
            pass
        # the slot lapsed: the bucket's leader was being elected for longer than
        # its TTL (4-9 s in NATS), or this worker was cut off. Taken again if
        # nobody has chained in it meanwhile; else this worker must not go on.
        try:
            self._slot_revision = await self.slots.create(key, self.name.encode())
            await self.runtime.writer.flush()
            head = await asyncio.to_thread(self.runtime.store.chain_head, self.slot)
            chain = self.runtime.chain
            if head == (chain.seq, chain.head) or (head is None and chain.seq % CHAIN_BLOCK == 0):
                log.warning("slot %d lapsed and is taken again", self.slot)
                return True
        except KeyWrongLastSequenceError:
            pass
        log.critical("slot %d was taken by another worker; stopping this one", self.slot)
        await self._give_up(list(self._held), lease=False)
        self.stop()
        return False

    async def _workers(self) -> list[str]:
        """The live workers: the holders of the slots. Slots are claimed lowest
        first, so they are read in order until a few in a row are free (not
        with ``keys()``, whose watcher waits without end while the bucket has
        no leader)."""
        from nats.js.errors import KeyNotFoundError

        names, free, slot = [], 0, 0
        while free < SLOT_GAP and slot < MAX_SLOTS:
            try:
                entry = await self.slots.get(f"slot.{slot}")
                if entry.value:
                    names.append(entry.value.decode())
                    free = 0
                else:
                    free += 1
            except KeyNotFoundError:
                free += 1
            slot += 1
        return names or [self.name]

    async def _claim(self, partition: int) -> bool:
        from nats.js.errors import KeyWrongLastSequenceError

        try:
            self._held[partition] = await self.leases.create(f"p.{partition}",
                                                             self.name.encode())  # fmt: skip
            return True
        except KeyWrongLastSequenceError:
            return False

    async def _gain(self, partitions: list[int]) -> None:
        """Take partitions up where storage has them."""
        runtime = self.runtime
        async with runtime.exclusive:
            await runtime.writer.flush()
            marks = await asyncio.to_thread(runtime.store.partition_marks)
            runtime.shard.owned.update(partitions)
            replayed = recovery.rebuild(runtime, self.recovery_window_s, now_ms())
        await self.intake.restart({p: marks.get(p, 0) for p in partitions})
        log.info("took partitions %s (%d messages replayed from storage)", partitions, replayed)

    async def _give_up(self, partitions: list[int], lease: bool) -> None:
        """Stop taking their messages, finish and store those taken, then let go."""
        runtime = self.runtime
        for p in partitions:
            self.intake.taken.pop(p, None)
        await runtime.ingest.processed_up_to(runtime.ingest.received)
        async with runtime.exclusive:
            await runtime.writer.flush()
            runtime.shard.owned.difference_update(partitions)
            recovery.rebuild(runtime, self.recovery_window_s, now_ms())
        for p in partitions:
            revision = self._held.pop(p, None)
            if lease and revision is not None:
                await self._release(p, revision)
        log.info("gave up partitions %s", partitions)

    async def _release(self, partition: int, revision: int) -> None:
        try:
            await self.leases.delete(f"p.{partition}", last=revision)
        except Exception as exc:  # it lapses by its TTL all the same
            log.warning("could not release partition %d: %s", partition, exc)

    async def leave(self) -> None:
        """A clean stop (everything stored already): partitions and slot freed
        at once, so the others take over without waiting for the TTL."""
        for p, revision in list(self._held.items()):
            await self._release(p, revision)
        self._held.clear()
        try:
            await self.slots.delete(f"slot.{self.slot}", last=self._slot_revision)
        except Exception:
            log.debug("slot %d lapses by its TTL", self.slot)

    def _report(self) -> None:
        self.health["cluster"] = {
            "worker": self.name,
            "slot": self.slot,
            "partitions": sorted(self._held),
            "of": self.partitions,
        }


async def join_cluster(
    urls: list[str],
    runtime: Runtime,
    connected: asyncio.Event,
    partitions: int,
    replicas: int,
    recovery_window_s: float,
    stop: Callable[[], None],
) -> Member:
    """Connect (any of the servers; until one answers), keep the stream, join."""
    import nats

    from emon.service.nats_intake import STREAM, ensure_stream

    opened: list[Any] = []  # the client, once connected

    async def disconnected() -> None:
        connected.clear()
        if opened and opened[0].is_closed:
            return  # closed at the service's stop: nothing was lost
        log.warning("NATS connection lost; reconnecting")

    async def reconnected() -> None:
        connected.set()
        log.info("NATS connection back")

    while True:
        try:
            client = await nats.connect(
                servers=urls, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                connect_timeout=2, disconnected_cb=disconnected, reconnected_cb=reconnected,
            )  # fmt: skip
            opened.append(client)
            break
        except Exception as exc:  # a worker without NATS has nothing to do: wait for it
            log.warning("NATS %s not reachable (%s); trying again", ", ".join(urls), exc)
            await asyncio.sleep(2.0)
    js = client.jetstream(timeout=REQUEST_TIMEOUT_S)
    epoch = await ensure_stream(js, replicas)
    if await asyncio.to_thread(runtime.store.adopt_stream, epoch):
        log.warning("the stored stream positions were of another %s (made again?): "
                    "it is read from its start", STREAM)  # fmt: skip
    member = Member(client, js, runtime, partitions, replicas, recovery_window_s, stop)
    await member.join()
    connected.set()
    log.info("worker of %s on %s", STREAM, ", ".join(urls))
    return member
