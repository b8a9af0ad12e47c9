"""The engine on small hand-made streams."""

from __future__ import annotations

import dataclasses
import json

import pytest

from emon.engine import Engine, Message
from emon.orders import parse_order
from emon.timeutil import format_ts, parse_ts
from simulators.movement import offset
from simulators.scenarios import ROTTERDAM, base_order

T = parse_ts("2026-11-28T12:00:00Z")
LAT, LON = ROTTERDAM


def engine(**overrides) -> Engine:
    order = base_order(ROTTERDAM, contact_ban={"distance_m": 1000, "prealert_m": 2000}, **overrides)
    return Engine([parse_order(order)], start=T)


def fix(seq, t, lat, lon, device="am-0001", acc=8.0, **extra):
    payload = {"seq": seq, "ts": format_ts(t), "lat": lat, "lon": lon, "acc": acc, **extra}
    return Message(t + 200, f"emon/v1/fix/{device}", json.dumps(payload).encode())


def at(metres_from_centre, bearing=270):
    return offset(LAT, LON, bearing, metres_from_centre)


def test_two_fixes_inside_raise_one_violation_with_the_contract_fields():
    e = engine()
    out = e.handle_batch(
        [fix(1, T, *at(1500)), fix(2, T + 30_000, *at(700)), fix(3, T + 60_000, *at(600))]
    ).alerts_json()
    (alert,) = [a for a in out if a["type"] == "zone_violation"]
    assert set(alert) >= {
        "alert_id",
        "type",
        "severity",
        "state",
        "order_id",
        "case_id",
        "zone_id",
        "device_id",
        "started_at",
        "detected_at",
        "ended_at",
        "late",
        "details",
    }
    assert (
        alert["state"] == "open" and alert["severity"] == "critical" and alert["zone_id"] == "Z-1"
    )
    assert alert["device_id"] == "am-0001" and alert["late"] is False
    assert parse_ts(alert["started_at"]) < T + 30_000  # crossing time between the fixes
    assert alert["detected_at"] == format_ts(T + 60_200)


def test_a_single_fix_inside_is_not_enough():
    e = engine()
    out = e.handle_batch(
        [fix(1, T, *at(1500)), fix(2, T + 30_000, *at(700)), fix(3, T + 60_000, *at(1500))]
    ).alerts_json()
    assert not [a for a in out if a["type"] == "zone_violation"]


def test_batching_does_not_change_the_result():
    msgs = [fix(i, T + i * 30_000, *at(3000 - i * 300)) for i in range(20)]
    one = engine().handle_batch(msgs).alerts_json()
    singly = engine()
    parts = [a for m in msgs for a in singly.handle_batch([m]).alerts_json()]
    assert one == parts and one


def test_duplicates_and_unknown_devices_are_counted():
    e = engine()
    e.handle_batch([fix(1, T, *at(3000)), fix(1, T, *at(3000)), fix(1, T, *at(3000), device="x")])
    assert e.rejections.counts == {"duplicate": 1, "unknown_device": 1}
    assert e.stats["fixes"] == 1


def test_panic_is_critical_and_immediate():
    e = engine()
    msg = Message(
        T + 100,
        "emon/v1/event/vd-0001",
        json.dumps({"seq": 1, "ts": format_ts(T), "type": "panic"}).encode(),
    )
    (alert,) = e.handle_batch([msg]).alerts_json()
    assert alert["type"] == "panic" and alert["severity"] == "critical"
    assert alert["device_id"] == "vd-0001"


def test_signal_lost_fires_on_the_clock_not_on_the_next_message():
    e = engine()
    e.handle_batch([fix(1, T, *at(5000)), fix(1, T + 1000, *at(5000), device="vd-0001")])
    assert e.advance(T + 599_000).alerts_json() == []
    lost = e.advance(T + 700_000).alerts_json()
    assert {a["device_id"] for a in lost} == {"am-0001", "vd-0001"}
    assert all(a["type"] == "signal_lost" for a in lost)
    back = e.handle_batch([fix(2, T + 800_000, *at(5000))]).alerts_json()
    assert [a["state"] for a in back] == ["ended"]


