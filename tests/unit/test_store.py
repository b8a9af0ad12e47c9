"""The storage writer: order versions, refused rows, spooling (SQLite, no server)."""

from __future__ import annotations

import asyncio

from emon.service.runtime import Runtime
from emon.storage import SqliteStore, Writer
from simulators.scenarios import ROTTERDAM, base_order


def runtime(tmp_path):
    store = SqliteStore(tmp_path / "emon.db")
    store.migrate()
    return store, Runtime.open(store, Writer(store, tmp_path / "emon-spool.jsonl"))


def test_versions_survive_revocation_and_reregistration(tmp_path):
    async def scenario():
        store, rt = runtime(tmp_path)
        order = base_order(ROTTERDAM)
        rt.put_order(order)
        rt.put_order(order)
        rt.revoke_order(order["order_id"])
        rt.put_order(order)
        await rt.writer.flush()
        rows = store.db.execute(
            "SELECT version, revoked_at IS NOT NULL FROM orders ORDER BY version"
        ).fetchall()
        assert rows == [(1, 0), (2, 0), (3, 1), (4, 0)]
        assert rt.writer.healthy and rt.writer.refused == 0
        assert [o["order_id"] for o in store.orders()] == [order["order_id"]]

    asyncio.run(scenario())


def test_a_refused_row_is_set_aside_and_blocks_nothing(tmp_path):
    async def scenario():
        store, rt = runtime(tmp_path)
        writer = rt.writer
        writer.add(
            "orders", [("X", 1, "{}", 1, None, None, None), ("X", 1, "{}", 2, None, None, None)]
        )  # same key twice
        writer.add("messages", [(5, "emon/v1/fix/a", b"{}", None, None)])
        await writer.flush()
        assert writer.healthy and writer.refused == 1
        assert store.count("orders") == 1 and store.count("messages") == 1
        assert (tmp_path / "emon-refused-writes.jsonl").read_text().count("\n") == 1
        writer.add("messages", [(6, "emon/v1/fix/a", b"{}", None, None)])
        await writer.flush()
        assert store.count("messages") == 2

    asyncio.run(scenario())


def test_writes_are_spooled_while_the_database_is_away(tmp_path):
    async def scenario():
        store, rt = runtime(tmp_path)
        writer = rt.writer
        store.db.close()  # the database goes away
        writer.add("messages", [(1, "emon/v1/fix/a", b"\x00\xff", None, None)])
        await writer.flush()
        assert not writer.healthy and (tmp_path / "emon-spool.jsonl").exists()
        writer.store = SqliteStore(tmp_path / "emon.db")  # and comes back
        writer.add("messages", [(2, "emon/v1/fix/a", b"{}", None, None)])
        await writer.flush()
        assert writer.healthy and not (tmp_path / "emon-spool.jsonl").exists()
        rows = writer.store.db.execute(
            "SELECT recv, payload FROM messages ORDER BY recv"
        ).fetchall()
        assert rows == [(1, b"\x00\xff"), (2, b"{}")]

    asyncio.run(scenario())


def test_unacknowledged_notifications_come_back_after_a_restart(tmp_path):
    """Re-sending and escalation go on across a restart: someone must still
    phone the victim."""

    async def scenario():
        _, rt = runtime(tmp_path)
        order = base_order(ROTTERDAM)
        rt.put_order(order)
        alert = {"alert_id": "A-1", "type": "zone_violation", "state": "open", "ended_at": None,
                 "order_id": order["order_id"], "device_id": "am-0001", "details": {}}  # fmt: skip
        sent = rt.delivery.on_alert(alert, rt.orders[order["order_id"]].order, 1_000)
        assert any(m.topic == "emon/v1/notify/vd-0001" for m in sent)
        rt._store_notifications()
        await rt.writer.flush()
        _, again = runtime(tmp_path)
        again.recover(3600)
        (pending,) = again.delivery.pending.values()
        assert pending.device_id == "vd-0001" and pending.victim
        steps = [[m.topic for m in again.delivery.tick(1_000 + k * 30_000)] for k in (1, 2, 3)]
        assert steps == [["emon/v1/notify/vd-0001"]] * 2 + [["emon/v1/alerts/monitoring"]]

    asyncio.run(scenario())


def test_a_poison_message_costs_only_its_own_evaluation(tmp_path):
    import json

    from emon.engine.base import Message
    from emon.timeutil import format_ts

    store, rt = runtime(tmp_path)
    rt.put_order(base_order(ROTTERDAM))
    engine = rt.current_engine()
    original = engine.handle_batch

    def fragile(batch):
        if any(m.payload == b"poison" for m in batch):
            raise RuntimeError("a case nobody foresaw")
        return original(batch)

    engine.handle_batch = fragile
    fix = {"ts": format_ts(1_764_331_200_000), "lat": 51.97, "lon": 4.48, "acc": 8}
    batch = [
        Message(1_764_331_200_000, "emon/v1/fix/am-0001", json.dumps({**fix, "seq": 1}).encode()),
        Message(1_764_331_200_001, "emon/v1/fix/am-0001", b"poison"),
        Message(1_764_331_200_002, "emon/v1/fix/am-0001", json.dumps({**fix, "seq": 2}).encode()),
    ]
    rt.process(batch)
    asyncio.run(rt.writer.flush())
    assert store.count("messages") == 3  # all stored raw, once
    assert store.count("fixes") == 2  # the others evaluated
    assert rt.metrics.engine_errors._value.get() == 1
