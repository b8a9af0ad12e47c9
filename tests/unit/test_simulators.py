"""The simulators behave as their parameters say."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from simulators.movement import (
    CITY_DRIVE_MPS,
    WALK_MPS,
    GpsError,
    Leg,
    distance,
    offset,
    path_positions,
)


@pytest.mark.parametrize("sigma", [3.0, 8.0])
def test_gps_drift_and_reported_accuracy_match_sigma(sigma):
    gps = GpsError(sigma_m=sigma, tau_s=5.0, seed=1)
    errors, accuracies = [], []
    for k in range(4000):
        lat, lon, acc, _ = gps.observe(k * 30_000, 52.0, 5.0)
        errors.append(distance(52.0, 5.0, lat, lon))
        accuracies.append(acc)
    errors = np.array(errors)
    # a 2-D Gaussian with per-axis sigma: 68 % of errors within ~1.5 sigma
    assert np.quantile(errors, 0.68) == pytest.approx(1.51 * sigma, rel=0.1)
    assert np.median(accuracies) == pytest.approx(1.5 * sigma * 1.05, rel=0.1)


def test_outliers_come_at_their_rate_and_size():
    gps = GpsError(sigma_m=2.0, outlier_rate=0.1, seed=3)
    flagged, jumps = 0, []
    for k in range(5000):
        lat, lon, _, outlier = gps.observe(k * 30_000, 52.0, 5.0)
        if outlier:
            flagged += 1
            jumps.append(distance(52.0, 5.0, lat, lon))
    assert flagged / 5000 == pytest.approx(0.1, abs=0.015)
    assert min(jumps) > 90 and max(jumps) < 315


@pytest.mark.parametrize("speed", [WALK_MPS, CITY_DRIVE_MPS])
def test_movement_keeps_its_speed(speed):
    start = (51.92, 4.48)
    end = offset(*start, 60, 3000)
    samples = list(path_positions(start, [Leg(*end, speed)], 0, 10.0))
    steps = [distance(a[1], a[2], b[1], b[2]) / 10.0 for a, b in itertools.pairwise(samples)]
    assert np.median(steps) == pytest.approx(speed, rel=0.02)
