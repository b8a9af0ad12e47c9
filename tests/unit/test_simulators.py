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
    bus_legs,
    daily_routine,
    distance,
    offset,
    path_positions,
)
from simulators.network import Network


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


def test_indoors_is_worse_and_sometimes_silent():
    gps = GpsError(sigma_m=3.0, seed=5)
    open_acc = np.median([gps.observe(k * 30_000, 52.0, 5.0)[2] for k in range(500)])
    indoor_acc = np.median([gps.observe(k * 30_000, 52.0, 5.0, "indoor")[2] for k in range(500)])
    assert indoor_acc == pytest.approx(4 * open_acc, rel=0.15)
    silent = sum(not gps.has_fix("indoor") for _ in range(2000)) / 2000
    assert silent == pytest.approx(0.30, abs=0.04)
    assert all(gps.has_fix("open") for _ in range(200))


def test_daily_routine_reaches_work_and_comes_home():
    home, work, shop = (52.09, 5.12), (52.10, 5.15), (52.095, 5.14)
    legs, environments = daily_routine(home, work, shop)
    samples = list(path_positions(home, legs, 0, 60.0))
    at_noon = samples[5 * 60]  # 12:00 is five hours after 07:00
    assert distance(at_noon[1], at_noon[2], *work) < 5
    assert distance(samples[-1][1], samples[-1][2], *home) < 60 * 4.5  # the last minute's ride
    assert [e for _, e in environments][:3] == ["indoor", "urban", "indoor"]


def test_bus_stops_at_each_stop():
    stops = [offset(52.0, 5.0, 90, 400 * k) for k in range(1, 4)]
    samples = list(path_positions((52.0, 5.0), bus_legs(stops, dwell_s=20), 0, 1.0))
    still = sum(
        1 for a, b in itertools.pairwise(samples) if distance(a[1], a[2], b[1], b[2]) < 0.01
    )
    assert still >= 3 * 19


def test_network_delays_and_outages_buffer_fixes():
    taken = list(range(0, 6 * 3_600_000, 30_000))
    delivered = Network(delay_ms=300, outage_rate_per_h=2, outage_mean_s=300, seed=2).deliver(taken)
    live = [recv - t for t, (recv, batched) in zip(taken, delivered, strict=True) if not batched]
    assert np.median(live) == pytest.approx(300, rel=0.2)
    batched = [(t, recv) for t, (recv, b) in zip(taken, delivered, strict=True) if b]
    assert batched and all(recv > t for t, recv in batched)
