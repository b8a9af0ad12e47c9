"""Escalation that acts: an alert nobody takes on goes to the supervisor, once."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from emon.alerts.escalation import POLICE_UNCONFIRMED, UNACKNOWLEDGED, Escalations, Ladder
from emon.engine import Message
from emon.service.runtime import Runtime
from emon.storage import SqliteStore, Writer
from emon.timeutil import format_ts
from simulators.movement import offset
from simulators.scenarios import ROTTERDAM, base_order

CENTRE = ("reclassering", "monitoring")
ALL = ("police", *CENTRE)


def alert(severity="critical", state="open", **more):
    return {"alert_id": "A-1", "severity": severity, "state": state, "ended_at": None, **more}


def test_a_critical_alert_nobody_acknowledges_escalates_once():
    e = Escalations()
    e.track(alert(), CENTRE, since=0)
    assert e.due(119_000) == []
    (due,) = e.due(120_000)
    assert (due.reason, due.waited_s) == (UNACKNOWLEDGED, 120.0)
    assert e.due(500_000) == []  # once


def test_an_acknowledged_or_ended_alert_does_not_escalate():
    e = Escalations()
    e.track(alert(actions=[{"action": "ack"}]), CENTRE, since=0)
    assert e.due(600_000) == []
    e.track(alert(ended_at="x", state="ended"), CENTRE, since=0)
    assert e.due(600_000) == []
    e.track(alert(severity="low"), CENTRE, since=0)  # a flat battery waits its turn
    assert e.due(10**9) == []


def test_police_not_confirming_escalates_even_when_the_centre_took_it_on():
    e = Escalations()
    e.track(alert(actions=[{"action": "ack"}]), ALL, since=0)
    (due,) = e.due(300_000)
    assert due.reason == POLICE_UNCONFIRMED
    e.track(alert(actions=[{"action": "ack"}], dispatch_confirmed={"by": "x"}), ALL, since=0)
    assert e.due(900_000) == []


def test_after_a_restart_what_was_escalated_stays_escalated():
    e = Escalations()
    e.track(alert(escalations=[{"reason": UNACKNOWLEDGED}]), CENTRE, since=0)
    assert e.due(10**9) == []


def test_the_ladder_from_configuration():
    ladder = Ladder.from_config({"unacknowledged_s": {"critical": 30, "high": None},
                                 "police_confirm_s": None})  # fmt: skip
    assert ladder.unacknowledged_s == {"critical": 30.0} and ladder.police_confirm_s is None
    with pytest.raises(ValueError):
        Ladder.from_config({"unacknowledged_s": {"urgent": 5}})
    with pytest.raises(ValueError):
        Ladder.from_config({"police_confirm_s": 0})


def test_the_service_tells_the_supervisor_and_records_it_on_the_alert(tmp_path):
    store = SqliteStore(tmp_path / "emon.db")
    store.migrate()
    rt = Runtime.open(store, Writer(store, tmp_path / "spool.jsonl"))
    rt.put_order(base_order(ROTTERDAM, valid_from="2026-01-01T00:00:00Z",
                            valid_until="2030-01-01T00:00:00Z"))  # fmt: skip
    now = int(time.time() * 1000)
    for k, metres in enumerate([4000, 3000, 600, 500, 400]):
        lat, lon = offset(*ROTTERDAM, 270, metres)
        fix = {"seq": k + 1, "ts": format_ts(now + k * 20_000), "lat": lat, "lon": lon, "acc": 8}
        rt.process([Message(now + k * 20_000, "emon/v1/fix/am-0001", json.dumps(fix).encode())])
    (violation,) = [a for a in rt.alerts.values() if a["type"] == "zone_violation"]
    assert violation["severity"] == "critical"
    while not rt.outbox.empty():
        rt.outbox.get_nowait()
    rt.tick(now + 80_000 + 121_000)
    sent = [rt.outbox.get_nowait() for _ in range(rt.outbox.qsize())]
    (told,) = [m for m in sent if m.topic == "emon/v1/alerts/supervisor"]
    body = json.loads(told.payload)
    assert body["reason"] == "unacknowledged" and body["alert"]["alert_id"] == violation["alert_id"]
    assert [e["reason"] for e in rt.alerts[violation["alert_id"]]["escalations"]] == [
        "unacknowledged"]  # fmt: skip

    def supervisor_hears(at):
        rt.tick(at)
        sent = [rt.outbox.get_nowait() for _ in range(rt.outbox.qsize())]
        told = [json.loads(m.payload) for m in sent if m.topic == "emon/v1/alerts/supervisor"]
        # (a silent device's signal_lost, high at this risk, goes its own way)
        return [b["reason"] for b in told if b["alert"]["alert_id"] == violation["alert_id"]]

    assert supervisor_hears(now + 80_000 + 250_000) == []  # once
    # routed to the police, who never confirmed: that too, once
    assert supervisor_hears(now + 80_000 + 301_000) == ["police_unconfirmed"]
    assert supervisor_hears(now + 80_000 + 900_000) == []
    asyncio.run(rt.writer.flush())
    stored = {a.alert_id: a.body for a in store.alerts()}
    assert stored[violation["alert_id"]]["escalations"][0]["reason"] == "unacknowledged"
