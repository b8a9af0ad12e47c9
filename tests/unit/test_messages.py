"""Device messages: what is accepted, and every reason for a rejection."""

from __future__ import annotations

import json

import pytest

from emon.ingest.messages import MAX_MESSAGE_BYTES, Decoder, Event, Fix, route, storable
from emon.ingest.rejections import RejectionLog
from emon.timeutil import parse_ts

RECV = parse_ts("2026-11-28T13:45:13Z")
GOOD = {
    "seq": 1042,
    "ts": "2026-11-28T13:45:12.123Z",
    "lat": 51.9225,
    "lon": 4.4792,
    "acc": 8.5,
    "batt": 87,
}


def decode(topic, payload):
    log = RejectionLog()
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return Decoder(log).decode(RECV, topic, raw), log


def test_contract_fix_is_accepted():
    items, log = decode("emon/v1/fix/am-0001", GOOD)
    assert items == [Fix("am-0001", 1042, parse_ts(GOOD["ts"]), 51.9225, 4.4792, 8.5, 87, False)]
    assert log.total == 0


def test_unknown_fields_are_ignored():
    items, _ = decode("emon/v1/fix/am-0001", {**GOOD, "speed": 3, "hdop": 0.9})
    assert len(items) == 1


@pytest.mark.parametrize(
    "topic, payload, reason",
    [
        ("emon/v1/fix/am-0001", b"{nope", "invalid_json"),
        ("emon/v1/fix/am-0001", {k: v for k, v in GOOD.items() if k != "seq"}, "missing_field"),
        ("emon/v1/fix/am-0001", {**GOOD, "lat": "51.9"}, "invalid_field"),
        ("emon/v1/fix/am-0001", {**GOOD, "seq": True}, "invalid_field"),
        ("emon/v1/fix/am-0001", {**GOOD, "lat": 91.0}, "coordinates_out_of_range"),
        ("emon/v1/fix/am-0001", {**GOOD, "lon": -180.5}, "coordinates_out_of_range"),
        (
            "emon/v1/fix/am-0001",
            b'{"seq":1,"ts":"2026-11-28T13:45:12Z","lat":NaN,"lon":4}',
            "invalid_json",
        ),
        ("emon/v1/fix/am-0001", {**GOOD, "acc": -1}, "negative_accuracy"),
        ("emon/v1/fix/am-0001", {**GOOD, "ts": "yesterday"}, "invalid_timestamp"),
        ("emon/v1/fix/am-0001", {**GOOD, "ts": "2026-11-28T13:45:12"}, "invalid_timestamp"),
        ("emon/v1/fix/am-0001", {**GOOD, "ts": "2026-11-28T15:00:00Z"}, "future_timestamp"),
        ("emon/v1/fix/am-0001", {**GOOD, "device_id": "am-0002"}, "device_mismatch"),
        ("emon/v1/fix/am-0001", b"x" * 20_000, "oversized"),
        ("emon/v2/fix/am-0001", GOOD, "unknown_topic"),
        (
            "emon/v1/event/am-0001",
            {"seq": 1, "ts": GOOD["ts"], "type": "dance"},
            "unknown_event_type",
        ),
        ("emon/v1/fixes/am-0001", GOOD, "invalid_field"),
        ("emon/v1/fix/am-0001", {**GOOD, "batt": -1e308}, "battery_out_of_range"),
        ("emon/v1/fix/am-0001", {**GOOD, "batt": 100.5}, "battery_out_of_range"),
        ("emon/v1/fix/am-0001", {**GOOD, "ts": "1970-01-01T00:00:00Z"}, "stale_timestamp"),
        ("emon/v1/fix/am-0001", {**GOOD, "ts": "0001-01-01T00:00:00Z"}, "invalid_timestamp"),
        ("emon/v1/fix/am-0001", {**GOOD, "ts": "2026-10-01T00:00:00Z"}, "stale_timestamp"),
        (
            "owntracks/u/d",
            {"_type": "location", "lat": 52.0, "lon": 5.0, "tst": 0},
            "stale_timestamp",
        ),
        (
            "owntracks/u/d",
            {"_type": "location", "lat": 52.0, "lon": 5.0, "tst": RECV // 1000, "batt": 300},
            "battery_out_of_range",
        ),
    ],
)
def test_rejections_are_counted_by_reason(topic, payload, reason):
    items, log = decode(topic, payload)
    assert items == []
    assert log.counts == {reason: 1}
    assert log.recent[-1].reason == reason


def test_an_oversized_message_is_kept_only_up_to_its_topics_limit():
    huge = b"x" * (MAX_MESSAGE_BYTES * 4)
    assert storable("emon/v1/fix/am-0001", huge) == huge[:MAX_MESSAGE_BYTES]
    assert storable("emon/v1/fixes/am-0001", huge) == huge  # a batch may be this large
    assert storable("emon/v1/fix/am-0001", b"{}") == b"{}"


def test_a_late_batch_of_last_week_is_still_taken():
    week_ago = {**GOOD, "ts": "2026-11-21T13:45:12Z"}
    items, log = decode("emon/v1/fixes/am-0001", [week_ago])
    assert len(items) == 1 and log.total == 0


def test_batch_keeps_good_fixes_and_rejects_bad_ones():
    batch = [GOOD, {**GOOD, "seq": 1043, "lat": 99}, {**GOOD, "seq": 1044}]
    items, log = decode("emon/v1/fixes/am-0001", batch)
    assert [f.seq for f in items] == [1042, 1044]
    assert all(isinstance(f, Fix) and f.buffered for f in items)
    assert log.counts == {"coordinates_out_of_range": 1}


def test_event_and_owntracks():
    items, _ = decode("emon/v1/event/vd-0001", {"seq": 7, "ts": GOOD["ts"], "type": "panic"})
    assert items == [Event("vd-0001", 7, parse_ts(GOOD["ts"]), "panic")]
    tst = RECV // 1000 - 5
    payload = {"_type": "location", "lat": 52.1, "lon": 5.1, "tst": tst, "acc": 12, "batt": 60}
    items, _ = decode("owntracks/alice/phone", payload)
    assert items[0].device_id == "owntracks/alice/phone" and items[0].seq == tst
    items, log = decode("owntracks/alice/phone", {"_type": "waypoint", "desc": "home"})
    assert items == [] and log.total == 0


def test_routes():
    assert route("emon/v1/fix/am-1") == ("fix", "am-1")
    assert route("emon/v1/fix/") is None
    assert route("owntracks/u/d") == ("owntracks", "owntracks/u/d")


@pytest.mark.parametrize(
    "topic, payload, reason",
    [
        ("emon/v1/ack/vd-1", b"[1, 2]", "invalid_field"),
        ("emon/v1/ack/vd-1", {"id": "x"}, "missing_field"),
        ("owntracks/u/d", b"{broken", "invalid_json"),
        ("owntracks/u/d", {"_type": "location", "lat": 52.0}, "missing_field"),
    ],
)
def test_acks_and_owntracks_rejections(topic, payload, reason):
    items, log = decode(topic, payload)
    assert items == [] and log.counts == {reason: 1}
