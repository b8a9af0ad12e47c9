"""Validate many proposed orders from a GIS file; write a report table.

Input: a GeoJSON FeatureCollection or a GeoPackage layer (anything geopandas
reads) with one feature per zone. Features with the same ``order_id`` form
one order; order-level columns may stand on any of its features:

    order_id, zone_id, type (exclusion|inclusion), radius_m, prealert_m,
    schedule (JSON text, as in the contract), case_id, risk, valid_from,
    valid_until, timezone, offender_id, offender_device_id, residence_lon,
    residence_lat, victim_id, victim_device_id, victim_lon, victim_lat,
    contact_distance_m, contact_prealert_m

Output: ``report.csv`` (one row per finding, and one for each order without
findings) and ``suggestions.geojson`` (the suggested enforceable geometry).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from shapely.geometry import mapping

from emon.geofence.validation import Report, validate
from emon.orders import OrderFormatError

ORDER_COLUMNS = (
    "case_id", "risk", "valid_from", "valid_until", "timezone", "offender_id",
    "offender_device_id", "residence_lon", "residence_lat", "victim_id", "victim_device_id",
    "victim_lon", "victim_lat", "contact_distance_m", "contact_prealert_m",
)  # fmt: skip


class BatchInputError(ValueError):
    """The file cannot be read as proposed orders."""


def read_proposals(path: Path) -> list[dict[str, Any]]:
    import geopandas

    try:
        frame = geopandas.read_file(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise BatchInputError(f"cannot read {path}: {exc}") from exc
    if "order_id" not in frame.columns:
        raise BatchInputError(f"{path} has no order_id column")
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    orders: dict[str, dict[str, Any]] = {}
    for number, row in enumerate(frame.itertuples(index=False)):
        values = row._asdict()
        order_id = str(values["order_id"])
        order = orders.setdefault(order_id, {"order_id": order_id, "zones": [], "_flat": {}})
        for column in ORDER_COLUMNS:
            if _given(values.get(column)) and column not in order["_flat"]:
                order["_flat"][column] = values[column]
        order["zones"].append(_zone(values, number))
    return [_assemble(order) for order in orders.values()]


def _zone(values: dict[str, Any], number: int) -> dict[str, Any]:
    zone: dict[str, Any] = {
        "zone_id": str(values.get("zone_id") or f"feature-{number}"),
        "type": values.get("type") or "exclusion",
        "geometry": mapping(values["geometry"]) if values.get("geometry") is not None else {},
    }
    for column in ("radius_m", "prealert_m"):
        if _given(values.get(column)):
            zone[column] = float(values[column])
    if _given(values.get("schedule")):
        zone["schedule"] = json.loads(values["schedule"])
    zone["geometry"] = json.loads(json.dumps(zone["geometry"]))  # tuples to lists
    return zone


def _assemble(order: dict[str, Any]) -> dict[str, Any]:
    flat = order.pop("_flat")
    out: dict[str, Any] = {
        "order_id": order["order_id"],
        "zones": order["zones"],
        "valid_from": flat.get("valid_from", "1970-01-01T00:00:00Z"),
        "valid_until": flat.get("valid_until", "2100-01-01T00:00:00Z"),
        "offender": {"person_id": str(flat.get("offender_id", "?"))},
        "victims": [],
    }
    for key in ("case_id", "risk", "timezone"):
        if key in flat:
            out[key] = flat[key]
    if "offender_device_id" in flat:
        out["offender"]["device_id"] = str(flat["offender_device_id"])
    if "residence_lon" in flat and "residence_lat" in flat:
        point = [float(flat["residence_lon"]), float(flat["residence_lat"])]
        out["offender"]["residence"] = {"type": "Point", "coordinates": point}
    if "victim_id" in flat or "victim_lon" in flat:
        victim: dict[str, Any] = {"person_id": str(flat.get("victim_id", "?"))}
        if "victim_device_id" in flat:
            victim["device_id"] = str(flat["victim_device_id"])
        if "victim_lon" in flat and "victim_lat" in flat:
            point = [float(flat["victim_lon"]), float(flat["victim_lat"])]
            victim["address"] = {"type": "Point", "coordinates": point}
        out["victims"].append(victim)
    if "contact_distance_m" in flat:
        ban: dict[str, Any] = {"distance_m": float(flat["contact_distance_m"])}
        if "contact_prealert_m" in flat:
            ban["prealert_m"] = float(flat["contact_prealert_m"])
        out["contact_ban"] = ban
    return out


def _given(value: Any) -> bool:
    return (
        value is not None and not (isinstance(value, float) and math.isnan(value)) and value != ""
    )


def validate_batch(
    path: Path, out_dir: Path, lang: str = "en", progress: bool = True
) -> list[tuple[str, Report | str]]:
    """Validate every order in the file; returns (order_id, report or error)."""
    from tqdm import tqdm

    orders = read_proposals(path)
    results: list[tuple[str, Report | str]] = []
    for order in tqdm(orders, desc="validating", unit="order", disable=not progress):
        try:
            results.append((order["order_id"], validate(order, lang=lang)))
        except OrderFormatError as exc:
            results.append((order["order_id"], str(exc)))
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_csv(out_dir / "report.csv", results)
    _write_suggestions(out_dir / "suggestions.geojson", results)
    return results


def _write_csv(path: Path, results: list[tuple[str, Report | str]]) -> None:
    columns = ["order_id", "enforceable", "code", "severity", "zone_id", "measured_m",
               "required_m", "message"]  # fmt: skip
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        for order_id, report in results:
            if isinstance(report, str):
                writer.writerow({"order_id": order_id, "enforceable": False,
                                 "code": "unusable_order", "severity": "error",
                                 "message": report})  # fmt: skip
                continue
            rows = [f.to_json() for f in report.findings] or [{"code": "", "message": ""}]
            for row in rows:
                writer.writerow({"order_id": order_id, "enforceable": report.enforceable,
                                 **{k: row.get(k, "") for k in columns[2:]}})  # fmt: skip


def _write_suggestions(path: Path, results: list[tuple[str, Report | str]]) -> None:
    features = []
    for order_id, report in results:
        if isinstance(report, str):
            continue
        for suggestion in report.suggestions:
            values = suggestion.to_json()
            geometry = values.pop("geometry", None)
            features.append({"type": "Feature", "geometry": geometry,
                             "properties": {"order_id": order_id, **values}})  # fmt: skip
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
