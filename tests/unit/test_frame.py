"""ECEF chord distances against pyproj.Geod, anywhere on earth."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from pyproj import Geod

from emon.geofence.frame import LocalFrame, geodesic_distance, rotation_of, to_ecef

GEOD = Geod(ellps="WGS84")
lats = st.floats(-89.9, 89.9)
lons = st.floats(-180, 180)


@given(lats, lons, st.floats(0, 360), st.floats(0, 20_000))
def test_distance_matches_geodesic_within_half_a_metre(lat, lon, azimuth, metres):
    lon2, lat2, _ = GEOD.fwd(lon, lat, azimuth, metres)
    measured = geodesic_distance(to_ecef(lat, lon), to_ecef(lat2, lon2))
    assert abs(float(measured) - metres) < 0.5


def test_distance_is_exact_enough_on_a_large_random_sample():
    rng = np.random.default_rng(7)
    n = 50_000
    lat, lon = rng.uniform(-89.9, 89.9, n), rng.uniform(-180, 180, n)
    metres = rng.uniform(0, 20_000, n)
    lon2, lat2, _ = GEOD.fwd(lon, lat, rng.uniform(0, 360, n), metres)
    error = np.abs(geodesic_distance(to_ecef(lat, lon), to_ecef(lat2, lon2)) - metres)
    assert error.max() < 0.01


@given(lats, lons, st.floats(0, 360), st.floats(0, 20_000), st.floats(0, 360), st.floats(0, 20_000))
def test_tangent_plane_distances_near_the_origin(lat, lon, az1, d1, az2, d2):
    """Distances between two points within 20 km of a frame's origin, as drawn
    in the plane, stay within 0.5 m of the geodesic."""
    frame = LocalFrame(lat, lon)
    lon1, lat1, _ = GEOD.fwd(lon, lat, az1, d1)
    lon2, lat2, _ = GEOD.fwd(lon, lat, az2, d2)
    a = frame.project_lonlat(np.array(lon1), np.array(lat1))
    b = frame.project_lonlat(np.array(lon2), np.array(lat2))
    truth = GEOD.inv(lon1, lat1, lon2, lat2)[2]
    assert abs(float(np.hypot(*(a - b))) - truth) < 0.5


@given(st.floats(-90, 90), st.floats(-180, 180))
def test_a_frame_is_an_orthonormal_east_north_pair_at_its_origin(lat, lon):
    """The frame's vectors, as ``rotation_of`` works them out for many frames at
    once: orthonormal, east level, north towards the pole."""
    frame = LocalFrame(lat, lon)
    assert np.allclose(frame.origin, to_ecef(lat, lon), rtol=0, atol=1e-6)
    many = rotation_of(np.array([lat, 0.0]), np.array([lon, 0.0]))
    assert np.array_equal(many[0], frame.rotation)
    assert np.allclose(frame.rotation @ frame.rotation.T, np.eye(2), atol=1e-12)
    assert abs(float(frame.rotation[0] @ frame.origin)) < 1e-6  # east is level
