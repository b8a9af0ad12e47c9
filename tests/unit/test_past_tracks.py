"""Late fixes judged against the other party's whole track (emon/engine/past_tracks.py)."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from emon.engine import Engine, Message, Outcome, Policy, RecordedTracks
from emon.engine.past_tracks import _plausible_run
from emon.geofence.frame import to_ecef
from emon.orders import parse_order
from emon.service.stored_tracks import StoredTracks
from emon.timeutil import format_ts, parse_ts
from simulators.movement import offset
from simulators.scenarios import ROTTERDAM, base_order

T = parse_ts("2026-11-28T12:00:00Z")
HOME = ROTTERDAM
BAN = {"distance_m": 500, "prealert_m": 1000}
HORIZON = int(Policy().late_track_horizon_s * 1000)


def engine(tracks=None) -> Engine:
    order = parse_order(base_order(HOME, zones=[], contact_ban=BAN))
    return Engine([order], start=T, keep_fixes=True, tracks=tracks)


def fix(device, seq, t, lat, lon, recv=None):
    body = {"seq": seq, "ts": format_ts(t), "lat": lat, "lon": lon, "acc": 8}
    return Message(
        t + 300 if recv is None else recv, f"emon/v1/fix/{device}", json.dumps(body).encode()
    )


def her_fixes(minutes=25):
    """She is at home, reporting every 30 s (11 s after his clock)."""
    return [fix("vd-0001", k + 1, T + 11_000 + k * 30_000, *HOME) for k in range(minutes * 2)]


def outage_batch(near_from_s=60, near_until_s=480, upload_at_s=1200, first_seq=2):
    """His fixes from minute 1 to 20, 300 m from her between the times given
    and 3 km away otherwise, uploaded in one batch when he reconnects."""
    buffered = []
    for k, t in enumerate(range(T + 60_000, T + upload_at_s * 1000, 30_000)):
        near = near_from_s * 1000 <= t - T < near_until_s * 1000
        lat, lon = offset(*HOME, 270, 300 if near else 3000)
        buffered.append(
            {"seq": k + first_seq, "ts": format_ts(t), "lat": lat, "lon": lon, "acc": 8}
        )
    return Message(T + upload_at_s * 1000, "emon/v1/fixes/am-0001", json.dumps(buffered).encode())


def run(e: Engine, messages, tracks: RecordedTracks | None = None) -> list[dict]:
    """As replay and the live service feed it: one message at a time, each
    outcome's fixes then where the engine reads them back."""
    alerts = []
    for message in sorted(messages, key=lambda m: m.recv):
        outcome: Outcome = e.handle_batch([message])
        if tracks is not None:
            tracks.record(outcome.fixes, e.clock)
        alerts.extend(outcome.alerts_json())
    return alerts


def violations(alerts):
    return {a["alert_id"]: a for a in alerts if a["type"] == "contact_violation"}


def story():
    him_before = fix("am-0001", 1, T, *offset(*HOME, 270, 3000))
    her = [m for m in her_fixes() if m.recv < T + 1_200_000]
    return [him_before, *her, outage_batch()]


def test_an_outage_near_her_is_found_from_its_true_start_against_her_stored_track():
    tracks = RecordedTracks(HORIZON)
    (alert,) = violations(run(engine(tracks), story(), tracks)).values()
    assert alert["late"] is True and alert["state"] == "ended"
    # he came within 500 m between his fixes at minute 1 and 1.5, not when memory reached
    assert T + 60_000 <= parse_ts(alert["started_at"]) <= T + 100_000
    assert T + 450_000 <= parse_ts(alert["ended_at"]) <= T + 510_000


def test_against_memory_alone_the_same_outage_went_unseen():
    """What this module mends: eight fixes of hers reach back four minutes."""
    assert violations(run(engine(None), story())) == {}


def test_only_fixes_received_by_the_engine_s_clock_count():
    """A recovery reads a store that holds what came later: her fixes
    received after the batch must not place her anywhere then."""
    later = RecordedTracks(HORIZON)
    for k, t in enumerate(range(T, T + 1_200_000, 30_000)):
        lat, lon = HOME
        later.record([("vd-0001", k + 1, t, T + 2_000_000, lat, lon, 8.0, None)], T + 2_000_000)
    e = engine(later)
    him_before = fix("am-0001", 1, T, *offset(*HOME, 270, 3000))
    assert violations(run(e, [him_before, outage_batch()])) == {}


