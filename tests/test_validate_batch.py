"""Batch validation of GIS files of proposed orders."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import geopandas
import pytest
from shapely.geometry import Point, Polygon

ROWS = [
    # a good order: 1,000 m around the victim, residence 3 km away
    {
        "order_id": "A",
        "zone_id": "A-1",
        "type": "exclusion",
        "radius_m": 1000.0,
        "geometry": Point(4.49, 51.93),
        "victim_lon": 4.49,
        "victim_lat": 51.93,
        "residence_lon": 4.45,
        "residence_lat": 51.91,
        "offender_device_id": "am-1",
    },
    # the classic: 500 m around the victim's home
    {
        "order_id": "B",
        "zone_id": "B-1",
        "type": "exclusion",
        "radius_m": 500.0,
        "geometry": Point(5.12, 52.09),
        "victim_lon": 5.12,
        "victim_lat": 52.09,
        "residence_lon": 5.00,
        "residence_lat": 52.00,
        "offender_device_id": "am-2",
    },
    # a polygon with a second, narrow zone
    {
        "order_id": "C",
        "zone_id": "C-1",
        "type": "exclusion",
        "radius_m": None,
        "geometry": Polygon([(6.565, 53.209), (6.585, 53.209), (6.585, 53.221), (6.565, 53.221)]),
        "victim_lon": 6.575,
        "victim_lat": 53.215,
        "offender_device_id": "am-3",
    },
    {
        "order_id": "C",
        "zone_id": "C-2",
        "type": "exclusion",
        "radius_m": None,
        "geometry": Polygon([(6.70, 53.20), (6.7005, 53.20), (6.7005, 53.23), (6.70, 53.23)]),
    },
]


@pytest.mark.parametrize("suffix, driver", [(".geojson", "GeoJSON"), (".gpkg", "GPKG")])
def test_batch_writes_a_report_and_suggested_geometry(tmp_path, suffix, driver):
    source = tmp_path / f"proposals{suffix}"
    geopandas.GeoDataFrame(ROWS, crs=4326).to_file(source, driver=driver)
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "emon", "validate-batch", str(source), "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert "1 of 3 orders enforceable" in result.stdout
    rows = list(csv.DictReader((out / "report.csv").open()))
    by_order = {}
    for row in rows:
        by_order.setdefault(row["order_id"], []).append(row)
    assert by_order["A"][0]["enforceable"] == "True" and by_order["A"][0]["code"] == ""
    classic = by_order["B"][0]
    assert classic["code"] == "protected_margin" and float(classic["measured_m"]) == pytest.approx(
        500, abs=0.5
    )
    assert "zone_too_narrow" in {r["code"] for r in by_order["C"]}
    suggestions = json.loads((out / "suggestions.geojson").read_text())
    by_zone = {f["properties"]["zone_id"]: f for f in suggestions["features"]}
    assert by_zone["B-1"]["properties"]["radius_m"] == 1000.0
    assert by_zone["C-1"]["geometry"]["type"] == "Polygon"


def test_unusable_file_exits_2(tmp_path):
    bad = tmp_path / "x.geojson"
    bad.write_text("not a gis file")
    result = subprocess.run(
        [sys.executable, "-m", "emon", "validate-batch", str(bad), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
