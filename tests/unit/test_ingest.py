"""The ingest: what travels with a message until it is stored, and the batches."""

from __future__ import annotations

import asyncio

from emon.service.ingest import POSITION, Ingest


def test_a_full_inbox_takes_nothing_and_says_so():
    ingest = Ingest(queue_limit=2)
    assert ingest.offer("emon/v1/fix/a", b"1", 1, (0, 1))
    assert ingest.offer("emon/v1/fix/a", b"2", 2, (0, 2))
    assert not ingest.offer("emon/v1/fix/a", b"3", 3, (0, 3))
    assert ingest.received == 2 and ingest.inbox.qsize() == 2


def test_a_batch_comes_out_with_its_acks_and_the_furthest_mark_of_each_partition():
    ingest = Ingest()
    acked: list[int] = []

    async def feed() -> None:
        await ingest.submit("emon/v1/fix/a", b"1", lambda: acked.append(1), 10, (3, 7))
        await ingest.submit("emon/v1/fix/b", b"2", None, 11, (5, 2))
        await ingest.mark_position({3: 9, 8: 40})  # partition 8 had no traffic
        await ingest.submit("emon/v1/fix/a", b"3", lambda: acked.append(3), 12, (3, 8))

    asyncio.run(feed())
    batch = [ingest.inbox.get_nowait() for _ in range(ingest.inbox.qsize())]
    taken = ingest.take(batch)
    assert [m.payload for m in taken.messages] == [b"1", b"2", b"3"]  # no position marker
    assert all(m.topic != POSITION for m in taken.messages)
    assert taken.marks == {3: 9, 5: 2, 8: 40}
    for ack in taken.acks:
        ack()
    assert acked == [1, 3]
    assert ingest.take(batch).acks == []  # owed once, not twice


def test_micro_batches_go_through_the_runtimes_process_under_its_lock():
    ingest = Ingest(batch_max=3, batch_wait_s=0.01)
    seen: list[int] = []

    async def run() -> None:
        lock = asyncio.Lock()
        for k in range(7):
            ingest.offer("emon/v1/fix/a", b"x", k, (0, k))
        task = asyncio.create_task(ingest.run(lambda b: seen.append(len(b)), lock))
        await asyncio.wait_for(ingest.processed_up_to(7), 5)
        task.cancel()

    asyncio.run(run())
    assert seen == [3, 3, 1] and ingest.processed == 7
