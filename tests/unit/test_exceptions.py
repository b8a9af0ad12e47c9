"""Authorised exceptions: a suspended zone or a corridor raises nothing it covers;
granted and ended through the API by those allowed, audited, stored as an order version."""

from __future__ import annotations

import asyncio
import json

import pytest

from emon.engine import Engine, Message
from emon.orders import OrderFormatError, parse_order
from emon.timeutil import format_ts, parse_ts
from simulators.movement import offset
from simulators.scenarios import ROTTERDAM, base_order
from tests.unit.service_app import service_app

T = parse_ts("2026-11-28T12:00:00Z")
LAT, LON = ROTTERDAM


def at(metres, bearing=270):
    return offset(LAT, LON, bearing, metres)


def fix(seq, t, lat, lon):
    body = {"seq": seq, "ts": format_ts(t), "lat": lat, "lon": lon, "acc": 8}
    return Message(t + 200, "emon/v1/fix/am-0001", json.dumps(body).encode())


def order_with(*exceptions):
    body = base_order(ROTTERDAM)
    body["exceptions"] = list(exceptions)
    return parse_order(body)


def suspension(start, until):
    return {"exception_id": "X-1", "zone_id": "Z-1", "kind": "suspension", "from": format_ts(start),
            "until": format_ts(until), "reason": "court date", "approved_by": "A. de Vries"}  # fmt: skip


def violations(engine, messages):
    out = engine.handle_batch(messages).alerts
    return [a for a in out if a.type == "zone_violation"]


def test_inside_a_suspended_zone_raises_nothing_and_after_it_the_zone_holds_again():
    e = Engine([order_with(suspension(T, T + 600_000))], start=T)
    inside = [fix(k + 1, T + k * 30_000, *at(500)) for k in range(5)]
    assert violations(e, inside) == []
    assert e.stats["excepted"] == 5
    later = [fix(k + 10, T + 600_000 + k * 30_000, *at(500)) for k in range(3)]
    (raised,) = violations(e, later)
    assert raised.state == "open" and raised.started_at >= T + 600_000


def test_a_violation_open_when_a_suspension_begins_ends_there():
    start = T + 120_000
    e = Engine([order_with(suspension(start, start + 600_000))], start=T)
    (opened,) = violations(e, [fix(k + 1, T + k * 30_000, *at(500)) for k in range(4)])
    (ended,) = violations(e, [fix(9, start + 30_000, *at(500))])
    assert ended.alert_id == opened.alert_id and ended.ended_at == start


def test_a_corridor_lets_him_through_its_width_and_no_further():
    # a strip 200 m wide running north-south through the zone's centre
    (n_lat, _), (s_lat, _) = at(3000, 0), at(3000, 180)
    (_, w_lon), (_, e_lon) = at(100, 270), at(100, 90)
    strip = {"type": "Polygon", "coordinates": [[[w_lon, s_lat], [e_lon, s_lat], [e_lon, n_lat],
                                                 [w_lon, n_lat], [w_lon, s_lat]]]}  # fmt: skip
    corridor = dict(suspension(T, T + 3_600_000), kind="corridor", geometry=strip)
    e = Engine([order_with(corridor)], start=T)
    through = [fix(k + 1, T + k * 30_000, *offset(LAT, LON, 0, 1500 - k * 300)) for k in range(10)]
    assert violations(e, through) == []
    beside = [fix(k + 20, T + 400_000 + k * 30_000, *at(500)) for k in range(4)]
    assert len(violations(e, beside)) == 1


@pytest.mark.parametrize("change, field", [
    ({"until": "2026-11-28T11:00:00Z"}, "until must be after from"),
    ({"zone_id": "Z-9"}, "no zone 'Z-9'"),
    ({"kind": "corridor"}, "needs a Polygon"),
    ({"until": "2027-11-28T11:00:00Z"}, "longer than 31 days"),
])  # fmt: skip
def test_an_exception_that_cannot_hold_is_refused_naming_why(change, field):
    with pytest.raises(OrderFormatError, match=field):
        order_with(dict(suspension(T, T + 600_000), **change))


def test_granted_by_an_operator_audited_stored_and_ended_early(tmp_path):
    client, runtime = service_app(tmp_path)
    body = base_order(ROTTERDAM)
    admin, operator = {"Authorization": "Bearer t-admin"}, {"Authorization": "Bearer t-op"}
    assert (
        client.put(f"/api/v1/orders/{body['order_id']}", json=body, headers=admin).status_code
        == 200
    )
    path = f"/api/v1/orders/{body['order_id']}/exceptions"
    grant = {"zone_id": "Z-1", "kind": "suspension", "from": "2026-01-01T00:00:00Z",
             "until": "2026-01-20T00:00:00Z", "reason": "hospital visit"}  # fmt: skip
    assert (
        client.post(path, json=grant, headers={"Authorization": "Bearer t-re"}).status_code == 403
    )
    bad = client.post(path, json=dict(grant, until="2025-01-01T00:00:00Z"), headers=operator)
    assert bad.status_code == 422 and "until" in bad.json()["detail"]
    granted = client.post(path, json=dict(grant, until="2099-01-01T00:00:00Z",
                                          **{"from": "2098-12-20T00:00:00Z"}), headers=operator)  # fmt: skip
    assert granted.status_code == 200, granted.text
    exception = granted.json()
    assert exception["approved_by"] == "operator person"
    assert runtime.orders[body["order_id"]].version == 2
    assert runtime.orders[body["order_id"]].order.exceptions[0].reason == "hospital visit"
    (listed,) = client.get(path, headers=operator).json()
    assert listed["active"] is False  # it begins later
    end = client.post(f"{path}/{exception['exception_id']}/end", headers=operator)
    assert end.status_code == 409  # not in force: nothing to end
    asyncio.run(runtime.writer.flush())
    audited = [row[3] for row in runtime.store.audit_trail()]
    assert "grant_exception" in audited
