"""Contact bans: a zone that moves with each victim, judged whenever either
device reports, and closest approaches between fixes."""

from __future__ import annotations

import functools
import math

import numpy as np

from emon.alerts.model import AlertType
from emon.engine.base import IDLE, EngineBase, EpisodeKey, Track, same
from emon.engine.episode import Episode, Phase
from emon.engine.orders_index import CompiledOrder
from emon.geofence.frame import FloatArray, point_distance
from emon.timeutil import Millis


class ContactRules(EngineBase):
    def _contact(
        self,
        order: CompiledOrder,
        track: Track,
        other: int,
        victim: int,
        episodes: dict[EpisodeKey, Episode],
    ) -> None:
        """The moving zone: offender-victim distance at this fix's instant,
        with the other device's position interpolated (or briefly carried on)."""
        ban = order.order.contact_ban
        if ban is None or other == track.dev:
            return
        there = self._other_at(other, track.fix.ts)
        if there is None or there[1] > ban.distance_m:
            return  # unknown, not near: too old for how fast it was going
        distance = point_distance(track.xyz, there[0])
        prev_distance = None
        if track.prev is not None and self._segment_usable(track):
            before = self._other_at(other, track.prev[0])
            if before is not None:
                prev_distance = point_distance(track.prev[1], before[0])
        victim_id = self.devices.ids[victim]
        margin = track.acc + there[1]
        limits = [
            (AlertType.CONTACT_VIOLATION, ban.distance_m),
            (AlertType.CONTACT_PREALERT, ban.prealert_m),
        ]
        for alert_type, limit in limits:
            if not limit:
                continue
            key = (order.index, alert_type, victim_id)
            prev_depth = None if prev_distance is None else limit - prev_distance
            self._judge(
                order,
                victim_id,
                alert_type,
                key,
                limit - distance,
                functools.partial(same, prev_depth),
                track,
                episodes,
                margin=margin,
                victim_device_id=victim_id,
            )
        self._contact_transit(order, track, other, victim_id, ban.distance_m, episodes)

    def _other_at(self, other: int, ts: Millis) -> tuple[FloatArray, float] | None:
        """Where the other party was at ts: from memory, or, for a late fix
        older than memory reaches, from its stored track (``past_tracks``)."""
        policy = self.policy
        stale, ahead = int(policy.contact_stale_s * 1000), int(policy.contact_extrapolate_s * 1000)
        age = self.clock - ts
        if (
            self.past is None
            or age <= policy.late_after_s * 1000
            or age > policy.late_track_horizon_s * 1000
            or self.devices.remembers(other, ts)
        ):
            return self.devices.position_at(other, ts, stale, ahead)
        track = self.past.track(self.devices, other, ts, self.clock, self.accepted or ())
        return track.position_at(ts, stale, ahead)

    def _contact_transit(
        self,
        order: CompiledOrder,
        track: Track,
        other: int,
        victim_id: str,
        limit: float,
        episodes: dict[EpisodeKey, Episode],
    ) -> None:
        """Paths that crossed between fixes: the closest approach on the
        confirmed segment, with both devices moving linearly."""
        key = (order.index, AlertType.CONTACT_VIOLATION, victim_id)
        if track.segment is None or episodes.get(key, IDLE).phase != Phase.IDLE:
            return
        (t0, start, acc0), (t1, end, acc1) = track.segment
        other0, other1 = self._other_at(other, t0), self._other_at(other, t1)
        if other0 is None or other1 is None:
            return
        gap0, gap1 = start - other0[0], end - other1[0]
        if min(math.hypot(*gap0), math.hypot(*gap1)) < limit:
            return  # an endpoint itself was close: the fixes speak for themselves
        closest = _closest_approach(gap0, gap1)
        margin = self.policy.margin(max(acc0, acc1) + max(other0[1], other1[1]))
        if limit - closest < self.policy.transit_min_depth_m + margin:
            return
        episode = episodes.setdefault(key, Episode())
        episode.episodes += 1
        alert = self._raise(
            order,
            AlertType.CONTACT_VIOLATION,
            None,
            key,
            t0,
            track,
            episode,
            transit=True,
            closest_m=round(closest, 1),
            victim_device_id=victim_id,
        )
        self._close(alert, t1)


def _closest_approach(start: FloatArray, end: FloatArray) -> float:
    """Least separation while the offset moves linearly from start to end."""
    delta = end - start
    span = float(delta @ delta)
    u = 0.0 if span == 0 else min(max(-float(start @ delta) / span, 0.0), 1.0)
    return float(np.linalg.norm(start + delta * u))
