"""What validation measures of a zone: whether it is usable as drawn, how
wide it is, how far a point lies outside it (geodesic metres)."""

from __future__ import annotations

from typing import Any

import shapely
from shapely.geometry import Point

from emon.geofence.lonlat import read_lonlat
from emon.geofence.metric import Metric, distance_m
from emon.geofence.zones import GeometryError, compile_shape
from emon.orders import ZoneSpec


def point(geometry: dict[str, Any] | None) -> tuple[float, float] | None:
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        return None
    try:
        lon, lat = (float(v) for v in geometry["coordinates"][:2])
    except (KeyError, TypeError, ValueError):
        return None
    if abs(lon) > 180 or abs(lat) > 90:
        return None
    return lon, lat


def geometry_problem(zone: ZoneSpec) -> str | None:
    """What makes a zone unusable as drawn, in words; None when it is fine."""
    try:
        compile_shape(zone.geometry, zone.radius_m)
    except GeometryError as exc:
        return str(exc)
    if zone.geometry.get("type") == "Point":
        position = zone.geometry.get("coordinates")
        if not (isinstance(position, list) and 2 <= len(position) <= 3 and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in position
        )):  # fmt: skip
            return "a Point's coordinates must be [lon, lat] numbers"
        return None
    polygons = zone.geometry.get("coordinates") or []
    if zone.geometry.get("type") == "Polygon":
        polygons = [polygons]
    for polygon in polygons:
        for ring in polygon:
            if len(ring) < 4 or list(ring[0]) != list(ring[-1]):
                return (
                    "a ring is not closed (first and last position differ) or has under 4 positions"
                )
    lonlat = read_lonlat(zone.geometry)
    if not lonlat.is_valid:
        return f"not a valid polygon ({shapely.is_valid_reason(lonlat)})"
    return None


def signed_distance(zone: ZoneSpec, lon: float, lat: float) -> float:
    """Metres outside the zone's edge (negative inside), geodesic."""
    if zone.geometry.get("type") == "Point":
        c_lon, c_lat = zone.geometry["coordinates"][:2]
        return distance_m(lon, lat, c_lon, c_lat) - float(zone.radius_m or 0.0)
    metric = Metric(lon, lat)
    polygon = metric.zone(zone.geometry, None)
    edge = float(shapely.distance(shapely.boundary(polygon), Point(0, 0)))
    return -edge if shapely.contains_xy(polygon, 0.0, 0.0) else edge


def width_m(zone: ZoneSpec) -> float:
    """Twice the radius of the largest circle that fits: how wide the zone is."""
    if zone.geometry.get("type") == "Point":
        return 2 * float(zone.radius_m or 0.0)
    centre = read_lonlat(zone.geometry).centroid
    polygon = Metric(centre.x, centre.y).zone(zone.geometry, None)
    return 2 * float(shapely.length(shapely.maximum_inscribed_circle(polygon, 0.5)))
