"""Fixes older than the live track (a store-and-forward batch, a redelivery):
judged on a track of their own, so they raise ``late`` alerts for what they
reveal and never disturb the live state; what runs on into a condition still
open (or being confirmed) live is that condition, begun earlier."""

from __future__ import annotations

from emon.alerts.model import Alert
from emon.engine.base import EngineBase, EpisodeKey, Track
from emon.engine.episode import Episode, Phase
from emon.engine.tracks import confirmed_segment, plausible
from emon.geofence.frame import FloatArray
from emon.ingest.messages import Fix


class LateFixes(EngineBase):
    def _historic_fixes(self, dev: int, fixes: list[tuple[Fix, FloatArray]]) -> None:
        """Fixes older than the live track: judged on a track of their own, so
        they raise ``late`` alerts for what they reveal and never disturb the
        live state. What runs on into a condition still open live is that
        condition, begun earlier: its alert is extended, no second one raised."""
        episodes: dict[EpisodeKey, Episode] = {}
        first_out = len(self._out)
        prev = self.devices.before(dev, fixes[0][0].ts)
        before = None if prev is None else self.devices.before(dev, prev[0])
        for fix, xyz in fixes:
            acc = self.policy.default_accuracy_m if fix.acc is None else fix.acc
            if prev is not None and not plausible(self.policy, prev, fix.ts, xyz, acc):
                continue
            track = Track(fix, dev, xyz, acc, prev, True)
            track.segment = confirmed_segment(self.policy, before, track)
            self._evaluate(track, episodes)
            self.devices.remember(dev, fix.ts, xyz, acc)
            before, prev = prev, (fix.ts, xyz, acc)
        last = fixes[-1][0].ts
        after = self.devices.position_after(dev, last)
        for key, episode in episodes.items():
            if episode.open and episode.alert is not None:
                live = self.episodes.get(key)
                if live is not None and live.alert is not None and live.open:
                    self._extend(live.alert, episode.alert, first_out)
                    continue
                if live is not None and live.phase == Phase.PENDING:
                    # live fixes were confirming what the late track shows
                    # already: one condition, so its alert goes on live
                    live.phase, live.alert = Phase.ACTIVE, episode.alert
                    live.episodes += 1
                    continue
                episode.phase = episode.phase.IDLE
                self._close(episode.alert, after)

    def _extend(self, live: Alert, late: Alert, first_out: int) -> None:
        """A late track's alert that runs on into the live one: the live
        alert began at the late one's start (and says which fix showed it);
        the late alert is taken back, never sent."""
        self._out[first_out:] = [c for c in self._out[first_out:] if c.alert_id != late.alert_id]
        if late.started_at < live.started_at:
            live.started_at = late.started_at
            for name in ("confirming_seq", "confirming_ts"):
                if name in late.details:
                    live.details[f"late_{name}"] = late.details[name]
            self._emit(live)
