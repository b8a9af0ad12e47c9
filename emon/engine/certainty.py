"""Reporting but useless: a device whose fixes are too inaccurate to tell
whether it is inside a zone it may not enter, or within a contact ban's
distance, is as blind as a silent one. The policy rightly refuses to call
such fixes a violation; this says that the offender cannot be located.

A run of undecided fixes (``Track.undecided``, set where a condition is
judged) that lasts the order's ``max_uncertain_s`` raises
``location_unreliable``; the first fix good enough to decide ends it and the run.
"""

from __future__ import annotations

from emon.alerts.model import Alert, AlertType
from emon.engine.base import EngineBase, Track
from emon.engine.episode import Episode


class Certainty(EngineBase):
    def _judge_certainty(self, track: Track) -> None:
        dev, ts = track.dev, track.fix.ts
        device_id = self.devices.ids[dev]
        if not track.undecided:
            if self._uncertain.pop(dev, None) is not None:
                for role in self.index.roles[dev]:
                    self._end((role.order.index, AlertType.LOCATION_UNRELIABLE, device_id), ts)
            return
        since = self._uncertain.setdefault(dev, ts)
        for role in self.index.roles[dev]:
            order = role.order
            if (
                role.beacon
                or not order.active_at(ts)
                or ts - since < order.order.uncertain_limit_ms
            ):
                continue
            key = (order.index, AlertType.LOCATION_UNRELIABLE, device_id)
            episode = self.episodes.setdefault(key, Episode())
            if episode.open:
                continue
            episode.phase = episode.phase.ACTIVE
            episode.episodes += 1
            episode.alert = Alert.raised(
                order.order, AlertType.LOCATION_UNRELIABLE, device_id, episode.episodes,
                device_id, since, self.clock, late=track.late,
                details={"accuracy_m": round(track.acc, 1),
                         "uncertain_s": round((ts - since) / 1000, 1)},
            )  # fmt: skip
            self._emit(episode.alert)
