"""An RF home unit: while it hears the ankle monitor he is at home, whatever
indoor GPS says; a unit that falls silent is lost like any device."""

from __future__ import annotations

import json

from emon.engine import Engine, Message
from emon.orders import parse_order
from emon.timeutil import format_ts, parse_ts
from simulators.movement import offset
from simulators.scenarios import ROTTERDAM, base_order

T = parse_ts("2026-11-28T23:00:00Z")
HOME_LAT, HOME_LON = ROTTERDAM


def order(beacon="bu-0001"):
    curfew = {"zone_id": "Z-H", "type": "inclusion", "radius_m": 80, "schedule": None,
              "geometry": {"type": "Point", "coordinates": [HOME_LON, HOME_LAT]}}  # fmt: skip
    body = base_order(ROTTERDAM, zones=[curfew])
    body["offender"] = {"person_id": "P-1", "device_id": "am-0001", "beacon_id": beacon,
                        "residence": {"type": "Point", "coordinates": [HOME_LON, HOME_LAT]}}  # fmt: skip
    return parse_order(body)


def indoor_fix(seq, t):
    """Indoors: 200 m off with an honest-looking accuracy (the jitter the unit is for)."""
    lat, lon = offset(HOME_LAT, HOME_LON, 90, 200)
    body = {"seq": seq, "ts": format_ts(t), "lat": lat, "lon": lon, "acc": 20}
    return Message(t + 100, "emon/v1/fix/am-0001", json.dumps(body).encode())


def beacon(seq, t, present=True, device="am-0001", unit="bu-0001"):
    body = {"seq": seq, "ts": format_ts(t), "present": present, "device_id": device}
    return Message(t + 100, f"emon/v1/beacon/{unit}", json.dumps(body).encode())


def curfew_violations(outcome):
    return [a for a in outcome.alerts if a.type == "zone_violation"]


def test_without_its_unit_indoor_jitter_reads_as_absence():
    e = Engine([order(beacon=None)], start=T)
    assert curfew_violations(e.handle_batch([indoor_fix(k + 1, T + k * 30_000) for k in range(4)]))


def test_while_the_unit_hears_him_he_is_at_home():
    e = Engine([order()], start=T)
    messages = []
    for k in range(6):
        messages += [beacon(k + 1, T + k * 30_000), indoor_fix(k + 1, T + k * 30_000 + 5_000)]
    assert curfew_violations(e.handle_batch(messages)) == []


def test_a_violation_open_ends_when_the_unit_hears_him_and_returns_when_it_does_not():
    e = Engine([order()], start=T)
    (opened,) = curfew_violations(e.handle_batch([indoor_fix(k + 1, T + k * 30_000)
                                                  for k in range(4)]))  # fmt: skip
    (ended,) = curfew_violations(e.handle_batch([beacon(1, T + 100_000)]))
    assert ended.alert_id == opened.alert_id and ended.ended_at == T + 100_000
    # it stops hearing him: fixes decide again
    later = T + 400_000
    out = e.handle_batch([beacon(2, later, present=False)]
                         + [indoor_fix(k + 10, later + k * 30_000) for k in range(4)])  # fmt: skip
    assert [a.state for a in curfew_violations(out)] == ["open"]


def test_a_unit_speaking_of_another_device_or_unknown_is_refused():
    e = Engine([order()], start=T)
    e.handle_batch([beacon(1, T, device="am-9999"), beacon(2, T, unit="bu-unknown")])
    assert e.rejections.counts["device_mismatch"] == 1
    assert e.rejections.counts["unknown_device"] == 1


def test_a_silent_unit_is_lost_like_any_device():
    e = Engine([order()], start=T)
    e.handle_batch([beacon(1, T)])
    lost = [a for a in e.advance(T + 700_000).alerts if a.type == "signal_lost"]
    assert "bu-0001" in {a.device_id for a in lost}
