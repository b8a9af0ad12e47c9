"""Retention: what outlived its period goes, what is held as evidence stays,
and the evidence chain still verifies across what was removed."""

from __future__ import annotations

import asyncio
import json
import time

from emon.engine import Message
from emon.service.retention import Retention, prune
from emon.service.runtime import Runtime
from emon.storage import SqliteStore, Writer
from emon.storage.chain import verify_period
from emon.timeutil import format_ts, parse_ts
from simulators.movement import offset
from simulators.scenarios import ROTTERDAM, base_order

LAT, LON = ROTTERDAM
DAY = 86_400_000


def feed(rt: Runtime, device: str, at: int, seq: int, metres: float) -> None:
    lat, lon = offset(LAT, LON, 270, metres)
    fix = {"seq": seq, "ts": format_ts(at), "lat": lat, "lon": lon, "acc": 8}
    rt.process([Message(at, f"emon/v1/fix/{device}", json.dumps(fix).encode())])


def test_old_data_goes_except_the_evidence_around_a_violation(tmp_path):
    store = SqliteStore(tmp_path / "emon.db")
    store.migrate()
    rt = Runtime.open(store, Writer(store, tmp_path / "spool.jsonl"))
    rt.put_order(base_order(ROTTERDAM, valid_from="2026-01-01T00:00:00Z",
                            valid_until="2030-01-01T00:00:00Z"))  # fmt: skip
    t0 = int(time.time() * 1000) - 4 * 3_600_000
    for k, metres in enumerate([3000, 1500, 900, 600, 1500, 3000]):  # in and out: one violation
        feed(rt, "am-0001", t0 + k * 20_000, k + 1, metres)
    later = t0 + 3 * 3_600_000  # hours later, far from the zone: nothing to hold
    for k in range(5):
        feed(rt, "am-0001", later + k * 30_000, 100 + k, 5000)
    (violation,) = [a for a in rt.alerts.values() if a["type"] == "zone_violation"]
    asyncio.run(rt.writer.flush())

    counts = prune(store, Retention(), parse_ts(violation["started_at"]) + 91 * DAY)
    assert counts["fixes"] == 5 and counts["messages"] == 5
    kept = [seq for (seq,) in store.db.execute("SELECT seq FROM fixes ORDER BY seq")]
    assert kept == [1, 2, 3, 4, 5, 6]
    emptied = store.db.execute("SELECT count(*) FROM messages WHERE payload = x''").fetchone()[0]
    assert emptied == 5
    verdict = verify_period(store, 0, later + DAY)
    # the five messages emptied, and the five fixes deleted with their digests kept
    assert verdict.intact and verdict.pruned == 10

    # an operator finds it was a device fault: the hold is released, the rest goes too
    rt.act(violation["alert_id"], "resolve", "GPS drift", "op", classification="technical")
    asyncio.run(rt.writer.flush())
    prune(store, Retention(), parse_ts(violation["started_at"]) + 91 * DAY)
    assert store.count("fixes") == 0
    assert verify_period(store, 0, later + DAY).intact


def test_a_hold_on_an_order_keeps_its_data(tmp_path):
    store = SqliteStore(tmp_path / "emon.db")
    store.migrate()
    rt = Runtime.open(store, Writer(store, tmp_path / "spool.jsonl"))
    order = base_order(
        ROTTERDAM, valid_from="2026-01-01T00:00:00Z", valid_until="2030-01-01T00:00:00Z"
    )
    rt.put_order(order)
    t0 = int(time.time() * 1000)
    for k in range(4):
        feed(rt, "am-0001", t0 + k * 30_000, k + 1, 5000)
    rt.hold(order["order_id"], t0 - 1000, t0 + 60_000, "investigation ZAAK-77")
    asyncio.run(rt.writer.flush())
    counts = prune(store, Retention(fixes_days=1, messages_days=1), t0 + 2 * DAY)
    assert counts["fixes"] == 1 and store.count("fixes") == 3  # the fourth is outside the hold
    assert Retention.from_config({"fixes_days": 30}).fixes_days == 30


def test_a_persons_export_shows_their_data_and_not_the_other_partys(tmp_path):
    from emon.review.export import person_export

    store = SqliteStore(tmp_path / "emon.db")
    store.migrate()
    rt = Runtime.open(store, Writer(store, tmp_path / "spool.jsonl"))
    order = base_order(ROTTERDAM, valid_from="2026-01-01T00:00:00Z",
                       valid_until="2030-01-01T00:00:00Z",
                       contact_ban={"distance_m": 500, "prealert_m": 1000})  # fmt: skip
    rt.put_order(order)
    t0 = int(time.time() * 1000)
    for k, metres in enumerate([3000, 1500, 900, 600, 400]):
        feed(rt, "am-0001", t0 + k * 20_000, k + 1, metres)
        feed(rt, "vd-0001", t0 + k * 20_000 + 1, k + 1, 0)
    asyncio.run(rt.writer.flush())
    alerts = rt.alert_book.everything()

    offender = person_export(store, alerts, "P-1")
    assert offender["devices"] == ["am-0001"] and len(offender["fixes"]) == 5
    assert {f["device_id"] for f in offender["fixes"]} == {"am-0001"}
    assert all("address" not in v for o in offender["orders"] for v in o["order"]["victims"])
    assert any(a.get("details") for a in offender["alerts"])

    victim = person_export(store, alerts, "V-1")
    assert victim["devices"] == ["vd-0001"] and {f["device_id"] for f in victim["fixes"]} == {
        "vd-0001"
    }
    assert all(set(o["order"]["offender"]) == {"person_id"} for o in victim["orders"])
    assert victim["alerts"] and all("details" not in a for a in victim["alerts"])
    assert victim["notifications"]  # what her device was told
    assert person_export(store, alerts, "nobody")["orders"] == []
