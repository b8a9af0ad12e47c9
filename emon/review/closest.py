"""The closest approach between two people over a period, between fixes too.

Both tracks are taken as moving in a straight line (in earth-centred
coordinates) between consecutive fixes, as the engine does. Over each interval
between the union of both tracks' fix times both move linearly, so their
separation is a quadratic in time whose minimum has a closed form: exact, not
sampled, and vectorised over all intervals. Where either track has a gap longer
than ``max_gap_s`` nothing is assumed about the path taken.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from emon.geofence.frame import FloatArray, chord_to_geodesic, to_ecef
from emon.timeutil import Millis

IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Track:
    ts: IntArray
    xyz: FloatArray

    @classmethod
    def from_fixes(cls, ts: list[int], lat: list[float], lon: list[float]) -> Track:
        order = np.argsort(np.asarray(ts, dtype=np.int64), kind="stable")
        times = np.asarray(ts, dtype=np.int64)[order]
        xyz = to_ecef(np.asarray(lat, dtype=float)[order], np.asarray(lon, dtype=float)[order])
        keep = np.concatenate(([True], np.diff(times) > 0))[: len(times)]  # one per instant
        return cls(times[keep], xyz[keep])

    def at(self, t: IntArray) -> FloatArray:
        return np.stack([np.interp(t, self.ts, self.xyz[:, k]) for k in range(3)], axis=1)

    def bridged(self, t0: IntArray, t1: IntArray, max_gap_ms: int) -> NDArray[np.bool_]:
        """Whether [t0, t1] lies between two fixes no more than max_gap apart."""
        i = np.searchsorted(self.ts, t0, side="right") - 1
        j = np.searchsorted(self.ts, t1, side="left")
        inside = (i >= 0) & (j < len(self.ts))
        i, j = np.clip(i, 0, len(self.ts) - 1), np.clip(j, 0, len(self.ts) - 1)
        return inside & (j - i <= 1) & (self.ts[j] - self.ts[i] <= max_gap_ms)


@dataclass(frozen=True)
class Approach:
    distance_m: float
    at: Millis
    #: True when the closest moment falls between fixes of both tracks
    between_fixes: bool


def closest_approach(a: Track, b: Track, max_gap_s: float = 300.0) -> Approach | None:
    if len(a.ts) == 0 or len(b.ts) == 0:
        return None
    start, end = max(a.ts[0], b.ts[0]), min(a.ts[-1], b.ts[-1])
    if start > end:
        return None
    times = np.union1d(a.ts, b.ts)
    times = times[(times >= start) & (times <= end)]
    gap = int(max_gap_s * 1000)
    separation = a.at(times) - b.at(times)
    known = a.bridged(times, times, gap) & b.bridged(times, times, gap)
    if not known.any():
        return None
    squared = np.where(known, np.einsum("ij,ij->i", separation, separation), np.inf)
    best_i = int(np.argmin(squared))
    best = (float(np.sqrt(squared[best_i])), int(times[best_i]), False)
    if len(times) > 1:
        t0, t1 = times[:-1], times[1:]
        usable = a.bridged(t0, t1, gap) & b.bridged(t0, t1, gap)
        d0, d1 = separation[:-1], separation[1:]
        change = d1 - d0
        length2 = np.einsum("ij,ij->i", change, change)
        with np.errstate(invalid="ignore", divide="ignore"):
            s = np.clip(-np.einsum("ij,ij->i", d0, change) / length2, 0.0, 1.0)
        s = np.where(usable & (length2 > 0), s, 0.0)
        closest = d0 + change * s[:, None]
        distance = np.where(usable, np.sqrt(np.einsum("ij,ij->i", closest, closest)), np.inf)
        k = int(np.argmin(distance))
        if distance[k] < best[0]:
            at = int(t0[k] + round(s[k] * (t1[k] - t0[k])))
            best = (float(distance[k]), at, 0.0 < s[k] < 1.0)
    return Approach(float(chord_to_geodesic(np.asarray(best[0]))), best[1], best[2])