def test_nothing_is_enforced_outside_validity():
    e = engine(valid_from="2026-11-28T13:00:00Z")
    out = e.handle_batch([fix(i, T + i * 30_000, *at(100)) for i in range(5)]).alerts_json()
    assert out == []


def test_contact_ban_from_either_side_without_revealing_positions():
    e = engine(zones=[])
    msgs = []
    for i in range(6):
        msgs.append(fix(i + 1, T + i * 30_000, *at(3000 - i * 500, 0), device="am-0001"))
        msgs.append(fix(i + 1, T + i * 30_000 + 5000, LAT, LON, device="vd-0001"))
    out = e.handle_batch(msgs).alerts_json()
    types = {a["type"] for a in out}
    assert {"contact_prealert", "contact_violation"} <= types
    violation = next(a for a in out if a["type"] == "contact_violation")
    assert violation["details"]["victim_device_id"] == "vd-0001"
    assert violation["device_id"] == "am-0001"


def test_order_changes_carry_the_live_state_over():
    """Registering another order must not forget where devices are or what is
    under way; revoking one ends its open alerts."""
    first = engine()
    out = first.handle_batch(
        [fix(i, T + i * 30_000, *at(1500 - i * 400)) for i in range(4)]
    ).alerts_json()
    (raised,) = [a for a in out if a["type"] == "zone_violation"]
    other = base_order((52.37, 4.89), order_id="OM-2")
    other["offender"] = {"person_id": "P-2", "device_id": "am-0002"}
    other["victims"] = []
    both = [
        parse_order(o)
        for o in (
            base_order(ROTTERDAM, contact_ban={"distance_m": 1000, "prealert_m": 2000}),
            other,
        )
    ]
    second = Engine(both, start=first.clock)
    assert second.carry_over(first).alerts_json() == []
    assert second.devices.hist_ts[second.devices.index["am-0001"], -1] == T + 90_000
    # a duplicate of an old fix is still a duplicate; the open alert ends in the new engine
    far = [fix(s, T + s * 30_000, *at(1200)) for s in (5, 6, 7)]
    out = second.handle_batch([fix(3, T + 90_000, *at(300)), *far]).alerts_json()
    assert second.rejections.counts["duplicate"] == 1
    (ended,) = [a for a in out if a["type"] == "zone_violation"]
    assert ended["alert_id"] == raised["alert_id"] and ended["state"] == "ended"
    # revoking the order ends what is still open, now
    third = Engine([both[1]], start=second.clock)
    second.handle_batch([fix(s, T + s * 30_000, *at(300)) for s in (8, 9, 10)])
    closed = third.carry_over(second).alerts_json()
    assert {a["state"] for a in closed} == {"ended"}


def test_messages_before_any_order_are_rejected_not_fatal():
    empty = Engine([], start=T)
    empty.handle_batch([fix(1, T, LAT, LON), fix(2, T + 1000, LAT, LON, device="x")])
    assert empty.rejections.counts == {"unknown_device": 2}
    lone = engine()  # known devices and unknown ones in one batch
    lone.handle_batch([fix(1, T, LAT, LON, device="stranger"), fix(1, T, *at(5000))])
    assert lone.rejections.counts == {"unknown_device": 1} and lone.stats["fixes"] == 1


def test_the_outcome_is_typed_and_frozen_and_json_only_at_the_edge():
    e = Engine([parse_order(base_order(ROTTERDAM))], start=T, keep_fixes=True)
    outcome = e.handle_batch(
        [fix(1, T, *at(1500)), fix(2, T + 30_000, *at(700)), fix(3, T + 60_000, *at(600)),
         Message(T + 70_000, "emon/v1/fix/am-0001", b"{not json")]
    )  # fmt: skip
    (alert,) = [a for a in outcome.alerts if a.type == "zone_violation"]
    assert isinstance(alert.started_at, int) and alert.details["confirming_ts"] == T + 60_000
    with pytest.raises(dataclasses.FrozenInstanceError):
        alert.state = "resolved"  # type: ignore[misc]
    (shown,) = [a for a in outcome.alerts_json() if a["type"] == "zone_violation"]
    assert shown["details"]["confirming_ts"] == format_ts(T + 60_000)
    assert [f[1] for f in outcome.fixes] == [1, 2, 3]  # what storage keeps
    assert [r.reason for r in outcome.rejections] == ["invalid_json"]
    assert e.handle_batch([]).rejections == ()  # each call's own, drained
    plain = Engine([parse_order(base_order(ROTTERDAM))], start=T)
    assert plain.handle_batch([fix(1, T, *at(1500))]).fixes == ()  # kept only when asked


