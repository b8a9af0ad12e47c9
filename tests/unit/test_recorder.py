"""What the service stores: nothing is chained before the chain is resumed."""

from __future__ import annotations

import asyncio

import pytest

from emon.service.recorder import NotOpened, Recorder
from emon.service.runtime import Runtime
from emon.storage import SqliteStore, Writer
from simulators.scenarios import ROTTERDAM, base_order


def test_rows_are_not_chained_on_a_chain_that_was_never_resumed(tmp_path):
    store = SqliteStore(tmp_path / "emon.db")
    store.migrate()
    recorder = Recorder(Writer(store, tmp_path / "spool.jsonl"))
    with pytest.raises(NotOpened):
        recorder.action("A-1", "ack", "", "op", 0)
    runtime = Runtime(store, Writer(store, tmp_path / "spool2.jsonl"))  # built, not opened
    with pytest.raises(NotOpened):
        runtime.put_order(base_order(ROTTERDAM))


def test_the_constructor_reads_nothing_and_open_continues_the_stored_chain(tmp_path):
    store = SqliteStore(tmp_path / "emon.db")
    store.migrate()
    first = Runtime.open(store, Writer(store, tmp_path / "spool.jsonl"))
    first.put_order(base_order(ROTTERDAM))
    asyncio.run(first.writer.flush())
    head = store.chain_head(0)
    assert head is not None and head[0] >= 0
    again = Runtime.open(store, Writer(store, tmp_path / "spool2.jsonl"))
    assert (again.chain.seq, again.chain.head) == head  # the next link follows it
