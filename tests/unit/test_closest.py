"""Closest approach between fixes matches a brute-force search on fine time steps."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from emon.geofence.frame import chord_to_geodesic
from emon.review.closest import Track, closest_approach
from simulators.movement import offset

LAT, LON = 51.92, 4.48


def brute_force(a: Track, b: Track, step_ms: int = 10) -> float:
    start, end = max(a.ts[0], b.ts[0]), min(a.ts[-1], b.ts[-1])
    t = np.arange(start, end + 1, step_ms, dtype=np.int64)
    d = np.linalg.norm(a.at(t) - b.at(t), axis=1)
    return float(chord_to_geodesic(d.min()))


def walk(seed: int, n: int, spread_m: float, step_s: int, phase_ms: int) -> Track:
    rng = np.random.default_rng(seed)
    ts = [phase_ms + k * step_s * 1000 + int(rng.integers(0, 5000)) for k in range(n)]
    points = [offset(LAT, LON, float(rng.uniform(0, 360)), float(rng.uniform(0, spread_m)))
              for _ in range(n)]  # fmt: skip
    return Track.from_fixes(ts, [p[0] for p in points], [p[1] for p in points])


@given(st.integers(0, 10_000), st.integers(0, 10_000), st.integers(0, 29_000))
def test_matches_brute_force_on_fine_steps(seed_a, seed_b, phase):
    a = walk(seed_a, 12, 800, 30, 0)
    b = walk(seed_b, 9, 800, 40, phase)
    found = closest_approach(a, b, max_gap_s=1e9)
    assert found is not None
    brute = brute_force(a, b)
    # the exact minimum is never above the sampled one, and close to it (fine steps)
    assert found.distance_m <= brute + 1e-6
    assert brute - found.distance_m < 1.0


def test_crossing_paths_meet_between_fixes():
    # two people walk through the same point 30 s apart in fix time, but never at a fix
    north = [offset(LAT, LON, 0, d) for d in (600, 200, -200, -600)]
    east = [offset(LAT, LON, 90, d) for d in (600, 200, -200, -600)]
    a = Track.from_fixes([0, 60_000, 120_000, 180_000], *zip(*north, strict=True))
    b = Track.from_fixes([15_000, 75_000, 135_000, 195_000], *zip(*east, strict=True))
    found = closest_approach(a, b)
    assert found is not None and found.between_fixes
    at_fixes = min(
        float(np.linalg.norm(a.at(np.array([t])) - b.at(np.array([t])))) for t in a.ts[1:]
    )
    assert found.distance_m < at_fixes - 50
    assert abs(found.distance_m - brute_force(a, b, 10)) < 0.5


def test_nothing_is_assumed_across_a_long_gap():
    a = Track.from_fixes([0, 3_600_000], [LAT, LAT], [LON - 0.02, LON + 0.02])
    b = Track.from_fixes([0, 3_600_000], [LAT + 0.001, LAT + 0.001], [LON + 0.02, LON - 0.02])
    gapped = closest_approach(a, b, max_gap_s=300)
    bridged = closest_approach(a, b, max_gap_s=7200)
    assert gapped is not None and bridged is not None
    assert bridged.distance_m < 120 < gapped.distance_m


def test_no_fixes_no_answer():
    empty = Track.from_fixes([], [], [])
    other = Track.from_fixes([0, 1000], [LAT, LAT], [LON, LON])
    assert closest_approach(empty, other) is None and closest_approach(other, empty) is None
