"""The other party's track for fixes older than what the engine keeps in memory.

A contact ban is judged at each fix against where the other party was at that
instant. Live, the eight fixes a device table keeps are enough; a
store-and-forward batch after a 20-minute outage reaches back further, and
judged against memory alone its first minutes say nothing ("unknown") and the
alert starts late. Those fixes are read from a ``TrackSource`` (storage live,
the replay's own record in replay) merged with memory and with the fixes taken
in this call, and only fixes received by the engine's clock count: so a
recovery or a replay sees what live serving saw then.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from emon.engine.devices import NONE_TS, DeviceTable, position_on
from emon.engine.outcome import AcceptedFix
from emon.engine.policy import Policy
from emon.engine.tracks import Point, plausible
from emon.geofence.frame import FloatArray, to_ecef
from emon.timeutil import Millis

#: a stored fix: (device_id, seq, ts, recv, lat, lon, acc, batt), as the fixes table holds it
StoredFix = Sequence[Any]


class TrackSource(Protocol):
    """Fixes taken earlier (a store satisfies this)."""

    def fixes_between(
        self, device_ids: Sequence[str], start: int, end: int
    ) -> Sequence[StoredFix]: ...


@dataclass(frozen=True, slots=True)
class PastTrack:
    """A device's plausible fixes from ``since`` to the clock of the call that read them."""

    since: Millis
    times: NDArray[np.int64]
    xyz: FloatArray
    acc: NDArray[np.float64]

    def position_at(
        self, ts: Millis, stale_ms: Millis, extrapolate_ms: Millis
    ) -> tuple[FloatArray, float] | None:
        return position_on(self.times, self.xyz, self.acc, ts, stale_ms, extrapolate_ms)


class PastTracks:
    """The other parties' past tracks read in one engine call (dropped after it:
    the next call has fixes this one did not)."""

    def __init__(self, source: TrackSource, policy: Policy) -> None:
        self.source = source
        self.policy = policy
        self._read: dict[int, PastTrack] = {}

    def track(
        self,
        devices: DeviceTable,
        dev: int,
        ts: Millis,
        clock: Millis,
        this_call: Sequence[AcceptedFix],
    ) -> PastTrack:
        """The track of device ``dev`` reaching back far enough to place it at ts."""
        kept = self._read.get(dev)
        if kept is not None and kept.since <= ts - self._reach_ms:
            return kept
        since = ts - 2 * self._reach_ms
        device_id = devices.ids[dev]
        rows = [r for r in self.source.fixes_between([device_id], since, clock) if r[3] <= clock]
        rows.extend(f for f in this_call if f[0] == device_id and since <= f[2])
        track = _merged(self.policy, since, rows, devices.remembered(dev))
        self._read[dev] = track
        return track

    def forget(self) -> None:
        self._read.clear()

    @property
    def _reach_ms(self) -> Millis:
        """How far before ts a fix still says where the device was then."""
        return int(self.policy.contact_stale_s * 1000)


def _merged(
    policy: Policy, since: Millis, rows: Iterable[StoredFix], memory: list[Point]
) -> PastTrack:
    """Stored fixes and memory as one time-ordered track, with implausible
    jumps set aside as the live track sets them aside (``plausible``)."""
    points: dict[Millis, Point] = {}
    listed = list(rows)
    if listed:
        lat = np.array([float(r[4]) for r in listed])
        lon = np.array([float(r[5]) for r in listed])
        xyz = to_ecef(lat, lon)
        for k, row in enumerate(listed):
            acc = policy.default_accuracy_m if row[6] is None else float(row[6])
            points[int(row[2])] = (int(row[2]), xyz[k], acc)
    for point in memory:
        if point[0] >= since:
            points[point[0]] = point  # memory holds the plausible fix the live track used
    track = _plausible_run(policy, [points[t] for t in sorted(points)])
    return PastTrack(
        since,
        np.array([p[0] for p in track] or [NONE_TS], dtype=np.int64),
        np.array([p[1] for p in track]) if track else np.zeros((1, 3)),
        np.array([p[2] for p in track] or [0.0], dtype=np.float64),
    )


def _plausible_run(policy: Policy, points: list[Point]) -> list[Point]:
    """The live rule: a fix implausible after the last one is a suspect, kept
    only if the next fix agrees with it."""
    kept: list[Point] = []
    suspect: Point | None = None
    for point in points:
        ts, xyz, acc = point
        if not kept or plausible(policy, kept[-1], ts, xyz, acc):
            kept.append(point)
            suspect = None
        elif suspect is not None and plausible(policy, suspect, ts, xyz, acc):
            kept.extend((suspect, point))
            suspect = None
        else:
            suspect = point
    return kept


class RecordedTracks:
    """A ``TrackSource`` of the fixes a replay took, as storage holds them live
    (``record`` each outcome's fixes); fixes older than the horizon are let go.
    Kept in flat arrays (about 48 bytes a fix, not 200 as tuples): a replay of
    a whole fleet's day holds a day of its fixes."""

    def __init__(self, horizon_ms: Millis) -> None:
        self.horizon_ms = horizon_ms
        self._kept: dict[str, _Kept] = {}

    def record(self, fixes: Iterable[AcceptedFix], clock: Millis) -> None:
        touched = set()
        for device_id, seq, ts, recv, lat, lon, acc, _ in fixes:
            kept = self._kept.get(device_id)
            if kept is None:
                kept = self._kept[device_id] = _Kept()
            kept.add(seq, ts, recv, lat, lon, acc)
            touched.add(device_id)
        for device_id in touched:  # a device that sent nothing has nothing new to let go
            self._kept[device_id].forget_before(clock - self.horizon_ms)

    def fixes_between(self, device_ids: Sequence[str], start: int, end: int) -> list[StoredFix]:
        found = [f for d in device_ids if d in self._kept
                 for f in self._kept[d].rows(d) if start <= f[2] <= end]  # fmt: skip
        return sorted(found, key=lambda f: f[2])


class _Kept:
    """One device's fixes, in the order received (so by reception time)."""

    __slots__ = ("acc", "lat", "lon", "recv", "seq", "ts")

    def __init__(self) -> None:
        self.seq, self.ts, self.recv = array("q"), array("q"), array("q")
        self.lat, self.lon, self.acc = array("d"), array("d"), array("d")

    def add(self, seq: int, ts: int, recv: int, lat: float, lon: float, acc: float | None) -> None:
        self.seq.append(seq)
        self.ts.append(ts)
        self.recv.append(recv)
        self.lat.append(lat)
        self.lon.append(lon)
        self.acc.append(math.nan if acc is None else acc)  # NaN: none given

    def forget_before(self, recv: Millis) -> None:
        gone = bisect.bisect_left(self.recv, recv)
        if gone:
            for column in (self.seq, self.ts, self.recv, self.lat, self.lon, self.acc):
                del column[:gone]

    def rows(self, device_id: str) -> Iterable[StoredFix]:
        for k in range(len(self.ts)):
            acc = self.acc[k]
            yield (device_id, self.seq[k], self.ts[k], self.recv[k], self.lat[k], self.lon[k],
                   None if acc != acc else acc, None)  # fmt: skip
