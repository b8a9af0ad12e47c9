"""What a track of fixes says of itself: whether a fix could follow the one
before it, and whether a segment between fixes was really travelled."""

from __future__ import annotations

from emon.engine.base import Track
from emon.engine.policy import Policy
from emon.geofence.frame import FloatArray, point_distance
from emon.timeutil import Millis

#: a fix as the track keeps it: (time, position in ECEF, accuracy)
Point = tuple[Millis, FloatArray, float]


def plausible(policy: Policy, prev: Point, ts: Millis, xyz: FloatArray, acc: float) -> bool:
    """Within the jump tolerance of the fix before, or at a speed a person can go."""
    prev_ts, prev_xyz, prev_acc = prev
    jump = point_distance(prev_xyz, xyz)
    if jump <= policy.jump_tolerance_m + acc + prev_acc:
        return True
    seconds = max(ts - prev_ts, 1) / 1000
    return jump / seconds <= policy.max_speed_mps


def confirmed_segment(
    policy: Policy, before: Point | None, track: Track
) -> tuple[Point, Point] | None:
    """The segment before -> prev, if this fix shows prev was real: it lies
    near prev, or the motion went on in the same direction (a multipath
    outlier jumps out and straight back)."""
    prev = track.prev
    if before is None or prev is None:
        return None
    if prev[0] - before[0] > policy.segment_max_gap_s * 1000:
        return None
    onward = track.xyz - prev[1]
    near = policy.jump_tolerance_m + track.acc + prev[2]
    moved_on = float(onward @ (prev[1] - before[1])) > 0
    if point_distance(track.xyz, prev[1]) > near and not moved_on:
        return None
    return before, prev
