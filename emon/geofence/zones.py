"""Zones compiled for fast, exact signed distances.

A signed distance is metres outside the zone's edge: positive outside,
negative inside. Circles (Point + ``radius_m``) use the exact geodesic distance
to their centre; polygons are drawn in a tangent plane at their own centre.
Far-away points (most of them, most of the time) get a cheap lower bound from
the chord to the zone's centre and never reach shapely.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import shape

from emon.geofence.frame import FloatArray, LocalFrame, chord_to_geodesic, rotation_of, to_ecef
from emon.geofence.lonlat import valid_area
from emon.rows import capacity_for, grown

#: Distances are exact (to the contract's 0.5 m) up to this far outside a
#: zone's bounding circle; beyond it a cheap lower bound is returned. Callers
#: that need less (the engine's rules end a few km out) pass their own.
FAR_M = 20_000.0


class GeometryError(ValueError):
    """A zone geometry that cannot be enforced as drawn."""


@dataclass(frozen=True, slots=True)
class ZoneShape:
    """One zone's geometry in its own metric frame."""

    frame: LocalFrame
    plane: shapely.Geometry  # polygon(s) in frame metres; a circle's centre point
    radius_m: float | None  # set for circles: exact distance from the centre
    reach_m: float  # radius of a circle around the frame origin holding the whole zone


#: a circle's plane: its centre, the frame's origin (shapely geometries are immutable)
_CENTRE = shapely.Point(0.0, 0.0)


def compile_shape(geometry: dict[str, Any], radius_m: float | None) -> ZoneShape:
    """GeoJSON (Point + radius, Polygon, MultiPolygon) to a metric ZoneShape."""
    shape_or_error = compile_shapes([(geometry, radius_m)])[0]
    if isinstance(shape_or_error, GeometryError):
        raise shape_or_error
    return shape_or_error


def compile_shapes(
    zones: Sequence[tuple[dict[str, Any], float | None]],
) -> list[ZoneShape | GeometryError]:
    """Many zones at once: polygons are read, unwrapped, projected and
    measured in a few array calls over all of them (one by one, an engine
    build of 100,000 orders spent most of its time here). A zone's shape
    depends on its own geometry only, never on the others compiled with it."""
    out: list[ZoneShape | GeometryError | None] = [None] * len(zones)
    polygons: list[int] = []
    for i, (geometry, radius_m) in enumerate(zones):
        kind = geometry.get("type") if isinstance(geometry, dict) else None
        if kind in ("Polygon", "MultiPolygon"):
            polygons.append(i)
        else:
            out[i] = _guarded(geometry, radius_m)
    if polygons:
        shapes = _polygons([zones[i][0] for i in polygons])
        for i, shape_or_error in zip(polygons, shapes, strict=True):
            out[i] = shape_or_error
    return [s if s is not None else GeometryError("not compiled") for s in out]


def _guarded(geometry: dict[str, Any], radius_m: float | None) -> ZoneShape | GeometryError:
    try:
        return (
            _circle(geometry, radius_m)
            if geometry.get("type") == "Point"
            else _one_polygon(geometry)
        )
    except GeometryError as exc:
        return exc
    except Exception as exc:  # what no check foresaw: refused as the geometry it is
        return GeometryError(f"unreadable GeoJSON geometry: {exc}")


def _polygons(geometries: list[dict[str, Any]]) -> list[ZoneShape | GeometryError]:
    """Polygons read by GEOS's GeoJSON reader in one call; one it cannot
    read, or whose coordinates are not finite degrees, takes the path of one
    (``_one_polygon``: shapely's reader, and the error it explains)."""
    texts = [msgspec.json.encode(g) for g in geometries]
    read = shapely.from_geojson(texts, on_invalid="ignore")
    coords, owner = shapely.get_coordinates(read, return_index=True)
    finite = np.isfinite(coords).all(axis=1) & (np.abs(coords[:, 0]) <= 180)
    finite &= np.abs(coords[:, 1]) <= 90
    fine = ~shapely.is_missing(read) & ~shapely.is_empty(read)
    fine &= np.bincount(owner, weights=~finite, minlength=len(read)) == 0
    out: list[ZoneShape | GeometryError] = [
        _guarded(g, None) for g, ok in zip(geometries, fine.tolist(), strict=True) if not ok
    ]
    if fine.all():
        return _project(read)
    projected = iter(_project(read[fine]) if fine.any() else [])
    slow = iter(out)
    return [next(projected) if ok else next(slow) for ok in fine.tolist()]