def test_kit_integrity_and_app_health_events_raise_alerts_of_their_name():
    e = engine()
    unpaired = {"seq": 1, "ts": format_ts(T), "type": "unpaired"}
    degraded = {"seq": 1, "ts": format_ts(T), "type": "app_degraded",
                "reason": "location permission revoked"}  # fmt: skip
    out = e.handle_batch([
        Message(T + 100, "emon/v1/event/am-0001", json.dumps(unpaired).encode()),
        Message(T + 200, "emon/v1/event/vd-0001", json.dumps(degraded).encode()),
    ]).alerts_json()  # fmt: skip
    by_type = {a["type"]: a for a in out}
    assert by_type["unpaired"]["device_id"] == "am-0001"
    assert by_type["app_degraded"]["device_id"] == "vd-0001"
    assert by_type["app_degraded"]["details"]["reason"] == "location permission revoked"
    assert by_type["unpaired"]["severity"] == "critical"  # high risk: the kit sees nothing


def test_fixes_too_inaccurate_to_judge_near_a_zone_say_he_cannot_be_located():
    """An hour of 300 m fixes centred 200 m inside the zone: no violation can
    be called, and that itself is raised, then ended by a fix good enough."""
    e = engine()
    fuzzy = [fix(k + 1, T + k * 60_000, *at(800), acc=300.0) for k in range(12)]
    out = e.handle_batch(fuzzy).alerts_json()
    assert not [a for a in out if a["type"] == "zone_violation"]
    (unreliable,) = [a for a in out if a["type"] == "location_unreliable"]
    assert unreliable["device_id"] == "am-0001" and unreliable["started_at"] == format_ts(T)
    assert parse_ts(unreliable["detected_at"]) >= T + 600_000  # once it lasted max_uncertain_s
    good = e.handle_batch([fix(20, T + 800_000, *at(5000))]).alerts_json()
    assert [a["state"] for a in good if a["type"] == "location_unreliable"] == ["ended"]


def test_inaccurate_fixes_far_from_everything_are_not_unreliable():
    e = engine()
    far = [fix(k + 1, T + k * 60_000, *at(8000), acc=300.0) for k in range(15)]
    assert not [a for a in e.handle_batch(far).alerts_json() if a["type"] == "location_unreliable"]


def test_a_battery_that_will_die_within_two_hours_is_raised_with_when_and_a_charge_ends_it():
    e = engine()
    far = at(8000)
    draining = [fix(k + 1, T + k * 300_000, *far, batt=60 - 2.5 * k) for k in range(8)]
    out = e.handle_batch(draining).alerts_json()
    (critical,) = [a for a in out if a["type"] == "battery_critical"]
    assert critical["device_id"] == "am-0001" and critical["started_at"] == format_ts(T + 1_800_000)
    # 15 points in 30 min from 60: at 45 % it is empty 90 min later
    assert critical["details"]["empty_at"] == format_ts(T + 1_800_000 + 5_400_000)
    charge = {"seq": 1, "ts": format_ts(T + 2_500_000), "type": "charging"}
    ended = e.handle_batch(
        [Message(T + 2_500_100, "emon/v1/event/am-0001", json.dumps(charge).encode())]
    ).alerts_json()
    assert [a["state"] for a in ended if a["type"] == "battery_critical"] == ["ended"]


