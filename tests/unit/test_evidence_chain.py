"""The evidence chain: intact as stored, and any later change is found."""

from __future__ import annotations

import asyncio
import json
import time

from hypothesis import given
from hypothesis import strategies as st

from emon.engine import Message
from emon.service.runtime import Runtime
from emon.storage import SqliteStore, Writer
from emon.storage.chain import GENESIS, Chain, Link, verify, verify_period
from emon.timeutil import format_ts
from simulators.movement import offset
from simulators.scenarios import ROTTERDAM, base_order

LAT, LON = ROTTERDAM


def stored_runtime(tmp_path, n_fixes: int = 6):
    """A service that stored an approach into a zone (messages and alerts)."""
    store = SqliteStore(tmp_path / "emon.db")
    store.migrate()
    rt = Runtime.open(store, Writer(store, tmp_path / "spool.jsonl"))
    rt.put_order(base_order(ROTTERDAM, valid_from="2026-01-01T00:00:00Z",
                            valid_until="2030-01-01T00:00:00Z"))  # fmt: skip
    now = int(time.time() * 1000)
    for k, metres in enumerate([3000, 2000, 900, 600, 400, 300][:n_fixes]):
        lat, lon = offset(LAT, LON, 270, metres)
        fix = {"seq": k + 1, "ts": format_ts(now + k * 20_000), "lat": lat, "lon": lon, "acc": 8}
        rt.process([Message(now + k * 20_000, "emon/v1/fix/am-0001", json.dumps(fix).encode())])
    asyncio.run(rt.writer.flush())
    return store, rt, now


def message_seqs(store) -> list[int]:
    """The chain numbers of the stored messages, in order (fixes, order
    versions and alert changes have numbers between them)."""
    return [s for (s,) in store.db.execute("SELECT chain_seq FROM messages ORDER BY chain_seq")]


def test_a_stored_period_verifies_and_any_change_is_found(tmp_path):
    store, rt, now = stored_runtime(tmp_path)
    whole = (now - 1000, now + 10**7)
    verdict = verify_period(store, *whole)
    assert verdict.intact and verdict.checked >= 7  # six messages and the alert
    assert verdict.head == rt.chain.head

    # an altered payload
    third = message_seqs(store)[2]
    store.db.execute("UPDATE messages SET payload = ? WHERE chain_seq = ?", (b'{"seq":3}', third))
    problems = verify_period(store, *whole).problems
    assert problems == [{"seq": third, "kind": "message", "at": now + 40_000, "problem": "altered"}]


def test_deleted_and_inserted_rows_are_found(tmp_path):
    store, _rt, now = stored_runtime(tmp_path)
    whole = (now - 1000, now + 10**7)
    fourth = message_seqs(store)[3]
    store.db.execute("DELETE FROM messages WHERE chain_seq = ?", (fourth,))
    store.db.execute("INSERT INTO messages (recv, topic, payload) VALUES (?, 'x', x'00')", (now,))
    problems = {p["problem"]: p for p in verify_period(store, *whole).problems}
    assert problems["missing"]["seq"] == fourth
    assert problems["unchained"]["at"] == now
    assert "altered" in problems  # the next link no longer follows the one before the gap


def test_a_changed_alert_body_is_found(tmp_path):
    store, _rt, now = stored_runtime(tmp_path)
    body = json.loads(store.db.execute("SELECT body FROM alert_changes").fetchone()[0])
    body["severity"] = "low"
    store.db.execute("UPDATE alert_changes SET body = ?", (json.dumps(body),))
    problems = verify_period(store, now - 1000, now + 10**7).problems
    (problem,) = [p for p in problems if "kind" in p]
    assert problem["kind"] == "alert_change" and problem["problem"] == "altered"
    # and the alert as the service shows it no longer matches its last stored change
    assert [p for p in problems if "kind" not in p] == [
        {"table": "alerts", "id": _rt.alerts and next(iter(_rt.alerts)), "problem": "altered"}
    ]


def test_a_period_in_the_middle_verifies_from_its_predecessor(tmp_path):
    store, _rt, now = stored_runtime(tmp_path)
    middle = verify_period(store, now + 30_000, now + 70_000)
    third = message_seqs(store)[2]
    assert middle.intact and middle.first_seq == third
    before = third - 1  # the link before the period's first (the second message's fix)
    store.db.execute("DELETE FROM fixes WHERE chain_seq = ?", (before,))
    assert verify_period(store, now + 30_000, now + 70_000).problems == [
        {"seq": before, "problem": "missing"}
    ]


def test_the_chain_continues_after_a_restart(tmp_path):
    store, rt, _now = stored_runtime(tmp_path, n_fixes=3)
    again = Runtime.open(store, Writer(store, tmp_path / "spool.jsonl"))
    assert (again.chain.seq, again.chain.head) == (rt.chain.seq, rt.chain.head)


