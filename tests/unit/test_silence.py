"""Silence (signal_lost) against a brute-force reference, for any pattern of arrivals.

The engine queues silence deadlines to a horizon between full scans; the
reference walks every device at every arrival. Both must raise the same
signal_lost alerts at the same instants, and end them when a device is heard.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from emon.engine import Engine, Message
from emon.orders import parse_order
from emon.timeutil import format_ts, parse_ts
from simulators.movement import offset
from simulators.scenarios import ROTTERDAM, base_order

T0 = parse_ts("2026-11-28T12:00:00Z")
FAR = offset(*ROTTERDAM, 90, 5000)  # no zone nearby: silence is all that can happen


def orders(silences: list[int]) -> list[dict]:
    out = []
    for k, silence in enumerate(silences):
        order = base_order(ROTTERDAM, max_silence_s=silence, contact_ban=None)
        order["order_id"] = f"OM-{k}"
        order["offender"]["device_id"] = f"am-{k}"
        order["victims"][0]["device_id"] = f"vd-{k}"
        out.append(order)
    return out


def reference(silences: list[int], arrivals: list[tuple[int, int]], end: int) -> set[tuple]:
    """(device, started_at) of every signal_lost, by walking time arrival by arrival."""
    devices = {f"{kind}-{k}": s * 1000 for k, s in enumerate(silences) for kind in ("am", "vd")}
    last = dict.fromkeys(devices, T0)
    lost = dict.fromkeys(devices, False)
    raised = set()

    def fire(now: int) -> None:
        for device, silence in devices.items():
            if not lost[device] and last[device] + silence <= now:
                lost[device] = True
                raised.add((device, last[device] + silence))

    for at, k in arrivals:
        fire(at)
        device = f"am-{k}"
        last[device] = max(last[device], at)
        lost[device] = False
    fire(end)
    return raised


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(5, 200), min_size=1, max_size=4),
    st.lists(st.tuples(st.integers(0, 900_000), st.integers(0, 3)), max_size=60),
    st.integers(1, 50),
)
def test_signal_lost_matches_a_brute_force_walk(silences, raw, batch):
    arrivals = sorted((T0 + 1 + at, k % len(silences)) for at, k in raw)
    engine = Engine([parse_order(o) for o in orders(silences)], start=T0)
    messages = []
    for n, (at, k) in enumerate(arrivals):
        fix = {"seq": n + 1, "ts": format_ts(at), "lat": FAR[0], "lon": FAR[1], "acc": 8}
        messages.append(Message(at, f"emon/v1/fix/am-{k}", json.dumps(fix).encode()))
    seen = []
    for i in range(0, len(messages), batch):
        seen += engine.handle_batch(messages[i : i + batch]).alerts_json()
    end = T0 + 1_200_000
    seen += engine.advance(end).alerts_json()
    raised = {(a["device_id"], parse_ts(a["started_at"])) for a in seen
              if a["type"] == "signal_lost" and a["state"] == "open"}  # fmt: skip
    assert raised == reference(silences, arrivals, end)