def test_a_slow_drain_is_no_emergency():
    e = engine()
    slow = [fix(k + 1, T + k * 600_000, *at(8000), batt=90 - 0.5 * k) for k in range(20)]
    assert not [a for a in e.handle_batch(slow).alerts_json() if a["type"] == "battery_critical"]


def test_a_late_batch_inside_an_open_violation_extends_it_instead_of_raising_another():
    e = engine()
    live = [fix(k + 10, T + 300_000 + k * 30_000, *at(500)) for k in range(3)]
    (opened,) = [a for a in e.handle_batch(live).alerts_json() if a["type"] == "zone_violation"]
    # the device uploads what it buffered before: inside the zone already, 10 s apart
    older = [{"seq": k + 1, "ts": format_ts(T + 200_000 + k * 10_000), "lat": at(500)[0],
              "lon": at(500)[1], "acc": 8} for k in range(3)]  # fmt: skip
    batch = Message(T + 400_000, "emon/v1/fixes/am-0001", json.dumps(older).encode())
    out = [a for a in e.handle_batch([batch]).alerts_json() if a["type"] == "zone_violation"]
    assert {a["alert_id"] for a in out} == {opened["alert_id"]}  # one condition, one alert
    (extended,) = out
    assert parse_ts(extended["started_at"]) < parse_ts(opened["started_at"])
    assert parse_ts(extended["started_at"]) <= T + 210_000 and extended["state"] == "open"
    assert extended["details"]["late_confirming_ts"] == format_ts(T + 210_000)


def _through(xs, y=700.0):
    """Fixes 60 s apart along a line ``y`` m north of the zone's centre."""
    import math

    out = []
    for k, x in enumerate(xs):
        lat, lon = offset(LAT, LON, math.degrees(math.atan2(x, y)), math.hypot(x, y))
        out.append(fix(k + 1, T + k * 60_000, lat, lon, acc=9.5))
    return out


def test_a_car_through_the_zone_with_one_fix_inside_at_60_s_is_a_violation():
    """The pattern a simulated week missed: edge distances +82, -246, +1, +568 m."""
    out = engine().handle_batch(_through([-1700, -825, -280, 715, 1403, 2200])).alerts_json()
    (alert,) = [a for a in out if a["type"] == "zone_violation" and a["state"] == "open"]
    assert alert["details"]["confirmed_by_track"] is True
    assert T + 60_000 < parse_ts(alert["started_at"]) < T + 120_000  # crossing A-B


def test_a_lone_outlier_that_jumps_out_and_straight_back_is_not():
    lat, lon = at(1300)
    steady = [fix(k + 1, T + k * 60_000, lat, lon, acc=9.5) for k in range(6)]
    steady[2] = fix(3, T + 120_000, *at(700), acc=9.5)  # 300 m inside, once
    out = engine().handle_batch(steady).alerts_json()
    assert not [a for a in out if a["type"] == "zone_violation"]


def test_a_car_s_two_minute_old_position_is_unknown_not_near():
    """Her last fixes say she drove at 30 m/s; two minutes on, where she is
    says nothing: no contact violation on it (it was raised before)."""
    e = engine(zones=[])
    east = [offset(LAT, LON, 90, 30 * s) for s in (0, 30)]
    e.handle_batch([fix(1, T, *east[0], device="vd-0001"), fix(2, T + 30_000, *east[1],
                   device="vd-0001")])  # fmt: skip
    near_her_last = offset(*east[1], 0, 300)
    late = [fix(k + 1, T + 150_000 + k * 10_000, *near_her_last) for k in range(4)]
    assert not [a for a in e.handle_batch(late).alerts_json() if a["type"] == "contact_violation"]


def test_a_victim_sitting_still_is_where_she_was():
    e = engine(zones=[])
    e.handle_batch([fix(1, T, LAT, LON, device="vd-0001"),
                    fix(2, T + 60_000, LAT, LON, device="vd-0001")])  # fmt: skip
    near = [fix(k + 1, T + 300_000 + k * 10_000, *at(300)) for k in range(4)]
    assert [a for a in e.handle_batch(near).alerts_json() if a["type"] == "contact_violation"]
