"""Bad input at scale: the decoders and the order parser never crash, and every
message is accounted for (accepted, or rejected with a known reason)."""

from __future__ import annotations

import json
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emon.engine import Engine, Message
from emon.geofence.validation import validate
from emon.ingest.messages import REASONS
from emon.orders import OrderFormatError, parse_order
from emon.timeutil import format_ts, parse_ts
from simulators.scenarios import ROTTERDAM, base_order

T0 = parse_ts("2026-11-28T12:00:00Z")
ORDER = base_order(ROTTERDAM)
TOPICS = ["emon/v1/fix/am-0001", "emon/v1/fix/vd-0001", "emon/v1/fix/nobody",
          "emon/v1/event/am-0001", "emon/v1/ack/vd-0001", "emon/v2/fix/am-0001",
          "emon/v1/fix/", "owntracks/u/phone", "emon/v1/fix/am-0001/extra"]  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
FIELD_VALUES = st.one_of(JSON, st.sampled_from([float("nan"), float("inf"), -1e308, 2**63,
                         "2026-11-28T12:00:00Z", "not a time", 91.0, -181.0, -5.0]))  # fmt: skip


def valid_fix(seq: int) -> dict:
    return {"seq": seq, "ts": format_ts(T0), "lat": ROTTERDAM[0] + 0.05, "lon": ROTTERDAM[1],
            "acc": 8}  # fmt: skip


def accounted(engine: Engine) -> int:
    s = engine.stats
    return s["fixes"] + s["events"] + s["acks"] + engine.rejections.total


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bytes", "json", "mutated_fix", "mutated_event"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "json":
        return json.dumps(draw(JSON)).encode()
    base = valid_fix(draw(st.integers(-5, 10**6))) if kind == "mutated_fix" else {
        "seq": draw(st.integers(0, 10**6)), "ts": format_ts(T0), "type": "tamper"}  # fmt: skip
    for key in draw(st.lists(st.sampled_from([*base, "device_id", "batt", "x"]), max_size=3)):
        if draw(st.booleans()):
            base.pop(key, None)
        else:
            base[key] = draw(FIELD_VALUES)
    return json.dumps(base, allow_nan=True).encode()


ENGINE = Engine([parse_order(ORDER)], start=T0)


@settings(max_examples=1000, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.sampled_from(TOPICS), payloads()), min_size=1, max_size=20))
def test_no_message_crashes_the_engine_and_each_is_accounted_for(batch):
    before = accounted(ENGINE)
    ENGINE.handle_batch([Message(T0 + 1000, t, p) for t, p in batch])
    assert accounted(ENGINE) - before == len(batch)
    assert set(ENGINE.rejections.counts) <= set(REASONS)


def test_a_hundred_thousand_corrupted_messages():
    """Valid fixes with random bytes flipped, cut or inserted: counted, never a crash."""
    rng = random.Random(7)
    engine = Engine([parse_order(ORDER)], start=T0)
    messages = []
    for seq in range(100_000):
        raw = bytearray(json.dumps(valid_fix(seq)).encode())
        for _ in range(rng.randint(1, 3)):
            if not raw:
                break
            at = rng.randrange(len(raw))
            action = rng.random()
            if action < 0.4:
                raw[at] = rng.randrange(256)
            elif action < 0.7:
                del raw[at:]
            else:
                raw.insert(at, rng.randrange(256))
        messages.append(Message(T0 + 1000 + seq, "emon/v1/fix/am-0001", bytes(raw or b"x")))
    for k in range(0, len(messages), 4096):
        engine.handle_batch(messages[k : k + 4096])
    assert accounted(engine) == len(messages)
    assert engine.rejections.total > 50_000 and engine.stats["fixes"] > 1000


@settings(max_examples=800, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_the_order_parser_and_validator_never_crash(data):
    order = json.loads(json.dumps(ORDER))
    for _ in range(data.draw(st.integers(1, 4))):
        path = data.draw(st.sampled_from([
            ("order_id",), ("valid_from",), ("valid_until",), ("timezone",), ("risk",),
            ("zones",), ("zones", 0, "geometry"), ("zones", 0, "radius_m"),
            ("zones", 0, "geometry", "coordinates"), ("zones", 0, "schedule"),
            ("victims",), ("victims", 0, "address"), ("offender",), ("contact_ban",),
            ("offender", "residence", "coordinates"), ("max_silence_s",),
        ]))  # fmt: skip
        target = order
        try:
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = data.draw(FIELD_VALUES)
        except (KeyError, IndexError, TypeError):
            continue
    try:
        report = validate(order)
    except OrderFormatError:
        return
    assert isinstance(report.to_json()["findings"], list)