def _project(lonlat: NDArray[np.object_]) -> list[ZoneShape | GeometryError]:
    """Unwrapped (``lonlat.unwrap``'s rule, per vertex), drawn in a tangent
    plane at each zone's own centre, made valid, and measured."""
    coords, owner = shapely.get_coordinates(lonlat, return_index=True)
    first = np.searchsorted(owner, np.arange(len(lonlat)))
    ref = coords[first, 0][owner]
    coords[:, 0] = ref + np.mod(coords[:, 0] - ref + 180.0, 360.0) - 180.0
    lonlat = shapely.set_coordinates(lonlat.copy(), coords)
    centres = shapely.centroid(shapely.envelope(lonlat))
    lons, lats = shapely.get_x(centres).tolist(), shapely.get_y(centres).tolist()
    frames = [LocalFrame(lat, lon) for lon, lat in zip(lons, lats, strict=True)]
    origin, rotation = to_ecef(np.array(lats), np.array(lons)), rotation_of(lats, lons)
    xyz = to_ecef(coords[:, 1], coords[:, 0]) - origin[owner]
    plane = np.einsum("nij,nj->ni", rotation[owner], xyz)
    planes = shapely.set_coordinates(lonlat, plane)
    kinds = shapely.get_type_id(planes)
    valid = shapely.is_valid(planes) & np.isin(kinds, (3, 6))  # Polygon, MultiPolygon
    for k in np.flatnonzero(~valid).tolist():
        planes[k] = valid_area(planes[k])
    area = shapely.area(planes)
    flat, flat_owner = shapely.get_coordinates(planes, return_index=True)
    reach = np.zeros(len(planes))
    np.maximum.at(reach, flat_owner, np.hypot(flat[:, 0], flat[:, 1]))
    return [
        ZoneShape(frame, plane_k, None, float(r)) if a > 0 and not plane_k.is_empty
        else GeometryError("polygon encloses no area")
        for frame, plane_k, a, r in zip(frames, planes, area.tolist(), reach.tolist(),
                                        strict=True)
    ]  # fmt: skip


def _one_polygon(geometry: dict[str, Any]) -> ZoneShape:
    """A polygon GEOS's reader did not take: read by shapely (which closes an
    open ring), checked with the reason for a refusal, then as the others."""
    try:
        with np.errstate(invalid="ignore"):  # a NaN is refused below, with its reason
            lonlat = shape(geometry)
    except Exception as exc:  # shapely raises several types for malformed GeoJSON
        raise GeometryError(f"unreadable GeoJSON geometry: {exc}") from exc
    coords = shapely.get_coordinates(lonlat)
    if len(coords) == 0 or not np.all(np.isfinite(coords)):
        raise GeometryError("geometry has no finite coordinates")
    if np.any(np.abs(coords[:, 0]) > 180) or np.any(np.abs(coords[:, 1]) > 90):
        raise GeometryError("coordinates out of range (GeoJSON is [lon, lat])")
    kind = geometry.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        raise GeometryError(f"zone geometry must be Point, Polygon or MultiPolygon, not {kind}")
    shaped = _project(np.array([lonlat], dtype=object))[0]
    if isinstance(shaped, GeometryError):
        raise shaped
    return shaped


def _circle(geometry: dict[str, Any], radius_m: float | None) -> ZoneShape:
    """A Point and its radius, read without shapely (most zones are circles,
    and an engine build compiles every one): the same checks, the same shape."""
    position = geometry.get("coordinates")
    if not isinstance(position, list | tuple) or len(position) not in (2, 3):
        raise GeometryError("unreadable GeoJSON geometry: a Point needs [lon, lat]")
    try:  # what shapely's reading accepts, as it did before this path
        lon, lat = float(position[0]), float(position[1])
    except (TypeError, ValueError) as exc:
        raise GeometryError(f"unreadable GeoJSON geometry: {exc}") from exc
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise GeometryError("geometry has no finite coordinates")
    if abs(lon) > 180 or abs(lat) > 90:
        raise GeometryError("coordinates out of range (GeoJSON is [lon, lat])")
    if radius_m is None or not radius_m > 0:
        raise GeometryError("a Point zone needs a positive radius_m")
    # a circle is measured exactly from its centre: no polygon to keep
    return ZoneShape(LocalFrame(lat, lon), _CENTRE, float(radius_m), float(radius_m))


