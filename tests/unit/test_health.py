"""The device health board: worst first, and no position in it."""

from __future__ import annotations

import json

from emon.engine import Engine, Message
from emon.orders import parse_order
from emon.service.health import device_health
from emon.timeutil import format_ts, parse_ts
from simulators.scenarios import ROTTERDAM, base_order

T0 = parse_ts("2026-11-28T12:00:00Z")
LAT, LON = ROTTERDAM


def message(recv: int, topic: str, body: dict) -> Message:
    return Message(recv, topic, json.dumps(body).encode())


def board(engine: Engine, alerts: list[dict], now: int) -> dict[str, dict]:
    rows = device_health(engine, alerts, now)
    return {r["device_id"]: r for r in rows} | {"_order": [r["device_id"] for r in rows]}


def test_a_tampered_device_tops_the_board_and_no_position_is_shown():
    engine = Engine([parse_order(base_order(ROTTERDAM))], start=T0)
    fix = {"seq": 1, "ts": format_ts(T0), "lat": LAT + 0.05, "lon": LON, "acc": 12, "batt": 9}
    alerts = engine.handle_batch([message(T0, "emon/v1/fix/am-0001", fix)]).alerts_json()
    rows = board(engine, alerts, T0 + 5_000)
    assert rows["_order"] == ["vd-0001", "am-0001"]  # never a fix: worse than a low battery
    assert rows["vd-0001"]["problems"] == ["no_fix_yet"]
    assert rows["am-0001"]["problems"] == ["battery_low"] and rows["am-0001"]["battery_pct"] == 9
    assert rows["am-0001"]["last_fix_age_s"] == 5.0 and rows["am-0001"]["accuracy_m"] == 12
    assert not {"lat", "lon"} & set(rows["am-0001"])

    event = {"seq": 2, "ts": format_ts(T0 + 6_000), "type": "tamper"}
    alerts += engine.handle_batch(
        [message(T0 + 6_000, "emon/v1/event/am-0001", event)]
    ).alerts_json()
    rows = board(engine, alerts, T0 + 7_000)
    assert rows["_order"][0] == "am-0001" and "tamper" in rows["am-0001"]["problems"]


def test_a_silent_device_is_overdue_then_lost():
    engine = Engine([parse_order(base_order(ROTTERDAM))], start=T0)
    fix = {"seq": 1, "ts": format_ts(T0), "lat": LAT + 0.05, "lon": LON, "acc": 8}
    alerts = engine.handle_batch([message(T0, "emon/v1/fix/am-0001", fix)]).alerts_json()
    assert "fix_overdue" in board(engine, alerts, T0 + 301_000)["am-0001"]["problems"]
    alerts += engine.advance(T0 + 700_000).alerts_json()
    assert "signal_lost" in board(engine, alerts, T0 + 700_000)["am-0001"]["problems"]
    assert not [d for d in device_health(engine, alerts, parse_ts("2027-06-01T00:00:00Z"))]


def test_a_panic_is_a_sign_of_life_though_only_fixes_hold_off_signal_lost():
    """Her panic 7 s ago is contact 7 s ago on the board; signal_lost still
    follows the contract (no fix), and says when she was last heard at all."""
    engine = Engine([parse_order(base_order(ROTTERDAM))], start=T0)
    fix = {"seq": 1, "ts": format_ts(T0), "lat": LAT, "lon": LON, "acc": 8}
    panic = {"seq": 2, "ts": format_ts(T0 + 441_000), "type": "panic"}
    alerts = engine.handle_batch([message(T0, "emon/v1/fix/vd-0001", fix),
                                  message(T0 + 441_000, "emon/v1/event/vd-0001", panic)]
                                 ).alerts_json()  # fmt: skip
    row = board(engine, alerts, T0 + 448_000)["vd-0001"]
    assert row["last_contact_age_s"] == 7.0 and row["last_fix_age_s"] == 448.0
    lost = [a for a in engine.advance(T0 + 700_000).alerts_json()
            if a["type"] == "signal_lost" and a["device_id"] == "vd-0001"]  # fmt: skip
    assert lost and lost[0]["details"]["last_heard_ts"] == format_ts(T0 + 441_000)
