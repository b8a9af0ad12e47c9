"""`emon replay` as a user runs it: exit codes, determinism, the clock."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from simulators import scenarios as S


def emon(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emon", *args], capture_output=True, text=True, timeout=120
    )


def replay(
    orders: Path, stream: Path, alerts: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    return emon(
        "replay", "--orders", str(orders), "--stream", str(stream), "--alerts", str(alerts), *extra
    )


def write(tmp: Path, scenario) -> tuple[Path, Path]:
    orders = tmp / "orders.json"
    orders.write_text(json.dumps(scenario.orders))
    return orders, scenario.recording.write(tmp / "stream.jsonl")


def test_replay_is_deterministic_and_counts_bad_lines(tmp_path):
    orders, stream = write(tmp_path, S.salted(S.car_approach()))
    with stream.open("a") as f:
        f.write("this is not json\n")
        f.write('{"recv": "never", "topic": "x", "payload": 1}\n')
    first = replay(orders, stream, tmp_path / "a1.jsonl")
    second = replay(orders, stream, tmp_path / "a2.jsonl")
    assert first.returncode == 0 and second.returncode == 0, first.stderr
    assert (tmp_path / "a1.jsonl").read_bytes() == (tmp_path / "a2.jsonl").read_bytes()
    assert "unreadable_line=2" in first.stderr
    assert "duplicate=" in first.stderr and "invalid_json=" in first.stderr
    alerts = [json.loads(line) for line in (tmp_path / "a1.jsonl").read_text().splitlines()]
    assert any(a["type"] == "zone_violation" for a in alerts)


def test_payload_may_be_a_string_of_raw_bytes(tmp_path):
    scenario = S.car_approach()
    orders, stream = write(tmp_path, scenario)
    lines = [json.loads(line) for line in stream.read_text().splitlines()]
    for line in lines:
        line["payload"] = json.dumps(line["payload"])
    stream.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = replay(orders, stream, tmp_path / "a.jsonl")
    assert result.returncode == 0
    assert "zone_violation" in (tmp_path / "a.jsonl").read_text()


def test_until_runs_the_clock_on_and_fires_timers(tmp_path):
    scenario = S.pass_by()
    orders, stream = write(tmp_path, scenario)
    out = tmp_path / "a.jsonl"
    replay(orders, stream, out)
    without = out.read_text().count("signal_lost")
    replay(orders, stream, out, "--until", "2026-11-28T15:00:00Z")
    assert out.read_text().count("signal_lost") > without


def test_unusable_arguments_exit_non_zero(tmp_path):
    orders, stream = write(tmp_path, S.pass_by())
    missing = replay(tmp_path / "nope.json", stream, tmp_path / "a")
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    (tmp_path / "bad.json").write_text("{")
    bad = replay(tmp_path / "bad.json", stream, tmp_path / "a")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    usage = emon("replay", "--orders", str(orders))
    assert usage.returncode == 2


def test_an_unusable_order_is_skipped_not_fatal(tmp_path):
    scenario = S.car_approach()
    bad = json.loads(json.dumps(scenario.orders[0]))
    bad["order_id"] = "BROKEN"
    bad["zones"][0]["geometry"] = {"type": "LineString", "coordinates": [[4.4, 51.9], [4.5, 51.9]]}
    scenario.orders.append(bad)
    orders, stream = write(tmp_path, scenario)
    result = replay(orders, stream, tmp_path / "a.jsonl")
    assert result.returncode == 0 and "skipped order #1" in result.stderr
    assert "zone_violation" in (tmp_path / "a.jsonl").read_text()


def test_the_blind_spots_replay_as_served(tmp_path):
    """Through `emon replay`, the contract's newer kinds: a home unit's
    presence, a bracelet unpaired, a dying battery, fixes too coarse to judge."""
    from emon.timeutil import format_ts, parse_ts
    from simulators.movement import offset
    from simulators.scenarios import ROTTERDAM, base_order

    lat, lon = ROTTERDAM
    t0 = parse_ts("2026-11-28T22:00:00Z")
    curfew = {"zone_id": "Z-H", "type": "inclusion", "radius_m": 80, "schedule": None,
              "geometry": {"type": "Point", "coordinates": [lon, lat]}}  # fmt: skip
    home = base_order(ROTTERDAM, zones=[curfew], order_id="OM-HOME")
    home["offender"] = {"person_id": "P-1", "device_id": "am-1", "beacon_id": "bu-1",
                        "residence": {"type": "Point", "coordinates": [lon, lat]}}  # fmt: skip
    home["victims"] = []
    zone = base_order(ROTTERDAM, order_id="OM-ZONE")
    zone["offender"] = {"person_id": "P-2", "device_id": "am-2"}
    zone["victims"] = []
    lines = []

    def line(t, topic, payload):
        lines.append(json.dumps({"recv": format_ts(t + 100), "topic": topic, "payload": payload}))

    indoor = offset(lat, lon, 90, 200)  # jitter: 200 m off, but the unit hears him
    coarse = offset(lat, lon, 270, 800)  # 200 m inside Z-1, at 300 m accuracy
    for k in range(40):
        t = t0 + k * 60_000
        line(t, "emon/v1/beacon/bu-1", {"seq": k + 1, "ts": format_ts(t), "present": True,
                                        "device_id": "am-1"})  # fmt: skip
        line(t + 5_000, "emon/v1/fix/am-1", {"seq": k + 1, "ts": format_ts(t + 5_000),
             "lat": indoor[0], "lon": indoor[1], "acc": 20, "batt": 60 - 1.0 * k})  # fmt: skip
        line(t + 9_000, "emon/v1/fix/am-2", {"seq": k + 1, "ts": format_ts(t + 9_000),
             "lat": coarse[0], "lon": coarse[1], "acc": 300})  # fmt: skip
    line(t0 + 30_000, "emon/v1/event/am-2", {"seq": 100, "ts": format_ts(t0 + 30_000),
                                             "type": "unpaired"})  # fmt: skip
    orders = tmp_path / "orders.json"
    orders.write_text(json.dumps([home, zone]))
    stream = tmp_path / "stream.jsonl"
    stream.write_text("\n".join(lines) + "\n")
    done = replay(orders, stream, tmp_path / "alerts.jsonl")
    assert done.returncode == 0, done.stderr
    alerts = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    kinds = {(a["type"], a["device_id"]) for a in alerts}
    assert ("zone_violation", "am-1") not in kinds  # at home by his unit
    assert ("zone_violation", "am-2") not in kinds  # too coarse to call
    assert {("location_unreliable", "am-2"), ("unpaired", "am-2"),
            ("battery_critical", "am-1")} <= kinds  # fmt: skip
