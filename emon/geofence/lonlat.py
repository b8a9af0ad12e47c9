"""GeoJSON read as degrees that run on across the antimeridian.

A zone drawn across 180 degrees (a polygon from 179.9 to -179.9, or RFC 7946's
two halves) is a few hundred metres wide, but read naively its longitudes
span the whole globe: its centre lands on the other side of the earth and
every distance to it is wrong. Shifting each longitude by whole turns to lie
within 180 degrees of the geometry's first position keeps the shape as
drawn; the metric frames (ECEF, azimuthal equidistant) take such longitudes
as they are.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape


def unwrap(geometry: shapely.Geometry) -> shapely.Geometry:
    coords = shapely.get_coordinates(geometry)
    if len(coords) == 0 or not np.all(np.isfinite(coords)):
        return geometry
    ref = float(coords[0, 0])

    def shift(xy: Any) -> Any:
        lon = ref + np.mod(xy[:, 0] - ref + 180.0, 360.0) - 180.0
        return np.column_stack([lon, xy[:, 1]])

    return shapely.transform(geometry, shift)


def read_lonlat(geometry: dict[str, Any]) -> shapely.Geometry:
    """A zone's GeoJSON as a shapely geometry in continuous degrees."""
    return unwrap(shape(geometry))


def valid_area(geometry: shapely.Geometry) -> shapely.Geometry:
    """A polygonal geometry made valid, keeping only its area: halves that
    share an edge (the antimeridian's two sides) become one polygon, and the
    lines or points make_valid may leave over are dropped."""
    if geometry.is_valid and geometry.geom_type in ("Polygon", "MultiPolygon"):
        return geometry
    parts = shapely.get_parts(shapely.make_valid(geometry))
    areas = [p for p in parts if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(areas) if areas else shapely.Polygon()
