"""Order changes in place give what a rebuilt engine taking over gives.

The reference is the way emon changed orders before: a new engine for the
whole new set of orders, taking over the old one's state (``carry_over``).
Any interleaving of fixes with registrations, replacements (fewer zones, a
wider zone, one more zone, a victim of another order joined, an early end, a short silence)
and revocations must raise and end the same alerts, and leave the same
devices known, as that rebuild does.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from emon.engine import Engine, Outcome
from emon.orders import Order, parse_order
from simulators.fleet import fleet_messages, fleet_orders

N_ORDERS = 6
FLEET = fleet_orders(N_ORDERS, seed=7)
MESSAGES = fleet_messages(FLEET, 720, seed=7, stray=0.5)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def variant(k: int, how: str, clock: int) -> dict[str, Any]:
    """Order k of the fleet, registered again as ``how`` says."""
    order = copy.deepcopy(FLEET[k])
    if how == "fewer_zones":
        order["zones"] = order["zones"][:1]
    elif how == "wider":
        order["zones"][0]["radius_m"] = 4000
    elif how == "more_zones":  # a zone in new table rows, around where he walks
        wide = dict(copy.deepcopy(order["zones"][0]), zone_id=f"Z-{k}-wide", radius_m=9000)
        order["zones"].append(wide)
    elif how == "joined":  # the victim of the next order too: two groups become one
        other = copy.deepcopy(FLEET[(k + 1) % N_ORDERS]["victims"][0])
        other["person_id"] = f"V-joined-{k}"
        order["victims"].append(other)
    elif how == "ends_soon":
        order["valid_until"] = _iso(clock + 90_000)
    elif how == "short_silence":
        order["max_silence_s"] = 60
    elif how == "new_devices":  # a new order, devices no one has sent from, soon lost
        order["max_silence_s"] = 20
        order["order_id"] += "-new"
        order["offender"]["device_id"] += "-new"
        order["victims"][0]["device_id"] += "-new"
    return order


HOW = ["again", "revoke", "fewer_zones", "wider", "more_zones", "joined", "ends_soon",
       "short_silence", "new_devices"]  # fmt: skip
CHANGES = st.tuples(st.integers(0, N_ORDERS - 1), st.sampled_from(HOW))


def _key(outcome: Outcome) -> list[str]:
    """The alert changes of one call, in a fixed order (two ways of changing
    orders may emit the changes of different orders in different order)."""
    return sorted(json.dumps(a, sort_keys=True) for a in outcome.alerts_json())


class Rebuilt:
    """The reference: every change builds the engine again and carries over."""

    def __init__(self, orders: list[Order], start: int, fast: bool) -> None:
        self.orders = {o.order_id: o for o in orders}
        self.fast = fast
        self.engine = Engine(orders, start=start, use_fast_path=fast)

    def change(self, put: list[Order], drop: list[str]) -> Outcome:
        for order_id in drop:
            self.orders.pop(order_id, None)
        self.orders.update((o.order_id, o) for o in put)
        old = self.engine
        self.engine = Engine(list(self.orders.values()), start=old.clock,
                             use_fast_path=self.fast)  # fmt: skip
        return self.engine.carry_over(old)


def _program(data: st.DataObject) -> list[tuple[int, int, str]]:
    """(message position, order, change), positions ascending."""
    steps = data.draw(st.lists(st.tuples(st.integers(0, len(MESSAGES)), CHANGES), max_size=12))
    return sorted((at, k, how) for at, (k, how) in steps)


@settings(max_examples=30, deadline=None)
@given(st.data(), st.sampled_from([1, 13, 500]), st.booleans())
def test_changes_in_place_equal_a_rebuild(data, batch, fast):
    start = MESSAGES[0].recv
    orders = [parse_order(o) for o in FLEET]
    in_place = Engine(orders, start=start, use_fast_path=fast)
    rebuilt = Rebuilt(orders, start, fast)
    position = 0
    for at, k, how in [*_program(data), (len(MESSAGES), -1, "")]:
        while position < at:
            chunk = MESSAGES[position : min(at, position + batch)]
            assert _key(in_place.handle_batch(chunk)) == _key(rebuilt.engine.handle_batch(chunk))
            position += len(chunk)
        if k < 0:
            break
        order_id = FLEET[k]["order_id"]
        put, drop = [], []
        if how == "revoke":
            drop = [order_id]
        else:
            put = [parse_order(variant(k, how, in_place.clock))]
        assert _key(in_place.change_orders(put, drop)) == _key(rebuilt.change(put, drop))
        assert set(in_place.devices.index) == set(rebuilt.engine.devices.index)
    end = MESSAGES[-1].recv + 3_600_000
    assert _key(in_place.advance(end)) == _key(rebuilt.engine.advance(end))
    assert in_place.rejections.counts == rebuilt.engine.rejections.counts


def test_a_change_touches_only_its_group():
    """Replacing one order rewrites the rows of its own devices only: the
    other orders keep their compiled form, their devices their state."""
    orders = [parse_order(o) for o in FLEET]
    engine = Engine(orders, start=MESSAGES[0].recv)
    engine.handle_batch(MESSAGES[:200])
    others = {i: c for i, c in engine.index.orders.items() if c.order.order_id != "OM-000002"}
    history = engine.devices.hist_ts.copy()
    engine.change_orders([parse_order(variant(2, "wider", engine.clock))])
    assert all(engine.index.orders[i] is c for i, c in others.items())
    own = [engine.devices.index[d] for d in ("am-000002", "vd-000002")]
    assert np.array_equal(engine.devices.hist_ts, history)  # positions kept, own too
    assert {engine.fast.group[r] for r in own} == {min(own)}


def test_rows_given_back_are_taken_fresh():
    """A revoked order's devices become unknown; registered again, they
    start with no history (as a rebuilt engine would start them)."""
    orders = [parse_order(o) for o in FLEET]
    engine = Engine(orders, start=MESSAGES[0].recv)
    engine.handle_batch(MESSAGES[:200])
    engine.change_orders([], ["OM-000001"])
    assert "am-000001" not in engine.devices.index
    outcome = engine.handle_batch(MESSAGES[200:220])
    assert any(r.reason == "unknown_device" for r in outcome.rejections)
    rows = len(engine.devices)
    engine.change_orders([parse_order(variant(3, "new_devices", engine.clock))])
    assert len(engine.devices) == rows  # the two rows given back are used again
    row = engine.devices.index["am-000003-new"]
    assert engine.devices.hist_ts[row, -1] == np.iinfo(np.int64).min


def test_an_order_that_does_not_compile_changes_nothing():
    orders = [parse_order(o) for o in FLEET]
    engine = Engine(orders, start=MESSAGES[0].recv)
    broken = variant(1, "again", 0)
    flat = [[[5.0, 52.0], [5.0, 52.0], [5.0, 52.0], [5.0, 52.0]]]
    broken["zones"][0] = {"zone_id": "Z-flat", "type": "exclusion",
                          "geometry": {"type": "Polygon", "coordinates": flat}}  # fmt: skip
    before = dict(engine.index.by_id)
    try:
        engine.change_orders([parse_order(broken)], ["OM-000004"])
    except ValueError:
        pass
    else:
        raise AssertionError("a polygon without area compiled")
    assert engine.index.by_id == before
