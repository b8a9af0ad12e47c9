"""The review commands on what the service stored: evidence, verify, figures, analysis."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from emon.engine import Message
from emon.service.runtime import Runtime
from emon.storage import SqliteStore, Writer
from emon.timeutil import format_ts
from simulators.movement import offset
from simulators.scenarios import ROTTERDAM, base_order

LAT, LON = ROTTERDAM
STEP = 20_000
#: the offender's distance from the victim's home (the zone's centre), fix by fix
APPROACH = [3000, 2000, 1500, 900, 600, 400, 300, 400, 900, 1500, 2500, 3000]


def run(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "emon", *args], cwd=workdir,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A service that stored a zone violation and the victim at home."""
    workdir = tmp_path_factory.mktemp("review")
    store = SqliteStore(workdir / "emon.db")
    store.migrate()
    rt = Runtime.open(store, Writer(store, workdir / "spool.jsonl"))
    rt.put_order(base_order(ROTTERDAM, valid_from="2026-01-01T00:00:00Z",
                            valid_until="2030-01-01T00:00:00Z"))  # fmt: skip
    start = int(time.time() * 1000) - len(APPROACH) * STEP - 60_000
    for k, metres in enumerate(APPROACH):
        at = start + k * STEP
        lat, lon = offset(LAT, LON, 270, metres)
        fix = {"seq": k + 1, "ts": format_ts(at), "lat": lat, "lon": lon, "acc": 8}
        home = {"seq": k + 1, "ts": format_ts(at), "lat": LAT, "lon": LON, "acc": 5}
        rt.process([
            Message(at, "emon/v1/fix/am-0001", json.dumps(fix).encode()),
            Message(at + 1, "emon/v1/fix/vd-0001", json.dumps(home).encode()),
        ])  # fmt: skip
    asyncio.run(rt.writer.flush())
    (violation,) = [a for a in rt.alerts.values() if a["type"] == "zone_violation"]
    store.close()
    return workdir, start, violation


def test_the_evidence_report_holds_the_violation_and_its_trail(stored):
    workdir, _start, violation = stored
    done = run(workdir, "evidence", "--alert", violation["alert_id"], "--out", "ev")
    assert done.returncode == 0, done.stderr
    out = workdir / "ev"
    page = (out / "report.html").read_text()
    assert "zone_violation" in page and "data:image/png;base64," in page
    assert "Confirming fix" in page and "http" not in page.replace("http://", "")  # self-contained
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")
    fixes = gpd.read_file(out / "evidence.gpkg", layer="fixes")
    zones = gpd.read_file(out / "evidence.gpkg", layer="zones")
    assert set(fixes["device_id"]) == {"am-0001"}  # no victim positions unless asked
    assert len(zones) == 1 and zones.iloc[0]["zone_id"] == "Z-1"
    assert len(pd.read_csv(out / "fixes.csv")) == len(fixes)
    # the decision trail names the fix that confirmed it: the second one inside the zone
    confirming = violation["details"]["confirming_seq"]
    assert APPROACH[confirming - 1] < 1000 and APPROACH[confirming - 2] < 1000
    assert f"#{confirming} at" in page
    # the same report for a Dutch reader
    dutch = run(
        workdir, "evidence", "--alert", violation["alert_id"], "--out", "nl", "--lang", "nl"
    )
    assert dutch.returncode == 0, dutch.stderr
    nl = (workdir / "nl" / "report.html").read_text()
    assert "Bevestigende positie" in nl and f"#{confirming} om" in nl and "<html lang='nl'>" in nl
    assert "Confirming fix" not in nl
    # every received message of the offender is listed with its hash, and the head is given
    with sqlite3.connect(workdir / "emon.db") as db:
        hashes = {h for (h,) in db.execute(
            "SELECT hash FROM messages WHERE topic = 'emon/v1/fix/am-0001'")}  # fmt: skip
    assert sum(h in page for h in hashes) >= len(fixes)


def test_verify_finds_a_changed_row(stored, tmp_path):
    workdir, _start, _ = stored
    done = run(workdir, "verify")
    assert done.returncode == 0 and json.loads(done.stdout)["intact"]
    copy = tmp_path / "emon.db"
    with sqlite3.connect(workdir / "emon.db") as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
        (seq,) = dst.execute("SELECT chain_seq FROM messages ORDER BY chain_seq LIMIT 1 OFFSET 4"
                             ).fetchone()  # fmt: skip
        dst.execute("UPDATE messages SET payload = replace(payload, '\"acc\": 8', '\"acc\": 80') "
                    "WHERE chain_seq = ?", (seq,))  # fmt: skip
    done = run(tmp_path, "verify")
    assert done.returncode == 1
    (problem,) = json.loads(done.stdout)["problems"]
    assert problem["seq"] == seq and problem["problem"] == "altered"


def test_compliance_figures(stored):
    workdir, start, _ = stored
    done = run(workdir, "compliance", "--order", "OM-2026-000123", "--from", format_ts(start))
    figures = json.loads(done.stdout)["figures"]
    assert figures["violations"] == 1 and figures["unclassified"] == 1
    assert 0 < figures["hours_in_violation"] < 0.1 and figures["tamper_events"] == 0


def test_closest_approach_between_fixes(stored):
    workdir, start, _ = stored
    done = run(workdir, "closest", "--order", "OM-2026-000123", "--from", format_ts(start))
    (victim,) = json.loads(done.stdout)["victims"]
    assert victim["device_id"] == "vd-0001" and abs(victim["closest_m"] - 300) < 1


def test_what_if_a_smaller_zone(stored):
    workdir, start, _ = stored
    patch = json.dumps({"zones": {"Z-1": {"radius_m": 250}}})
    done = run(workdir, "what-if", "--from", format_ts(start - 1000), "--patch", patch)
    report = json.loads(done.stdout)
    assert [a["type"] for a in report["only_as_configured"]] == ["zone_violation"]
    stricter = run(workdir, "what-if", "--from", format_ts(start - 1000),
                   "--set", "confirm_fixes=3")  # fmt: skip
    assert json.loads(stricter.stdout)["only_as_configured"] == []  # still raised, a fix later


def test_unusable_arguments_exit_2(tmp_path, stored):
    workdir, _, _ = stored
    assert run(tmp_path, "verify").returncode == 2  # no database here
    assert run(workdir, "evidence", "--alert", "nope").returncode == 2
    assert run(workdir, "what-if", "--from", "2026-01-01T00:00:00Z", "--set", "x=1").returncode == 2
