"""Static zones: exclusion and inclusion with schedules, pre-alert rings, and
crossings between fixes."""

from __future__ import annotations

import itertools

import numpy as np

from emon.alerts.model import AlertType
from emon.engine.base import IDLE, EngineBase, EpisodeKey, Track
from emon.engine.episode import Change, Episode, Phase
from emon.engine.exceptions import covering
from emon.engine.orders_index import CompiledOrder, CompiledZone
from emon.geofence.frame import FloatArray, point_distance
from emon.timeutil import Millis

#: sampling step along a segment between fixes
SEGMENT_STEP_M = 10.0


class ZoneRules(EngineBase):
    def _zone(
        self,
        order: CompiledOrder,
        zone: CompiledZone,
        track: Track,
        episodes: dict[EpisodeKey, Episode],
    ) -> None:
        ts = track.fix.ts
        since, _, active = zone.schedule.state_at(ts)
        zone_id = zone.spec.zone_id
        violation_key = (order.index, AlertType.ZONE_VIOLATION, zone_id)
        prealert_key = (order.index, AlertType.ZONE_PREALERT, zone_id)
        if not active:
            for key in (violation_key, prealert_key):
                self._stop(key, since, episodes)
            return
        home = order.beacon
        if zone.holds_residence and home is not None and self.presence.at_home(home, ts):
            return  # his home unit hears him: GPS indoors says nothing against it
        if zone.exceptions:
            excepted = covering(zone.exceptions, ts, track.fix.lon, track.fix.lat)
            if excepted is not None:  # authorised: recorded (stored), not alerted
                self.stats["excepted"] = self.stats.get("excepted", 0) + 1
                if excepted.where is None:  # suspended: what was open ends as it began
                    for key in (violation_key, prealert_key):
                        self._stop(key, excepted.starts, episodes)
                return
        outside = track.outside.get(zone.table_index)
        if outside is None:
            outside = self._signed_distance(zone, track.xyz)
        depth = -outside if zone.exclusion else outside

        def prev_depth(offset: float) -> float | None:
            if track.prev is None or not self._segment_usable(track):
                return None
            return self._depth(zone, track.prev[1]) + offset

        self._judge(
            order,
            zone_id,
            AlertType.ZONE_VIOLATION,
            violation_key,
            depth,
            lambda: prev_depth(0.0),
            track,
            episodes,
        )
        self._confirmed_by_track(order, zone, track, violation_key, episodes)
        if zone.exclusion and zone.spec.prealert_m:
            ring = zone.spec.prealert_m
            self._judge(
                order,
                zone_id,
                AlertType.ZONE_PREALERT,
                prealert_key,
                depth + ring,
                lambda: prev_depth(ring),
                track,
                episodes,
            )
        self._transit(order, zone, track, violation_key, episodes)

    def _confirmed_by_track(
        self,
        order: CompiledOrder,
        zone: CompiledZone,
        track: Track,
        key: EpisodeKey,
        episodes: dict[EpisodeKey, Episode],
    ) -> None:
        """A car through a zone at 60 s fixes leaves one fix inside, its
        neighbours outside or on the edge: a lone breach, pending for a second
        fix that never comes. A multipath outlier jumps out and straight back;
        a real pass goes on. So the breach of the fix before this one is real
        once this fix confirms that fix (``track.segment``: it went on, or lies
        near it) and it lay deep enough (``transit_min_depth_m`` beyond its margin)."""
        episode = episodes.get(key)
        if episode is None or episode.phase != Phase.PENDING or track.segment is None:
            return
        _, (t_prev, xyz_prev, acc_prev) = track.segment
        if episode.since != t_prev:
            return  # the pending breach is not that fix's
        depth_prev = self._depth(zone, xyz_prev)
        if depth_prev < self.policy.transit_min_depth_m + self.policy.margin(acc_prev):
            return
        if episode.confirm_now() == Change.RAISE:
            self._raise(order, AlertType.ZONE_VIOLATION, zone.spec.zone_id, key,
                        episode.boundary, track, episode, depth_m=round(depth_prev, 1),
                        accuracy_m=round(acc_prev, 1), confirmed_by_track=True)  # fmt: skip

    def _signed_distance(self, zone: CompiledZone, xyz: FloatArray) -> float:
        return float(self.zones.signed_distance(np.array([zone.table_index]), xyz.reshape(1, 3))[0])

    def _depth(self, zone: CompiledZone, xyz: FloatArray) -> float:
        """Metres into the condition: inside an exclusion zone, outside an inclusion one."""
        outside = self._signed_distance(zone, xyz)
        return -outside if zone.exclusion else outside

    def _transit(
        self,
        order: CompiledOrder,
        zone: CompiledZone,
        track: Track,
        key: EpisodeKey,
        episodes: dict[EpisodeKey, Episode],
    ) -> None:
        """A pass through the zone between fixes: A outside, B (inside or not)
        confirmed as real by this fix C, C outside again. Two fixes inside
        would have raised an ordinary violation; this catches the car that
        crosses with one fix, or none, inside."""
        if track.segment is None or episodes.get(key, IDLE).phase != Phase.IDLE:
            return
        (t0, a, acc0), (t1, b, acc1) = track.segment
        need = self.policy.transit_min_depth_m + self.policy.margin(max(acc0, acc1))
        here = track.outside.get(zone.table_index)
        if here is not None:
            # depth is 1-Lipschitz: nothing on A-B lies deeper than C's depth
            # plus the way back to it
            reach = (-here if zone.exclusion else here) + point_distance(b, track.xyz)
            if reach + point_distance(a, b) < need:
                return
        corners = self.zones.signed_distance(
            np.full(3, zone.table_index), np.stack([a, b, track.xyz])
        )
        depth_a, depth_b, depth_c = -corners if zone.exclusion else corners
        length = point_distance(a, b)
        # depth is 1-Lipschitz along the segment: it cannot get deeper than this
        if depth_a > 0 or depth_c > 0 or (depth_a + depth_b + length) / 2 < need:
            return
        times, depths = self._polyline_depths(zone, [(t0, a), (t1, b), (track.fix.ts, track.xyz)])
        on_segment = times <= t1
        if depths[on_segment].max() < need:
            return
        inside = np.flatnonzero(depths > 0)
        episode = episodes.setdefault(key, Episode())
        episode.episodes += 1
        alert = self._raise(
            order,
            AlertType.ZONE_VIOLATION,
            zone.spec.zone_id,
            key,
            int(times[inside[0]]),
            track,
            episode,
            transit=True,
            depth_m=round(float(depths.max()), 1),
        )
        self._close(alert, int(times[inside[-1]]))

    def _polyline_depths(
        self, zone: CompiledZone, vertices: list[tuple[Millis, FloatArray]]
    ) -> tuple[np.ndarray, FloatArray]:
        """Depth into the zone every ~10 m along a timed polyline."""
        times, points = [], []
        for (t0, p0), (t1, p1) in itertools.pairwise(vertices):
            length = point_distance(p0, p1)
            u = np.linspace(0.0, 1.0, max(2, min(500, int(length / SEGMENT_STEP_M) + 1)))
            times.append(t0 + (t1 - t0) * u)
            points.append(p0 * (1 - u[:, None]) + p1 * u[:, None])
        xyz = np.concatenate(points)
        outside = self.zones.signed_distance(np.full(len(xyz), zone.table_index), xyz)
        return np.concatenate(times), (-outside if zone.exclusion else outside)
