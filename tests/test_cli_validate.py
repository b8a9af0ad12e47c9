"""`emon validate` as the OM runs it: report, exit status, languages."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.unit.test_validation import order


def emon(*args):
    return subprocess.run(
        [sys.executable, "-m", "emon", "validate", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_enforceable_order_exits_0(tmp_path):
    path = tmp_path / "o.json"
    path.write_text(json.dumps(order()))
    result = emon(str(path))
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert report == {"order_id": "OM-1", "enforceable": True, "findings": [], "suggestions": []}


def test_unenforceable_order_exits_1_with_the_contract_report(tmp_path):
    path = tmp_path / "o.json"
    path.write_text(json.dumps(order(radius=500, residence_m=5000)))
    result = emon(str(path))
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["enforceable"] is False
    finding = report["findings"][0]
    assert finding["code"] == "protected_margin" and finding["severity"] == "error"
    assert finding["zone_id"] == "Z-1" and finding["measured_m"] == 500.0
    assert finding["required_m"] == 1000.0 and finding["message"]
    assert report["suggestions"][0]["zone_id"] == "Z-1"
    assert report["suggestions"][0]["radius_m"] == 1000.0


def test_text_in_dutch(tmp_path):
    path = tmp_path / "o.json"
    path.write_text(json.dumps(order(radius=500, residence_m=5000)))
    result = emon(str(path), "--format", "text", "--lang", "nl")
    assert result.returncode == 1
    assert "NIET handhaafbaar" in result.stdout and "Voorstel" in result.stdout


def test_unusable_files_exit_2_without_a_traceback(tmp_path):
    not_json = tmp_path / "a.json"
    not_json.write_text("{not json")
    missing = tmp_path / "b.json"
    missing.write_text(json.dumps({"order_id": "x", "zones": []}))
    for path in (not_json, missing, tmp_path / "absent.json"):
        result = emon(str(path))
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr and result.stderr.strip()
