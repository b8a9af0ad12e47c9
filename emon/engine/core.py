"""The engine: device messages in, alert changes out, on an injected clock.

Every message is applied as if alone and in order, with the clock at its
reception time; a micro-batch only shares the numpy work (decoding positions,
projecting them, measuring zone distances) before the messages are applied one
by one. So a batch of one and a batch of ten thousand give the same alerts,
and replay gives what live serving gave.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from emon.alerts.model import Alert, AlertChange, AlertType
from emon.engine.base import (
    EpisodeKey,
    EpisodeStore,
    Message,
    Track,
)
from emon.engine.beacons import Presence
from emon.engine.certainty import Certainty
from emon.engine.contact_rules import ContactRules
from emon.engine.decode import decode_batch
from emon.engine.device_events import DeviceEvents
from emon.engine.devices import DeviceTable
from emon.engine.episode import Episode
from emon.engine.event_memory import EventMemory
from emon.engine.fastpath import FastPath, FixBatch
from emon.engine.late_fixes import LateFixes
from emon.engine.order_changes import OrderChanges
from emon.engine.orders_index import OrderIndex
from emon.engine.outcome import AcceptedFix, Outcome
from emon.engine.past_tracks import PastTracks, TrackSource
from emon.engine.policy import Policy
from emon.engine.silence import SilenceWatch
from emon.engine.timers import Timers
from emon.engine.tracks import confirmed_segment, plausible
from emon.engine.zone_rules import ZoneRules
from emon.geofence.frame import FloatArray
from emon.geofence.zones import ZoneTable
from emon.ingest.messages import Ack, Beacon, Decoder, Event, Fix
from emon.ingest.rejections import RejectionLog
from emon.orders import Order
from emon.timeutil import Millis


class Engine(ZoneRules, ContactRules, DeviceEvents, Timers, Certainty, LateFixes, OrderChanges):
    """The engine core: state, the flow of fixes, and the public API."""

    def __init__(
        self,
        orders: Sequence[Order],
        policy: Policy | None = None,
        start: Millis = 0,
        use_fast_path: bool = True,
        owntracks_keys: Mapping[str, bytes] | None = None,
        keep_fixes: bool = False,
        tracks: TrackSource | None = None,
    ) -> None:
        """``keep_fixes``: each outcome lists the fixes taken (for storage);
        ``tracks``: where fixes older than memory are read (storage, or a
        replay's ``RecordedTracks``), for judging late fixes against them."""
        self.policy = policy or Policy()
        self.index = OrderIndex()
        self.zones = ZoneTable()
        self.devices = DeviceTable([], start)
        self.rejections = RejectionLog()
        self.decoder = Decoder(
            self.rejections, int(self.policy.future_skew_s * 1000), owntracks_keys
        )
        self.clock: Millis = start
        self.episodes = EpisodeStore()
        self.stats: dict[str, int] = {
            "messages": 0,
            "fixes": 0,
            "fast_fixes": 0,
            "events": 0,
            "acks": 0,
        }
        self._out: list[AlertChange] = []
        self.events = EventMemory()
        self.presence = Presence(int(self.policy.beacon_presence_s * 1000))
        self._suspects: dict[int, tuple[Fix, FloatArray, float, dict[int, float]]] = {}
        self._uncertain: dict[int, Millis] = {}
        self.silence = SilenceWatch(start)
        self._expiries: list[tuple[Millis, int]] = []
        self._busy_groups: set[int] = set()
        self._group_orders: dict[int, list[int]] = {}
        self.use_fast_path = use_fast_path
        self.fast = FastPath(self.devices, self.zones, self.policy, self.silence,
                             self._suspects, self._uncertain)  # fmt: skip
        #: the fixes taken in this call, when a store wants them
        self.accepted: list[AcceptedFix] | None = [] if keep_fixes else None
        self.past = None if tracks is None else PastTracks(tracks, self.policy)
        self._change(orders, ())

    # -- public API ------------------------------------------------------------
    def advance(self, now: Millis) -> Outcome:
        """Move the clock to ``now``, firing every timer due by then."""
        self._tick(now)
        return self._outcome()

    def handle(self, recv: Millis, topic: str, payload: bytes) -> Outcome:
        return self.handle_batch([Message(recv, topic, payload)])

    def handle_batch(self, messages: Sequence[Message]) -> Outcome:
        """Apply messages in order; returns every alert change they caused,
        the fixes taken and the messages refused.

        Groups whose fixes provably change nothing but positions are updated in
        bulk first (``fastpath``); the rest are applied one message at a time,
        with timers fired at each reception time.
        """
        batch, others = decode_batch(
            self.decoder, self.devices.index, self.policy.default_accuracy_m, messages
        )
        hot_groups: set[int] = set(self._busy_groups)
        for items in others.values():
            for item in items:
                device_id = item.beacon_id if isinstance(item, Beacon) else item.device_id
                if isinstance(item, Event | Beacon) and device_id in self.devices.index:
                    hot_groups.add(int(self.fast.group[self.devices.index[device_id]]))
        quiet = np.zeros(len(batch.dev), dtype=bool)
        depth = self.fast.zone_depths(batch)
        if self.use_fast_path:
            quiet = self.fast.quiet(batch, depth)
            known = batch.dev >= 0
            groups = np.full(len(batch.dev), -1, dtype=np.int64)
            groups[known] = self.fast.group[batch.dev[known]]
            hot_groups.update(np.unique(groups[known & ~quiet]).tolist())
            quiet &= ~np.isin(groups, np.fromiter(hot_groups, np.int64))
            self.fast.apply(batch, quiet, depth)
            if self.accepted is not None:
                self._record_quiet(batch, quiet)
            self.stats["fixes"] += int(quiet.sum())
            self.stats["fast_fixes"] += int(quiet.sum())
        self.stats["messages"] += len(messages)
        # quiet fixes are applied; timers need firing only before messages
        # with sequential work, and at the end
        slow_fixes: dict[int, list[int]] = {}
        for k in np.flatnonzero(~quiet).tolist():
            slow_fixes.setdefault(int(batch.message[k]), []).append(k)
        touched: set[int] = set()
        for i in sorted(slow_fixes.keys() | others.keys()):
            message = messages[i]
            self._tick(message.recv)
            for item in others.get(i, ()):
                if isinstance(item, Event):
                    self._on_event(message, item)
                    touched.add(self.devices.index.get(item.device_id, -1))
                elif isinstance(item, Ack):
                    self.stats["acks"] += 1
                    if item.device_id in self.devices.index:
                        self.devices.signs_of_life(self.devices.index[item.device_id], self.clock)
                elif isinstance(item, Beacon):
                    self._on_beacon(message, item)
                    touched.add(self.devices.index.get(item.beacon_id, -1))
            fixes = slow_fixes.get(i)
            if fixes:
                touched.update(int(batch.dev[k]) for k in fixes)
                self._on_fixes(
                    message, [(batch.fix(k), batch.xyz[k], batch.outside(k)) for k in fixes]
                )
        if messages:
            self._tick(max(m.recv for m in messages))
        self.fast.remember_depths(batch, depth)
        self._update_busy(touched)
        return self._outcome()

    def _outcome(self) -> Outcome:
        if self.past is not None:
            self.past.forget()
        fixes: tuple[AcceptedFix, ...] = ()
        if self.accepted:
            fixes = tuple(self.accepted)
            self.accepted.clear()
        return Outcome(tuple(self._drain()), fixes, self.rejections.drain())

    def _record_quiet(self, batch: FixBatch, quiet: NDArray[np.bool_]) -> None:
        assert self.accepted is not None
        k = np.flatnonzero(quiet)
        acc = [None if a != a else a for a in batch.acc_given[k].tolist()]  # NaN: none given
        batt = [None if b != b else b for b in batch.batt[k].tolist()]
        ids = [batch.device_id[i] for i in k.tolist()]
        columns = (batch.seq[k], batch.ts[k], batch.recv[k], batch.lat[k], batch.lon[k])
        seq, ts, recv, lat, lon = (c.tolist() for c in columns)
        self.accepted.extend(zip(ids, seq, ts, recv, lat, lon, acc, batt, strict=True))

    def _tick(self, now: Millis) -> None:
        if now > self.clock:
            self._fire_timers(now)
            self.clock = now

    def _update_busy(self, devices: set[int]) -> None:
        """Recompute, for the orders that took the sequential path, whether an
        episode is under way (then their group stays on the sequential path)."""
        for dev in devices:
            if dev < 0:
                continue
            for role in self.index.roles[dev]:
                group = role.order.group
                if self.episodes.busy(role.order.index):
                    self._busy_groups.add(group)
                elif group in self._busy_groups and not any(
                    self.episodes.busy(o) for o in self._group_orders[group]
                ):
                    self._busy_groups.discard(group)

    @property
    def open_alerts(self) -> list[Alert]:
        return [e.alert for e in self.episodes.values() if e.alert and e.alert.ended_at is None]

    # -- fixes ------------------------------------------------------------------
    def _on_fixes(
        self, message: Message, batch: list[tuple[Fix, FloatArray, dict[int, float]]]
    ) -> None:
        dev = self.devices.index.get(batch[0][0].device_id)
        if dev is None:
            self.rejections.reject(
                message.recv,
                message.topic,
                "unknown_device",
                batch[0][0].device_id,
                message.payload,
            )
            return
        fresh = []
        for fix, xyz, outside in batch:
            if self.devices.seen_before(dev, fix.seq):
                self.rejections.reject(
                    message.recv, message.topic, "duplicate", f"seq {fix.seq}", message.payload
                )
            else:
                fresh.append((fix, xyz, outside))
        if not fresh:
            return
        self.stats["fixes"] += len(fresh)
        if self.accepted is not None:
            recv = self.clock
            self.accepted.extend(
                (f.device_id, f.seq, f.ts, recv, f.lat, f.lon, f.acc, f.batt) for f, _, _ in fresh
            )
        self._heard_from(dev)
        fresh.sort(key=lambda item: item[0].ts)
        last_ts = int(self.devices.last_ts[dev])
        historic = [(f, x) for f, x, _ in fresh if f.ts <= last_ts]
        if historic:
            self._historic_fixes(dev, historic)
        for fix, xyz, outside in fresh:
            if fix.ts > last_ts:
                self._live_fix(dev, fix, xyz, outside)

    def _heard_from(self, dev: int) -> None:
        self.devices.last_recv[dev] = max(int(self.devices.last_recv[dev]), self.clock)
        self.devices.signs_of_life(dev, self.clock)
        if self.silence.heard(dev, self.clock):
            for role in self.index.roles[dev]:
                key = (role.order.index, AlertType.SIGNAL_LOST, self.devices.ids[dev])
                self._end(key, self.clock)

    def _live_fix(self, dev: int, fix: Fix, xyz: FloatArray, outside: dict[int, float]) -> None:
        devices = self.devices
        devices.last_ts[dev] = fix.ts
        self._battery(dev, fix)
        acc = self.policy.default_accuracy_m if fix.acc is None else fix.acc
        prev = devices.newest(dev)
        suspect = self._suspects.pop(dev, None)
        if prev is not None and not plausible(self.policy, prev, fix.ts, xyz, acc):
            if suspect is None or not plausible(
                self.policy, (suspect[0].ts, suspect[1], suspect[2]), fix.ts, xyz, acc
            ):
                self._suspects[dev] = (fix, xyz, acc, outside)
                return
            # the next fix agrees with the suspect: the device really moved there
            self._accept(dev, suspect[0], suspect[1], suspect[2], None, suspect[3])
            prev = devices.newest(dev)
        self._accept(dev, fix, xyz, acc, prev, outside)

    def _accept(
        self,
        dev: int,
        fix: Fix,
        xyz: FloatArray,
        acc: float,
        prev: tuple[Millis, FloatArray, float] | None,
        outside: dict[int, float],
    ) -> None:
        devices = self.devices
        devices.remember(dev, fix.ts, xyz, acc)
        late = fix.buffered or self.clock - fix.ts > self.policy.late_after_s * 1000
        track = Track(fix, dev, xyz, acc, prev, late, outside=outside)
        if prev is not None:
            track.segment = confirmed_segment(self.policy, devices.before(dev, prev[0]), track)
        self._end_shielding(dev, fix.ts, acc)
        self._evaluate(track, self.episodes)
        self._judge_certainty(track)

    def _evaluate(self, track: Track, episodes: dict[EpisodeKey, Episode]) -> None:
        for role in self.index.roles[track.dev]:
            order = role.order
            if not order.active_at(track.fix.ts):
                continue
            if role.offender:
                for zone in order.zones:
                    self._zone(order, zone, track, episodes)
                for victim in order.victims:
                    self._contact(order, track, victim, victim, episodes)
            elif order.offender is not None:
                self._contact(order, track, order.offender, track.dev, episodes)
