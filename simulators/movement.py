"""Ground-truth movement along waypoints and a GPS error model on top of it."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from pyproj import Geod

from emon.timeutil import Millis

GEOD = Geod(ellps="WGS84")

WALK_MPS = 1.4
CYCLE_MPS = 4.5
BUS_MPS = 9.0  # between stops
CITY_DRIVE_MPS = 13.9
HIGHWAY_MPS = 27.8

#: GPS conditions: (drift multiplier, outlier rate, chance of no fix at all)
ENVIRONMENTS = {
    "open": (1.0, 0.0, 0.0),
    "urban": (2.0, 0.05, 0.02),  # street canyons: multipath
    "indoor": (4.0, 0.10, 0.30),
}


def offset(lat: float, lon: float, bearing_deg: float, metres: float) -> tuple[float, float]:
    """The point ``metres`` from (lat, lon) along a geodesic with that bearing."""
    lon2, lat2, _ = GEOD.fwd(lon, lat, bearing_deg, metres)
    return float(lat2), float(lon2)


def distance(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])


@dataclass(frozen=True)
class Leg:
    """Travel to (lat, lon) at speed m/s, then wait ``pause_s`` there."""

    lat: float
    lon: float
    speed: float
    pause_s: float = 0.0


def path_positions(
    start: tuple[float, float], legs: Sequence[Leg], t0: Millis, interval_s: float
) -> Iterator[tuple[Millis, float, float]]:
    """True positions sampled every ``interval_s`` along geodesic legs."""
    timeline: list[tuple[float, float, float]] = [(0.0, *start)]
    lat, lon = start
    t = 0.0
    for leg in legs:
        az, _, length = GEOD.inv(lon, lat, leg.lon, leg.lat)
        duration = length / leg.speed if leg.speed > 0 else 0.0
        steps = max(1, math.ceil(duration))
        for k in range(1, steps + 1):
            frac = k / steps
            plat, plon = offset(lat, lon, az, length * frac)
            timeline.append((t + duration * frac, plat, plon))
        t += duration
        lat, lon = leg.lat, leg.lon
        if leg.pause_s:
            t += leg.pause_s
            timeline.append((t, lat, lon))
    times = np.array([p[0] for p in timeline])
    lats = np.array([p[1] for p in timeline])
    lons = np.array([p[2] for p in timeline])
    sample = 0.0
    while sample <= times[-1] + 1e-9:
        yield (
            t0 + round(sample * 1000),
            float(np.interp(sample, times, lats)),
            float(np.interp(sample, times, lons)),
        )
        sample += interval_s


@dataclass
class GpsError:
    """Correlated drift plus occasional multipath outliers of 100-300 m.

    ``sigma_m`` is the per-axis standard deviation of the drift (a first-order
    Gauss-Markov process with time constant ``tau_s``); the reported accuracy is
    the 68 % radius that such an error implies, as receivers report it.
    """

    sigma_m: float = 5.0
    tau_s: float = 60.0
    outlier_rate: float = 0.0
    outlier_min_m: float = 100.0
    outlier_max_m: float = 300.0
    seed: int = 0

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        self._drift = np.zeros(2)
        self._last: float | None = None

    def observe(
        self, t: Millis, lat: float, lon: float, environment: str = "open"
    ) -> tuple[float, float, float, bool]:
        """(lat, lon, reported accuracy, is_outlier) for a true position."""
        scale, extra_outliers, _ = ENVIRONMENTS[environment]
        seconds = t / 1000
        elapsed = 0.0 if self._last is None else abs(seconds - self._last)
        keep = 0.0 if self._last is None else math.exp(-elapsed / self.tau_s)
        self._last = seconds
        sigma = self.sigma_m * scale
        shock = self._rng.normal(0, sigma * math.sqrt(1 - keep * keep), 2)
        self._drift = self._drift * keep + shock
        east, north = self._drift
        outlier = bool(self._rng.random() < self.outlier_rate + extra_outliers)
        if outlier:
            jump = self._rng.uniform(self.outlier_min_m, self.outlier_max_m)
            angle = self._rng.uniform(0, 2 * math.pi)
            east += jump * math.cos(angle)
            north += jump * math.sin(angle)
        bearing = math.degrees(math.atan2(east, north))
        plat, plon = offset(lat, lon, bearing, math.hypot(east, north))
        accuracy = 1.5 * sigma * float(self._rng.uniform(0.8, 1.3))
        return plat, plon, accuracy, outlier

    def has_fix(self, environment: str = "open") -> bool:
        """Signal loss: indoors a receiver often gets no fix at all."""
        return bool(self._rng.random() >= ENVIRONMENTS[environment][2])


def bus_legs(stops: list[tuple[float, float]], dwell_s: float = 20.0) -> list[Leg]:
    """Public transport: from stop to stop at bus speed, waiting at each."""
    return [Leg(lat, lon, BUS_MPS, dwell_s) for lat, lon in stops]


def daily_routine(
    home: tuple[float, float], work: tuple[float, float], shop: tuple[float, float]
) -> tuple[list[Leg], list[tuple[float, str]]]:
    """A working day from 07:00: home, cycle to work, work until 17:00, walk to
    the shop, cycle home. Returns the legs (from home at 07:00) and when the
    environment changes (seconds from 07:00, environment) for the GPS model."""
    legs = [
        Leg(*home, 0.0, 3600),  # home until 08:00
        Leg(*work, CYCLE_MPS, 0.0),
    ]
    commute = distance(*home, *work) / CYCLE_MPS
    legs[-1] = Leg(*work, CYCLE_MPS, 9 * 3600 - commute)  # at work until 17:00
    legs += [Leg(*shop, WALK_MPS, 1800), Leg(*home, CYCLE_MPS, 0.0)]
    to_shop = distance(*work, *shop) / WALK_MPS
    environments = [
        (0.0, "indoor"),
        (3600.0, "urban"),
        (3600.0 + commute, "indoor"),
        (10 * 3600.0, "urban"),
        (10 * 3600.0 + to_shop, "indoor"),
        (10 * 3600.0 + to_shop + 1800, "urban"),
    ]
    return legs, environments
