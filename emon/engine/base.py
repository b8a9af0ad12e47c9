"""What every part of the engine shares: its state, and alert bookkeeping.

The engine is one class assembled from small parts (``zone_rules``,
``contact_rules``, ``device_events``, ``timers`` and ``core``); this base
declares the state they share and the steps every rule ends in: judging
evidence, raising, ending and emitting alerts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emon.alerts.model import Alert, AlertChange, AlertType
from emon.engine.beacons import Presence
from emon.engine.devices import DeviceTable
from emon.engine.episode import Change, Episode, Evidence, Phase
from emon.engine.event_memory import EventMemory
from emon.engine.fastpath import FastPath
from emon.engine.orders_index import CompiledOrder, OrderIndex
from emon.engine.outcome import AcceptedFix, Outcome
from emon.engine.policy import Policy
from emon.engine.silence import SilenceWatch
from emon.geofence.frame import FloatArray
from emon.geofence.zones import ZoneTable
from emon.ingest.messages import Decoder, Fix
from emon.ingest.rejections import RejectionLog
from emon.timeutil import Millis

if TYPE_CHECKING:  # past_tracks builds on tracks, which builds on this module
    from emon.engine.past_tracks import PastTracks

EpisodeKey = tuple[int, str, str]  # (order index, alert type, subject)
#: the conditions a fix too inaccurate to judge leaves undecided
UNDECIDABLE = frozenset({AlertType.ZONE_VIOLATION, AlertType.CONTACT_VIOLATION})
#: Episodes that a fix can move on; while one is under way its group takes the
#: sequential path.
FIX_DRIVEN = frozenset(
    {
        AlertType.ZONE_VIOLATION,
        AlertType.ZONE_PREALERT,
        AlertType.CONTACT_VIOLATION,
        AlertType.CONTACT_PREALERT,
        AlertType.BATTERY_LOW,
        AlertType.SHIELDING,
    }
)


class EpisodeStore(dict[EpisodeKey, Episode]):
    """Episodes by key, with the keys of each order at hand."""

    def __init__(self) -> None:
        super().__init__()
        self.by_order: dict[int, set[EpisodeKey]] = {}

    def __setitem__(self, key: EpisodeKey, value: Episode) -> None:
        self.by_order.setdefault(key[0], set()).add(key)
        super().__setitem__(key, value)

    def setdefault(self, key: EpisodeKey, default: Episode) -> Episode:
        if key not in self:
            self[key] = default
        return self[key]

    def take_order(self, order: int) -> list[tuple[EpisodeKey, Episode]]:
        """Every episode of an order, taken out of the store (keys in order)."""
        return [(key, dict.pop(self, key)) for key in sorted(self.by_order.pop(order, ()))]

    def busy(self, order: int) -> bool:
        return any(
            key[1] in FIX_DRIVEN and self[key].phase != Phase.IDLE
            for key in self.by_order.get(order, ())
        )


@dataclass(slots=True)
class Message:
    recv: Millis
    topic: str
    payload: bytes


@dataclass(slots=True)
class Track:
    """What one fix says, with where the device was just before it."""

    fix: Fix
    dev: int
    xyz: FloatArray
    acc: float
    prev: tuple[Millis, FloatArray, float] | None
    late: bool
    #: signed distance to each zone (by table index), measured for the batch
    outside: dict[int, float] = field(default_factory=dict)
    #: The segment before ``prev``, once this fix has confirmed ``prev`` as no
    #: lone outlier: only such a segment may reveal a crossing between fixes.
    segment: tuple[tuple[Millis, FloatArray, float], tuple[Millis, FloatArray, float]] | None = None
    #: too inaccurate to judge a condition it is near (emon/engine/certainty.py)
    undecided: bool = False


class EngineBase:
    policy: Policy
    index: OrderIndex
    zones: ZoneTable
    devices: DeviceTable
    rejections: RejectionLog
    decoder: Decoder
    clock: Millis
    episodes: EpisodeStore
    stats: dict[str, int]
    fast: FastPath
    use_fast_path: bool
    accepted: list[AcceptedFix] | None
    _out: list[AlertChange]
    #: when each device must next be heard from, and which are lost
    silence: SilenceWatch
    #: what device events leave behind (sequence numbers seen, power off)
    events: EventMemory
    #: what each home unit last said (emon/engine/beacons.py)
    presence: Presence
    _suspects: dict[int, tuple[Fix, FloatArray, float, dict[int, float]]]
    #: device -> since when its fixes could not be judged (emon/engine/certainty.py)
    _uncertain: dict[int, Millis]
    #: (valid_until, order index), a heap: when each order stops being enforced
    _expiries: list[tuple[Millis, int]]
    _busy_groups: set[int]
    _group_orders: dict[int, list[int]]
    #: the other parties' stored tracks, for fixes older than memory (None: memory only)
    past: PastTracks | None

    def _heard_from(self, dev: int) -> None:
        raise NotImplementedError

    def _outcome(self) -> Outcome:
        """What the call that ends here did (the engine's)."""
        raise NotImplementedError

    def _evaluate(self, track: Track, episodes: dict[EpisodeKey, Episode]) -> None:
        """Every rule of every order the track's device is in (the engine's)."""
        raise NotImplementedError

    def _segment_usable(self, track: Track) -> bool:
        assert track.prev is not None
        return track.fix.ts - track.prev[0] <= self.policy.segment_max_gap_s * 1000

    def _judge(
        self,
        order: CompiledOrder,
        subject: str,
        alert_type: AlertType,
        key: EpisodeKey,
        depth: float,
        prev_depth: Callable[[], float | None],
        track: Track,
        episodes: dict[EpisodeKey, Episode],
        margin: float | None = None,
        **extra: Any,
    ) -> None:
        """Turn a depth into the condition (metres into it, negative outside)
        into evidence, step the episode, and raise or end its alert."""
        policy = self.policy
        acc = track.acc if margin is None else margin
        if acc > policy.unusable_accuracy_m:
            own = track.acc > policy.unusable_accuracy_m  # its own fixes, not the other's age
            if own and alert_type in UNDECIDABLE and depth > -(acc + policy.uncertain_near_m):
                track.undecided = True  # the truth could be a violation
            return
        pad = policy.margin(acc)
        if depth > pad:
            evidence = Evidence.BREACH
        elif depth < -(pad + policy.exit_hysteresis_m):
            evidence = Evidence.CLEAR
        else:
            return
        episode = episodes.get(key)
        if episode is None:
            if evidence != Evidence.BREACH:
                return
            episode = episodes[key] = Episode()
        crossing = (episode.phase == Phase.IDLE) == (evidence == Evidence.BREACH)
        boundary = _crossing_time(track, prev_depth(), depth) if crossing else track.fix.ts
        change = episode.step(evidence, track.fix.ts, boundary, policy, track.dev)
        if change == Change.RAISE:
            zone_id = subject if alert_type.startswith("zone") else None
            self._raise(
                order,
                alert_type,
                zone_id,
                key,
                episode.boundary,
                track,
                episode,
                depth_m=round(depth, 1),
                accuracy_m=round(acc, 1),
                **extra,
            )
        elif change == Change.END and episode.alert is not None:
            self._close(episode.alert, episode.boundary)

    # -- alert bookkeeping --------------------------------------------------------
    def _raise(
        self,
        order: CompiledOrder,
        alert_type: AlertType,
        zone_id: str | None,
        key: EpisodeKey,
        started_at: Millis,
        track: Track,
        episode: Episode,
        **details: Any,
    ) -> Alert:
        offender = order.offender
        device_id = self.devices.ids[offender if offender is not None else track.dev]
        alert = Alert.raised(
            order.order, alert_type, key[2], episode.episodes, device_id, started_at, self.clock,
            zone_id, track.late,
            {"confirming_seq": track.fix.seq, "confirming_ts": track.fix.ts, **details},
        )  # fmt: skip
        episode.alert = alert
        self._emit(alert)
        return alert

    def _stop(self, key: EpisodeKey, when: Millis, episodes: dict[EpisodeKey, Episode]) -> None:
        episode = episodes.get(key)
        if episode is None:
            return
        if episode.stop() == Change.END and episode.alert is not None:
            self._close(episode.alert, when)

    def _end(self, key: EpisodeKey, when: Millis) -> None:
        episode = self.episodes.get(key)
        if episode is not None and episode.alert is not None and episode.alert.ended_at is None:
            episode.phase = episode.phase.IDLE
            self._close(episode.alert, when)

    def _close(self, alert: Alert, when: Millis) -> None:
        alert.ended_at = max(when, alert.started_at)
        alert.state = "ended"
        self._emit(alert)

    def _emit(self, alert: Alert) -> None:
        self._out.append(alert.snapshot())

    def _drain(self) -> list[AlertChange]:
        out, self._out = self._out, []
        return out


IDLE = Episode()


def same(value: float | None) -> float | None:
    """A value as a zero-argument call (for lazily computed depths)."""
    return value


def _crossing_time(track: Track, prev_depth: float | None, depth: float) -> Millis:
    """When the depth crossed zero between the previous fix and this one.

    Where the previous fix was already on this side of the edge (inside but
    within its accuracy, say), the crossing was at or before it.
    """
    if track.prev is None or prev_depth is None:
        return track.fix.ts
    t0, t1 = track.prev[0], track.fix.ts
    if (prev_depth > 0) == (depth > 0):
        return t0
    share = -prev_depth / (depth - prev_depth)
    return t0 + int((t1 - t0) * min(max(share, 0.0), 1.0))