class ZoneTable:
    """All zones of all orders in flat arrays, so a batch is one numpy pass.
    Rows are filled as orders come (``put``); a row no order uses keeps its
    last zone until it is filled again, and is never asked about."""

    def __init__(self, shapes: Sequence[ZoneShape] = ()) -> None:
        self.shapes: list[ZoneShape | None] = []
        self.origin = np.zeros((0, 3))
        self.rotation = np.zeros((0, 2, 3))
        self.is_circle = np.zeros(0, dtype=bool)
        self.radius = np.zeros(0)
        self.reach = np.zeros(0)
        self.planes = np.zeros(0, dtype=object)
        self.boundaries = np.zeros(0, dtype=object)
        self.put(list(enumerate(shapes)))

    def put(self, rows: Sequence[tuple[int, ZoneShape]]) -> None:
        """Fill these rows with these shapes (the table grows to hold them)."""
        if not rows:
            return
        at = np.array([r for r, _ in rows], dtype=np.intp)
        shapes = [s for _, s in rows]
        extent = int(at.max()) + 1
        if extent > len(self.shapes):
            self.shapes.extend([None] * (extent - len(self.shapes)))
        for r, zone in rows:
            self.shapes[r] = zone
        capacity = capacity_for(extent, len(self.origin))
        for name in ("origin", "rotation", "is_circle", "radius", "reach", "planes",
                     "boundaries"):  # fmt: skip
            setattr(self, name, grown(getattr(self, name), capacity, 0))
        n = len(shapes)
        lat = np.array([s.frame.lat for s in shapes], dtype=np.float64)
        lon = np.array([s.frame.lon for s in shapes], dtype=np.float64)
        self.origin[at] = to_ecef(lat, lon)
        self.rotation[at] = rotation_of(lat, lon)
        self.is_circle[at] = [s.radius_m is not None for s in shapes]
        self.radius[at] = [s.radius_m or 0.0 for s in shapes]
        self.reach[at] = [s.reach_m for s in shapes]
        planes = np.empty(n, dtype=object)
        planes[:] = [s.plane for s in shapes]
        shapely.prepare(planes)
        self.planes[at] = planes
        self.boundaries[at] = shapely.boundary(planes)

    def signed_distance(
        self, zone: NDArray[np.intp], xyz: FloatArray, exact_within: float = FAR_M
    ) -> FloatArray:
        """Metres outside the edge of zone[i] for point xyz[i]; negative inside."""
        out = np.empty(len(zone))
        if len(zone) == 0:
            return out
        to_centre = chord_to_geodesic(np.linalg.norm(xyz - self.origin[zone], axis=1))
        circle = self.is_circle[zone]
        out[circle] = to_centre[circle] - self.radius[zone[circle]]
        polygon = ~circle
        far = polygon & (to_centre - self.reach[zone] > exact_within)
        out[far] = to_centre[far] - self.reach[zone[far]]
        near = np.flatnonzero(polygon & ~far)
        if len(near):
            out[near] = self._polygon_distance(zone[near], xyz[near])
        return out

    def plane_coordinates(self, zone: NDArray[np.intp], xyz: FloatArray) -> FloatArray:
        offset = xyz - self.origin[zone]
        return np.asarray(np.einsum("nij,nj->ni", self.rotation[zone], offset), dtype=np.float64)

    def _polygon_distance(self, zone: NDArray[np.intp], xyz: FloatArray) -> FloatArray:
        plane = self.plane_coordinates(zone, xyz)
        x, y = plane[:, 0], plane[:, 1]
        inside = shapely.contains_xy(self.planes[zone], x, y)
        edge = shapely.distance(self.boundaries[zone], shapely.points(x, y))
        return np.asarray(np.where(inside, -edge, edge), dtype=np.float64)
