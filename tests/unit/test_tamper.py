"""Tamper evidence over everything an evidence report draws from.

Each edit below passed `emon verify` before: a fix moved, an order's zone
shrunk from 1,500 m to 50 m, an operator's note rewritten, a notification
marked acknowledged, an alert reclassified, the last messages deleted. Each
must now be named, and an evidence report must not show a changed row beside
"intact"."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from emon.engine import Message
from emon.review.evidence import for_alert
from emon.service.runtime import Runtime
from emon.storage import SqliteStore, Writer
from emon.storage.anchor import AnchorLog, anchor_once, checked_against
from emon.storage.chain import verify_period
from emon.timeutil import format_ts
from simulators.movement import offset
from simulators.scenarios import ROTTERDAM, base_order

LAT, LON = ROTTERDAM
KEY = b"k" * 32


@pytest.fixture
def stored(tmp_path):
    """A service that stored an approach into a 1,500 m zone, a warning to the
    victim, an operator's acknowledgement, and anchored its head."""
    store = SqliteStore(tmp_path / "emon.db")
    store.migrate()
    rt = Runtime.open(store, Writer(store, tmp_path / "spool.jsonl"))
    order = base_order(ROTTERDAM, valid_from="2026-01-01T00:00:00Z",
                       valid_until="2030-01-01T00:00:00Z")  # fmt: skip
    order["zones"][0]["radius_m"] = 1500
    rt.put_order(order)
    now = int(time.time() * 1000)
    for k, metres in enumerate([4000, 3000, 1200, 900, 700, 600]):
        lat, lon = offset(LAT, LON, 270, metres)
        fix = {"seq": k + 1, "ts": format_ts(now + k * 20_000), "lat": lat, "lon": lon,
               "acc": 8.3, "batt": 77.7}  # fmt: skip
        rt.process([Message(now + k * 20_000, "emon/v1/fix/am-0001", json.dumps(fix).encode())])
    (violation,) = [a for a in rt.alerts.values() if a["type"] == "zone_violation"]
    rt.act(violation["alert_id"], "ack", "calling the victim", "A. de Vries")
    asyncio.run(rt.writer.flush())
    log = AnchorLog(tmp_path / "anchors.jsonl", KEY)
    anchor_once(store.chain_head(), log, lambda payload: None, now + 10**6)
    return store, rt, log, violation, (now - 1000, now + 10**7)


def problems(store, log, period):
    return verify_period(store, *period, checked_against(store, log, *period)).problems


def test_as_stored_everything_verifies(stored):
    store, _rt, log, violation, period = stored
    verdict = verify_period(store, *period, checked_against(store, log, *period))
    assert verdict.intact, verdict.problems
    kinds = {link.kind for link in store.chain_links(*period)}
    assert kinds == {"message", "fix", "order", "alert_change", "action", "notification"}
    bundle = for_alert(store, _rt.alert_book.everything(), violation["alert_id"], period[1])
    assert bundle.chain["intact"] and bundle.chain["shown"]["checked"] > 10


@pytest.mark.parametrize(
    "edit, kind",
    [
        ("UPDATE fixes SET lat = lat + 0.01 WHERE seq = 4", "fix"),  # the fix moved
        ("UPDATE fixes SET acc = 80 WHERE seq = 5", "fix"),
        ("UPDATE orders SET body = replace(body, '1500', '50')", "order"),  # the zone shrunk
        ("UPDATE actions SET note = 'victim not reachable'", "action"),
        (
            "UPDATE notification_changes SET body = replace(body, '\"attempts\": 1', "
            "'\"attempts\": 3')",
            "notification",
        ),
    ],
)
def test_an_edited_row_of_any_chained_table_is_named(stored, edit, kind):
    store, rt, log, violation, period = stored
    store.db.execute(edit)
    found = problems(store, log, period)
    assert {"kind": kind, "problem": "altered"}.items() <= next(
        p for p in found if p.get("kind") == kind
    ).items(), found
    bundle = for_alert(store, rt.alert_book.everything(), violation["alert_id"], period[1])
    assert not bundle.chain["intact"]


@pytest.mark.parametrize(
    "table, edit",
    [
        ("alerts", "UPDATE alerts SET body = replace(body, '\"critical\"', '\"low\"')"),
        ("notifications", "UPDATE notifications SET acked_at = 1, attempts = 1"),
    ],
)
def test_an_edited_latest_state_is_named(stored, table, edit):
    store, _rt, log, _violation, period = stored
    store.db.execute(edit)
    found = problems(store, log, period)
    assert any(p.get("table") == table and p["problem"] == "altered" for p in found), found


def test_the_last_rows_deleted_are_found_through_the_anchor(stored):
    store, _rt, log, _violation, period = stored
    (cut,) = store.db.execute("SELECT min(chain_seq) FROM messages WHERE chain_seq > "
                              "(SELECT max(chain_seq) - 12 FROM messages)").fetchone()  # fmt: skip
    for table in ("messages", "fixes", "alert_changes", "actions", "notification_changes"):
        store.db.execute(f"DELETE FROM {table} WHERE chain_seq >= ?", (cut,))
    (truncated,) = [p for p in problems(store, log, period) if p["problem"] == "truncated"]
    assert truncated["seq"] == cut


def test_a_forged_anchor_is_refused(stored, tmp_path):
    store, _rt, log, _violation, period = stored
    line = json.loads(log.path.read_text().splitlines()[-1])
    line["seq"] -= 5  # made to match a database cut short
    log.path.write_text(log.path.read_text() + json.dumps(line) + "\n")
    found = problems(store, log, period)
    assert [p["problem"] for p in found] == ["forged_anchor"]
