"""The runtime as a worker of a cluster: what it holds, what it stores with
the messages, what it takes from the others. Pure: SQLite, no NATS."""

from __future__ import annotations

import asyncio
import json
import time

from emon.alerts.model import AlertSpan, ShownAlert
from emon.cluster.shard import Shard
from emon.service import recovery
from emon.service.runtime import Runtime
from emon.storage import SqliteStore, Writer
from emon.timeutil import format_ts
from simulators.movement import offset
from simulators.scenarios import ROTTERDAM, base_order

LAT, LON = ROTTERDAM
NOW = int(time.time() * 1000)


def _runtime(tmp_path, name: str = "a") -> Runtime:
    store = SqliteStore(tmp_path / "emon.db")
    store.migrate()
    return Runtime.open(store, Writer(store, tmp_path / f"spool-{name}.jsonl"))


def _order(suffix: str) -> dict:
    body = base_order(ROTTERDAM, valid_from="2026-01-01T00:00:00Z",
                      valid_until="2030-01-01T00:00:00Z")  # fmt: skip
    body["order_id"] = f"OM-{suffix}"
    body["offender"]["device_id"] = f"am-{suffix}"
    body["victims"][0]["device_id"] = f"vd-{suffix}"
    return body


def _fix(suffix: str, seq: int, metres: float) -> tuple[str, bytes]:
    lat, lon = offset(LAT, LON, 270, metres)
    body = {"seq": seq, "ts": format_ts(NOW + seq * 5000), "lat": lat, "lon": lon, "acc": 8}
    return f"emon/v1/fix/am-{suffix}", json.dumps(body).encode()


async def _feed(rt: Runtime, suffix: str, distances: list[float], partition: int) -> None:
    for seq, metres in enumerate(distances, 1):
        topic, payload = _fix(suffix, seq, metres)
        await rt.ingest.submit(topic, payload, recv=NOW + seq * 5000, mark=(partition, 100 + seq))
    batch = [rt.ingest.inbox.get_nowait() for _ in range(rt.ingest.inbox.qsize())]
    rt.process(batch)
    await rt.writer.flush()


def test_the_stored_mark_of_a_partition_is_written_with_its_messages(tmp_path):
    rt = _runtime(tmp_path)
    rt.put_order(_order("m"))

    async def run() -> None:
        await _feed(rt, "m", [3000, 2500], partition=3)
        await rt.ingest.mark_position({3: 150, 5: 140})  # a partition without traffic moves on too
        rt.process([rt.ingest.inbox.get_nowait()])
        await rt.writer.flush()

    asyncio.run(run())
    assert rt.store.partition_marks() == {3: 150, 5: 140}
    assert rt.store.count("messages") == 2  # the marker is no message


def test_marks_of_another_stream_are_dropped_not_used(tmp_path):
    """Positions in a stream made again (or a new NATS cluster on the same
    database) would skip its first messages: a worker joining drops them."""
    store = _runtime(tmp_path).store
    assert store.adopt_stream(1000) is False  # the first stream: nothing to drop
    store.maintain([("INSERT INTO partition_marks (part, seq) VALUES (3, 30000)", [])])
    assert store.adopt_stream(1000) is False  # the same stream, a second worker
    assert store.partition_marks() == {3: 30000}
    assert store.adopt_stream(2000) is True  # another one
    assert store.partition_marks() == {}
    assert store.adopt_stream(2000) is False


def test_a_worker_enforces_only_the_orders_of_the_partitions_it_holds(tmp_path):
    rt = _runtime(tmp_path)
    rt.put_order(_order("x"))
    rt.put_order(_order("y"))
    rt.shard = Shard(64, set())
    rt.shard.remap(r.order for r in rt.orders.values())
    px, py = rt.shard.of_device("am-x"), rt.shard.of_device("am-y")
    assert px != py  # these two ids happen to fall apart at 64 partitions
    rt.shard.owned = {px}
    recovery.rebuild(rt, 3600, NOW)
    assert [c.order.order_id for c in rt.engine.index.orders.values()] == ["OM-x"]
    asyncio.run(_feed(rt, "y", [3000, 500, 400, 300], partition=py))
    assert not rt.alerts  # not held here: its messages are another worker's
    asyncio.run(_feed(rt, "x", [3000, 500, 400, 300], partition=px))
    assert {a["order_id"] for a in rt.alerts.values()} == {"OM-x"}


def test_a_partition_taken_over_is_rebuilt_from_storage_and_nothing_is_sent_again(tmp_path):
    first = _runtime(tmp_path, "first")
    first.put_order(_order("t"))
    asyncio.run(_feed(first, "t", [3000, 500, 400, 300], partition=0))
    (alert,) = first.alerts.values()
    assert alert["state"] == "open"
    assert first.outbox.qsize()  # the victim's warning and the centre's alert

    second = _runtime(tmp_path, "second")  # the same database
    second.recover(3600)  # what a worker does when it gains the partition
    assert second.alerts[alert["alert_id"]]["state"] == "open"
    assert second.outbox.empty()  # the first sent it
    asyncio.run(_feed(second, "t", [250], partition=0))  # and it goes on as one episode
    assert [a["alert_id"] for a in second.alerts.values() if a["type"] == alert["type"]] == [
        alert["alert_id"]
    ]


def test_an_order_version_from_another_worker_is_taken_once_and_never_an_older_one(tmp_path):
    rt = _runtime(tmp_path)
    body = _order("o")
    rt.order_elsewhere("OM-o", body, 2)
    assert rt.orders["OM-o"].version == 2
    older = dict(body, risk="low")
    rt.order_elsewhere("OM-o", older, 1)  # late, older: ignored
    assert rt.orders["OM-o"].order.risk == "high"
    rt.order_elsewhere("OM-o", None, 3)  # revoked there
    assert "OM-o" not in rt.orders
    assert rt.store.count("orders") == 0  # the worker that took the change stored it


def test_an_alert_held_elsewhere_is_shown_and_one_held_here_is_not_overwritten(tmp_path):
    rt = _runtime(tmp_path)
    rt.put_order(_order("h"))
    shown = {"alert_id": "A-1", "order_id": "OM-elsewhere", "state": "open", "detected_at": "x"}
    rt.shown_elsewhere(ShownAlert(shown, AlertSpan(1000, 1000, None)))
    assert rt.alerts["A-1"] == shown and rt.alert_book.shown("A-1").span.started_at == 1000
    asyncio.run(_feed(rt, "h", [3000, 500, 400, 300], partition=0))
    (mine,) = [a for a in rt.alerts.values() if a["order_id"] == "OM-h"]
    echo = ShownAlert(dict(mine, state="resolved"), AlertSpan(0, 0, None))
    rt.shown_elsewhere(echo)  # an echo of an older record: ours wins
    assert rt.alerts[mine["alert_id"]]["state"] == "open"