def test_live_fixes_never_read_the_store():
    class Counting(RecordedTracks):
        calls = 0

        def fixes_between(self, device_ids, start, end):
            Counting.calls += 1
            return super().fixes_between(device_ids, start, end)

    tracks = Counting(HORIZON)
    e = engine(tracks)
    him = [fix("am-0001", k + 1, T + k * 30_000, *offset(*HOME, 270, 300)) for k in range(6)]
    assert violations(run(e, [*her_fixes(minutes=3), *him], tracks))
    # nor when one party never reported at all
    assert violations(run(engine(tracks), him, tracks)) == {}
    assert Counting.calls == 0


def test_a_store_that_fails_is_left_alone_and_the_engine_goes_on():
    class Broken:
        calls = 0

        def fixes_between(self, device_ids, start, end):
            Broken.calls += 1
            raise OSError("database is down")

    stored = StoredTracks(Broken())  # type: ignore[arg-type]
    e = engine(stored)
    alerts = run(e, [*story(), outage_batch(upload_at_s=1230, first_seq=100)])
    assert violations(alerts) == {}  # memory only, as before
    assert Broken.calls == 1 and stored.failures >= 2  # asked once, then rested
    assert e.stats["fixes"] > 40


points = st.lists(
    st.tuples(st.integers(0, 3600), st.floats(-2000, 2000), st.floats(-2000, 2000)),
    min_size=0,
    max_size=30,
    unique_by=lambda p: p[0],
)


@given(points)
def test_the_merged_track_keeps_time_order_and_only_what_was_there(raw):
    policy = Policy()
    track = []
    for t, x, y in sorted(raw):
        lat, lon = offset(*HOME, 90, x) if x >= 0 else offset(*HOME, 270, -x)
        lat, lon = offset(lat, lon, 0, y) if y >= 0 else offset(lat, lon, 180, -y)
        track.append((t * 1000, to_ecef(lat, lon), 10.0))
    kept = _plausible_run(policy, track)
    times = [p[0] for p in kept]
    assert times == sorted(times)
    assert set(times) <= {p[0] for p in track}
    # a track that never jumps is kept whole
    slow = [(t, track[0][1] + np.array([k * 5.0, 0, 0]), 10.0) for k, (t, _, _) in enumerate(track)]
    assert len(_plausible_run(policy, slow)) == len(slow)


def test_the_live_service_reads_her_track_from_storage(tmp_path):
    """Through the runtime: her fixes stored by the writer, his batch judged on them."""
    import asyncio
    import time

    from emon.service.runtime import Runtime
    from emon.storage import SqliteStore, Writer

    store = SqliteStore(tmp_path / "emon.db")
    store.migrate()
    rt = Runtime.open(store, Writer(store, tmp_path / "spool.jsonl"))
    rt.put_order(base_order(HOME, zones=[], contact_ban=BAN, valid_from="2026-01-01T00:00:00Z",
                            valid_until="2030-01-01T00:00:00Z"))  # fmt: skip
    now = int(time.time() * 1000) // 1000 * 1000
    shift = now - T
    for message in sorted(story()[:-1], key=lambda m: m.recv):
        rt.process([_shifted(message, shift)])
    asyncio.run(rt.writer.flush())
    assert rt.stored_tracks.failures == 0
    rt.process([_shifted(outage_batch(), shift)])
    (alert,) = [a for a in rt.alerts.values() if a["type"] == "contact_violation"]
    assert alert["late"] is True
    assert now + 60_000 <= parse_ts(alert["started_at"]) <= now + 100_000


def _shifted(message: Message, by: int) -> Message:
    """The same message ``by`` ms later (payload times too)."""
    body = json.loads(message.payload)
    for item in body if isinstance(body, list) else [body]:
        item["ts"] = format_ts(parse_ts(item["ts"]) + by)
    return Message(message.recv + by, message.topic, json.dumps(body).encode())
