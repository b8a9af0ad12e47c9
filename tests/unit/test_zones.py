"""Signed distances of circle and polygon zones against geodesic truth."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st
from pyproj import Geod

from emon.geofence.frame import to_ecef
from emon.geofence.zones import FAR_M, GeometryError, ZoneTable, compile_shape, compile_shapes

GEOD = Geod(ellps="WGS84")


def _edge_truth(ring: list[tuple[float, float]], lon: float, lat: float) -> float:
    """Geodesic distance from a point to a ring whose edges are geodesics,
    sampled every 0.25 m."""
    best = np.inf
    for (lon1, lat1), (lon2, lat2) in itertools.pairwise(ring):
        length = GEOD.inv(lon1, lat1, lon2, lat2)[2]
        n = max(2, int(length / 0.25))
        pts = np.array(GEOD.npts(lon1, lat1, lon2, lat2, n))
        plon = np.concatenate([[lon1], pts[:, 0], [lon2]])
        plat = np.concatenate([[lat1], pts[:, 1], [lat2]])
        d = GEOD.inv(np.full(len(plon), lon), np.full(len(plat), lat), plon, plat)[2]
        best = min(best, float(d.min()))
    return best


def _square(lat: float, lon: float, half: float) -> list[tuple[float, float]]:
    corners = []
    for az in (45, 135, 225, 315, 45):
        c_lon, c_lat, _ = GEOD.fwd(lon, lat, az, half * np.sqrt(2))
        corners.append((float(c_lon), float(c_lat)))
    return corners


def _distance(geometry, radius, lon, lat):
    table = ZoneTable([compile_shape(geometry, radius)])
    return float(table.signed_distance(np.array([0]), to_ecef(np.array([lat]), np.array([lon])))[0])


@given(
    st.floats(-85, 85),
    st.floats(-180, 180),
    st.floats(50, 5000),
    st.floats(0, 360),
    st.floats(0, 20_000),
)
def test_circle_signed_distance_is_geodesic(lat, lon, radius, azimuth, metres):
    qlon, qlat, _ = GEOD.fwd(lon, lat, azimuth, metres)
    geometry = {"type": "Point", "coordinates": [lon, lat]}
    assert abs(_distance(geometry, radius, qlon, qlat) - (metres - radius)) < 0.5


@given(
    st.floats(-80, 80),
    st.floats(-179, 179),
    st.floats(100, 2000),
    st.floats(0, 360),
    st.floats(0, 8000),
)
def test_polygon_signed_distance_is_geodesic(lat, lon, half, azimuth, metres):
    _square_measured_as_geodesic(lat, lon, half, azimuth, metres)


def _square_measured_as_geodesic(lat, lon, half, azimuth, metres):
    ring = _square(lat, lon, half)  # GEOD.fwd wraps every corner into [-180, 180]
    geometry = {"type": "Polygon", "coordinates": [ring]}
    qlon, qlat, _ = GEOD.fwd(lon, lat, azimuth, metres)
    truth = _edge_truth(ring, qlon, qlat)
    measured = _distance(geometry, None, qlon, qlat)
    assert abs(abs(measured) - truth) < 0.5
    if truth > 1:
        inside = metres < half  # inscribed circle
        outside = metres > half * np.sqrt(2)
        assert not (inside and measured > 0)
        assert not (outside and measured < 0)


def test_polygon_with_a_hole_is_outside_in_the_hole():
    outer = _square(-33.9, 18.4, 2000)  # Cape Town
    hole = _square(-33.9, 18.4, 500)
    geometry = {"type": "Polygon", "coordinates": [outer, hole[::-1]]}
    in_hole = _distance(geometry, None, 18.4, -33.9)
    assert in_hole == pytest.approx(500, abs=0.5)  # outside, 500 m from the hole's edge
    lon, lat, _ = GEOD.fwd(18.4, -33.9, 0, 1200)
    assert _distance(geometry, None, lon, lat) < -250  # in the ring between


def test_multipolygon_takes_the_nearest_part():
    a, b = _square(64.14, -21.94, 300), _square(64.16, -21.90, 300)  # Reykjavik
    geometry = {"type": "MultiPolygon", "coordinates": [[a], [b]]}
    assert _distance(geometry, None, -21.90, 64.16) < -290
    assert _distance(geometry, None, -21.94, 64.14) < -290


def test_far_points_get_a_lower_bound_not_a_fold():
    """A point on the other side of the earth is far outside, not inside a
    mirrored image of the zone."""
    ring = _square(52.0, 5.0, 1000)
    geometry = {"type": "Polygon", "coordinates": [ring]}
    assert _distance(geometry, None, -175.0, -52.0) > FAR_M
    assert _distance(geometry, None, 5.2, 52.0) > 10_000


@pytest.mark.parametrize(
    "geometry, radius",
    [
        ({"type": "Point", "coordinates": [4.49, 51.93]}, None),
        ({"type": "Point", "coordinates": [4.49, 51.93]}, -5),
        ({"type": "Polygon", "coordinates": [[[4.4, 51.9], [4.5, 51.9], [4.4, 51.9]]]}, None),
        (
            {
                "type": "Polygon",
                "coordinates": [[[51.9, 400.0], [4.5, 51.9], [4.5, 52.0], [51.9, 400.0]]],
            },
            None,
        ),
        ({"type": "LineString", "coordinates": [[4.4, 51.9], [4.5, 51.9]]}, None),
        ({"type": "Polygon"}, None),
    ],
)
def test_unusable_geometries_are_refused(geometry, radius):
    with pytest.raises(GeometryError):
        compile_shape(geometry, radius)


def test_self_intersecting_ring_is_repaired_for_enforcement():
    bowtie = [[4.40, 51.90], [4.50, 52.00], [4.50, 51.90], [4.40, 52.00], [4.40, 51.90]]
    shape = compile_shape({"type": "Polygon", "coordinates": [bowtie]}, None)
    assert shape.plane.is_valid and shape.plane.area > 0


@given(
    st.floats(-80, 80),
    st.one_of(st.floats(179.0, 180.0), st.floats(-180.0, -179.0)),
    st.floats(100, 2000),
    st.floats(0, 360),
    st.floats(0, 8000),
)
def test_polygon_across_the_antimeridian_is_measured_as_drawn(lat, lon, half, azimuth, metres):
    """Corners on both sides of 180 degrees, written in [-180, 180] as a user draws them."""
    _square_measured_as_geodesic(lat, lon, half, azimuth, metres)


def test_rfc7946_halves_across_the_antimeridian_are_one_zone():
    west = [[179.99, -16.8], [180.0, -16.8], [180.0, -16.79], [179.99, -16.79], [179.99, -16.8]]
    east = [[-180.0, -16.8], [-179.99, -16.8], [-179.99, -16.79], [-180.0, -16.79],
            [-180.0, -16.8]]  # fmt: skip
    geometry = {"type": "MultiPolygon", "coordinates": [[west], [east]]}
    assert _distance(geometry, None, 180.0, -16.795) < -500  # the middle: deep inside
    outside = _distance(geometry, None, -179.97, -16.795)  # 0.02 deg east of the east edge
    assert abs(outside - GEOD.inv(-179.99, -16.795, -179.97, -16.795)[2]) < 0.5


_PLACE = st.tuples(st.floats(-179.99, 179.99), st.floats(-80, 80))


def _circle_zone(place, radius):
    return {"type": "Point", "coordinates": list(place)}, radius


def _polygon_zone(place, half, bowtie):
    """A square, or (every other corner) a ring crossing itself, to be repaired."""
    corners = _square(place[1], place[0], half)[:: 2 if bowtie else 1]
    return {"type": "Polygon", "coordinates": [[list(c) for c in corners]]}, None


_NAN_RING = [[4.4, 51.9], [float("nan"), 51.9], [4.5, 52.0], [4.4, 51.9]]
_ZONE = st.one_of(
    st.builds(_circle_zone, _PLACE, st.floats(50, 5000)),
    st.builds(_polygon_zone, _PLACE, st.floats(20, 20_000), st.booleans()),
    st.just(({"type": "Polygon", "coordinates": [_NAN_RING]}, None)),
)


@given(st.lists(_ZONE, min_size=1, max_size=12))
def test_zones_compiled_together_are_those_compiled_alone(zones):
    """An engine build compiles every zone in one call, an order change only
    its own: a zone's shape (or its refusal) must not depend on the others."""
    together = compile_shapes(zones)
    for (geometry, radius), shape in zip(zones, together, strict=True):
        try:
            alone = compile_shape(geometry, radius)
        except GeometryError as exc:
            assert isinstance(shape, GeometryError) and str(shape) == str(exc)
            continue
        assert not isinstance(shape, GeometryError)
        assert shapely.equals_exact(shape.plane, alone.plane, tolerance=0.0)
        assert shape.reach_m == alone.reach_m and shape.radius_m == alone.radius_m
        assert np.array_equal(shape.frame.rotation, alone.frame.rotation)


@given(_PLACE, st.floats(20, 20_000))
def test_a_polygon_reads_the_same_by_either_reader(place, half):
    """GEOS's GeoJSON reader (the batch) and shapely's (one refused by it, such
    as an open ring) give the same zone."""
    ring = [list(c) for c in _square(place[1], place[0], half)]
    closed = compile_shape({"type": "Polygon", "coordinates": [ring]}, None)
    opened = compile_shape({"type": "Polygon", "coordinates": [ring[:-1]]}, None)
    assert shapely.equals_exact(closed.plane, opened.plane, tolerance=1e-9)