@given(st.lists(st.binary(max_size=40), min_size=1, max_size=20), st.data())
def test_any_single_change_breaks_verification(payloads, data):
    chain = Chain()
    links = []
    for k, payload in enumerate(payloads):
        fields = (k, "emon/v1/fix/d", payload)
        seq, digest = chain.link("message", fields)
        links.append(Link(seq, "message", fields, digest, k))
    assert verify(links, None).intact
    victim = data.draw(st.integers(0, len(links) - 1))
    changed = data.draw(st.binary(max_size=40).filter(lambda b: b != payloads[victim]))
    old = links[victim]
    links[victim] = Link(old.seq, old.kind, (old.fields[0], old.fields[1], changed), old.hash, 0)
    assert not verify(links, None).intact
    assert GENESIS not in {link.hash for link in links}


def test_reminders_reach_the_supervisor_and_the_om_once(tmp_path):
    store = SqliteStore(tmp_path / "emon.db")
    store.migrate()
    rt = Runtime.open(store, Writer(store, tmp_path / "spool.jsonl"))
    now = int(time.time() * 1000)
    rt.put_order(base_order(ROTTERDAM, valid_from="2026-01-01T00:00:00Z",
                            valid_until=format_ts(now + 2 * 86_400_000)))  # fmt: skip
    rt.check_reminders(now)
    rt.check_reminders(now + 1000)
    sent = []
    while not rt.outbox.empty():
        sent.append(rt.outbox.get_nowait().topic)
    assert sorted(sent) == ["emon/v1/reminders/om", "emon/v1/reminders/reclassering"]
    (reminder,) = rt.schedule.sent.values()
    assert reminder["type"] == "order_expiring" and reminder["days_before"] == 3
    assert not rt.alerts  # a reminder is no alert: the contract's alert list stays as it was
    asyncio.run(rt.writer.flush())
    again = Runtime.open(store, Writer(store, tmp_path / "spool.jsonl"))
    again.book.orders = rt.orders
    again.check_reminders(now + 2000)
    assert again.outbox.empty()  # not sent twice across a restart


def test_later_reminders_and_the_lapse_come_when_due(tmp_path):
    store = SqliteStore(tmp_path / "emon.db")
    store.migrate()
    rt = Runtime.open(store, Writer(store, tmp_path / "spool.jsonl"))
    now = int(time.time() * 1000)
    day = 86_400_000
    until = now + 20 * day
    rt.put_order(base_order(ROTTERDAM, valid_from="2026-01-01T00:00:00Z",
                            valid_until=format_ts(until)))  # fmt: skip
    seen = []
    for at in range(now, until + 2 * day, day // 4):  # every six hours, as the service would
        rt.check_reminders(at)
        seen += [(r["type"], r["days_before"]) for r in rt.schedule.sent.values()
                 if (r["type"], r["days_before"]) not in seen]  # fmt: skip
    assert seen == [("order_expiring", 28), ("order_expiring", 14), ("order_expiring", 3),
                    ("order_lapsed", None)]  # fmt: skip


def test_workers_of_a_cluster_keep_a_chain_each_and_every_one_verifies(tmp_path):
    """Two writers cannot share one hash chain: worker slot k numbers its links
    from k * CHAIN_BLOCK + 1. The store holds both; each verifies from its own
    start, a change in either is found, and each continues where it stopped."""
    from emon.storage.chain import CHAIN_BLOCK

    store, first, now = stored_runtime(tmp_path)
    second = Runtime.open(store, Writer(store, tmp_path / "spool2.jsonl"))
    second.use_chain_slot(1)
    for k in range(3):
        fix = {"seq": k + 1, "ts": format_ts(now + k * 1000), "lat": LAT + 0.1, "lon": LON}
        second.process([Message(now + k * 1000, "emon/v1/fix/am-other", json.dumps(fix).encode())])
    asyncio.run(second.writer.flush())
    whole = (now - 1000, now + 10**7)
    verdict = verify_period(store, *whole)
    assert verdict.intact, verdict.problems
    assert store.chain_head(0) == (first.chain.seq, first.chain.head)
    assert store.chain_head(1) == (second.chain.seq, second.chain.head)
    assert second.chain.seq == CHAIN_BLOCK + 3
    # a later period that starts inside both chains checks each from its link before
    assert verify_period(store, now + 1, now + 10**7).intact

    again = Runtime.open(store, Writer(store, tmp_path / "spool3.jsonl"))
    again.use_chain_slot(1)  # a worker that takes the slot later goes on from its head
    assert (again.chain.seq, again.chain.head) == (second.chain.seq, second.chain.head)

    store.db.execute("UPDATE messages SET payload = ? WHERE chain_seq = ?",
                     (b"{}", CHAIN_BLOCK + 2))  # fmt: skip
    problems = verify_period(store, *whole).problems
    assert [(p["seq"], p["problem"]) for p in problems] == [(CHAIN_BLOCK + 2, "altered")]
