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
