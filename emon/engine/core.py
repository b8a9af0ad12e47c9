"""The engine: device messages in, alert changes out, on an injected clock.

Every message is applied as if alone and in order, with the clock at its
reception time; a micro-batch only shares the numpy work (decoding positions,
projecting them, measuring zone distances) before the messages are applied one
by one. So a batch of one and a batch of ten thousand give the same alerts,
and replay gives what live serving gave.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from emon.alerts.model import Alert, alert_id_for, severity_for
from emon.engine.devices import NONE_TS, DeviceTable
from emon.engine.episode import Change, Episode, Evidence, Phase
from emon.engine.fastpath import FastPath, FixBatch
from emon.engine.orders_index import CompiledOrder, CompiledZone, OrderIndex
from emon.engine.policy import Policy
from emon.geofence.frame import FloatArray, point_distance, to_ecef
from emon.geofence.zones import ZoneTable
from emon.ingest.columns import decode_fixes, is_plain_fix
from emon.ingest.messages import Ack, Decoder, Event, Fix
from emon.ingest.rejections import RejectionLog
from emon.orders import Order
from emon.timeutil import Millis, format_ts

EpisodeKey = tuple[int, str, str]  # (order index, alert type, subject)
#: (device_id, seq, ts, recv, lat, lon, acc, batt)
AcceptedFix = tuple[str, int, int, int, float, float, float | None, float | None]
#: Episodes that a fix can move on; while one is under way its group takes the
#: sequential path.
FIX_DRIVEN = frozenset(
    {
        "zone_violation",
        "zone_prealert",
        "contact_violation",
        "contact_prealert",
        "battery_low",
        "shielding",
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

    def busy(self, order: int) -> bool:
        return any(
            key[1] in FIX_DRIVEN and self[key].phase != Phase.IDLE
            for key in self.by_order.get(order, ())
        )


SEGMENT_STEP_M = 10.0


@dataclass(slots=True)
class Message:
    recv: Millis
    topic: str
    payload: bytes


@dataclass(slots=True)
class _Track:
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


class Engine:
    def __init__(
        self,
        orders: Sequence[Order],
        policy: Policy | None = None,
        start: Millis = 0,
        use_fast_path: bool = True,
    ) -> None:
        self.policy = policy or Policy()
        self.index = OrderIndex.build(list(orders))
        self.zones = ZoneTable(self.index.shapes)
        self.devices = DeviceTable(self.index.device_ids, start)
        self.rejections = RejectionLog()
        self.decoder = Decoder(self.rejections, int(self.policy.future_skew_s * 1000))
        self.clock: Millis = start
        self.episodes = EpisodeStore()
        self.stats: dict[str, int] = {
            "messages": 0,
            "fixes": 0,
            "fast_fixes": 0,
            "events": 0,
            "acks": 0,
        }
        self._out: list[dict[str, Any]] = []
        self._event_seqs: dict[int, set[int]] = {}
        self._power_off: dict[int, Millis] = {}
        self._suspects: dict[int, tuple[Fix, FloatArray, float, dict[int, float]]] = {}
        silence = np.full(len(self.devices), np.iinfo(np.int64).max, dtype=np.int64)
        watch_from = np.full(len(self.devices), np.iinfo(np.int64).max, dtype=np.int64)
        for dev, roles in enumerate(self.index.roles):
            for role in roles:
                silence[dev] = min(silence[dev], role.order.silence_ms)
                watch_from[dev] = min(watch_from[dev], role.order.valid_from)
        self._silence_ms = silence
        self._watch_from = watch_from
        self._lost = np.zeros(len(self.devices), dtype=bool)
        self._next_silence_check: Millis = start
        self._expiries = sorted((c.valid_until, c.index) for c in self.index.orders)
        self._expired = 0
        self._busy_groups: set[int] = set()
        self._group_orders: dict[int, list[int]] = {}
        for c in self.index.orders:
            self._group_orders.setdefault(c.group, []).append(c.index)
        self.use_fast_path = use_fast_path
        self.fast = FastPath(self)
        #: accepted fixes since the last drain, when a store wants them
        self.accepted: list[AcceptedFix] | None = None

    # -- public API ------------------------------------------------------------
    def advance(self, now: Millis) -> list[dict[str, Any]]:
        """Move the clock to ``now``, firing every timer due by then."""
        self._tick(now)
        return self._drain()

    def carry_over(self, old: Engine) -> list[dict[str, Any]]:
        """Take over the live state of an engine built for an earlier set of
        orders (an order registered, replaced or revoked). Positions, duplicate
        windows, timers and episodes carry over by device and order id; the
        open alerts of revoked orders, or of zones no longer in an order, end
        now. Build this engine with ``start=old.clock``."""
        self.clock = old.clock
        self.stats = dict(old.stats)
        self.rejections = old.rejections
        self.decoder = old.decoder
        self.accepted = old.accepted
        names = (
            "last_recv",
            "last_ts",
            "hist_ts",
            "hist_xyz",
            "hist_acc",
            "seq_hi",
            "seq_bits",
            "battery",
        )
        for device_id, new in self.devices.index.items():
            before = old.devices.index.get(device_id)
            if before is None:
                continue
            for name in names:
                getattr(self.devices, name)[new] = getattr(old.devices, name)[before]
            self._lost[new] = old._lost[before]
            self.fast.depth[new] = old.fast.depth[before]
            self.fast.depth_ts[new] = old.fast.depth_ts[before]
            if before in old._suspects:
                self._suspects[new] = old._suspects[before]
            if before in old._event_seqs:
                self._event_seqs[new] = old._event_seqs[before]
            if before in old._power_off:
                self._power_off[new] = old._power_off[before]
        now_index = {c.order.order_id: c for c in self.index.orders}
        for (order_index, kind, subject), episode in old.episodes.items():
            order = now_index.get(old.index.orders[order_index].order.order_id)
            zone_ids = set() if order is None else {z.spec.zone_id for z in order.zones}
            if order is None or (kind.startswith("zone") and subject not in zone_ids):
                if episode.alert is not None and episode.alert.ended_at is None:
                    self._close(episode.alert, self.clock)
                continue
            self.episodes[(order.index, kind, subject)] = episode
        self._next_silence_check = self.clock
        while (
            self._expired < len(self._expiries) and self._expiries[self._expired][0] <= self.clock
        ):
            self._expired += 1
        for order in self.index.orders:
            if self.episodes.busy(order.index):
                self._busy_groups.add(order.group)
        return self._drain()

    def handle(self, recv: Millis, topic: str, payload: bytes) -> list[dict[str, Any]]:
        return self.handle_batch([Message(recv, topic, payload)])

    def handle_batch(self, messages: Sequence[Message]) -> list[dict[str, Any]]:
        """Apply messages in order; returns every alert change they caused.

        Groups whose fixes provably change nothing but positions are updated in
        bulk first (``fastpath``); the rest are applied one message at a time,
        with timers fired at each reception time.
        """
        batch, others = self._decode(messages)
        hot_groups: set[int] = set(self._busy_groups)
        for items in others.values():
            for item in items:
                if isinstance(item, Event) and item.device_id in self.devices.index:
                    hot_groups.add(int(self.fast.group[self.devices.index[item.device_id]]))
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
        return self._drain()

    def _record_quiet(self, batch: FixBatch, quiet: NDArray[np.bool_]) -> None:
        assert self.accepted is not None
        for k in np.flatnonzero(quiet).tolist():
            fix = batch.fix(k)
            self.accepted.append(
                (
                    fix.device_id,
                    fix.seq,
                    fix.ts,
                    int(batch.recv[k]),
                    fix.lat,
                    fix.lon,
                    fix.acc,
                    fix.batt,
                )
            )

    def drain_accepted(self) -> list[AcceptedFix]:
        """Fixes taken since the last call (for storage); empty unless enabled."""
        out, self.accepted = self.accepted or [], ([] if self.accepted is not None else None)
        return out

    def _tick(self, now: Millis) -> None:
        if now > self.clock:
            self._fire_timers(now)
            self.clock = now

    def _decode(
        self, messages: Sequence[Message]
    ) -> tuple[FixBatch, dict[int, list[Fix | Event | Ack]]]:
        """Plain fix messages column-wise; every other message through the
        reference decoder. Returns the fixes in message order, and the other
        messages' items (their fixes included in the batch)."""
        plain = [i for i, m in enumerate(messages) if is_plain_fix(m.topic, m.payload)]
        plain_set = set(plain)
        columns = decode_fixes(
            self.decoder,
            plain,
            [messages[i].recv for i in plain],
            [messages[i].topic for i in plain],
            [messages[i].payload for i in plain],
        )
        others = {
            i: self.decoder.decode(m.recv, m.topic, m.payload)
            for i, m in enumerate(messages)
            if i not in plain_set
        }
        extra = [(i, f) for i, items in others.items() for f in items if isinstance(f, Fix)]
        n_extra = len(extra)
        message = np.concatenate(
            [columns.message, np.fromiter((i for i, _ in extra), np.int64, n_extra)]
        )
        order = np.argsort(message, kind="stable")
        device_ids = columns.device_id + [f.device_id for _, f in extra]

        def merged(values: NDArray[Any], attr: str, dtype: Any) -> NDArray[Any]:
            more = np.fromiter(
                (np.nan if getattr(f, attr) is None else getattr(f, attr) for _, f in extra),
                dtype,
                n_extra,
            )
            return np.concatenate([values, more])[order]

        lat = merged(columns.lat, "lat", np.float64)
        lon = merged(columns.lon, "lon", np.float64)
        acc = merged(columns.acc, "acc", np.float64)
        index = self.devices.index
        ids = [device_ids[k] for k in order.tolist()]
        recv_of = np.fromiter((m.recv for m in messages), np.int64, len(messages))
        batch = FixBatch(
            message=message[order],
            device_id=ids,
            dev=np.fromiter((index.get(d, -1) for d in ids), np.int64, len(ids)),
            seq=merged(columns.seq, "seq", np.int64),
            ts=merged(columns.ts, "ts", np.int64),
            recv=recv_of[message[order]] if len(message) else np.empty(0, np.int64),
            lat=lat,
            lon=lon,
            xyz=to_ecef(lat, lon) if len(lat) else np.empty((0, 3)),
            acc_given=acc,
            acc=np.where(np.isnan(acc), self.policy.default_accuracy_m, acc),
            batt=merged(columns.batt, "batt", np.float64),
            buffered=np.concatenate(
                [
                    np.zeros(len(columns.message), bool),
                    np.fromiter((f.buffered for _, f in extra), bool, n_extra),
                ]
            )[order],
        )
        return batch, {
            i: [x for x in items if not isinstance(x, Fix)] for i, items in others.items()
        }

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

    # -- hooks for the fast path ---------------------------------------------------
    @property
    def lost(self) -> NDArray[np.bool_]:
        return self._lost

    def suspect_devices(self) -> Iterable[int]:
        return self._suspects.keys()

    def silence_deadline_floor(
        self, dev: NDArray[np.int64], last_recv: NDArray[np.int64]
    ) -> NDArray[np.int64]:
        deadline: NDArray[np.int64] = (
            np.maximum(last_recv, self._watch_from[dev]) + self._silence_ms[dev]
        )
        return deadline

    def note_heard(self, dev: NDArray[np.int64], recv: NDArray[np.int64]) -> None:
        if len(dev):
            soonest = int((recv + self._silence_ms[dev]).min())
            self._next_silence_check = min(self._next_silence_check, soonest)

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
        deadline = self.clock + int(self._silence_ms[dev])
        self._next_silence_check = min(self._next_silence_check, deadline)
        if self._lost[dev]:
            self._lost[dev] = False
            for role in self.index.roles[dev]:
                key = (role.order.index, "signal_lost", self.devices.ids[dev])
                self._end(key, self.clock)

    def _live_fix(self, dev: int, fix: Fix, xyz: FloatArray, outside: dict[int, float]) -> None:
        devices = self.devices
        devices.last_ts[dev] = fix.ts
        self._battery(dev, fix)
        acc = self.policy.default_accuracy_m if fix.acc is None else fix.acc
        prev = devices.newest(dev)
        suspect = self._suspects.pop(dev, None)
        if prev is not None and not self._plausible(prev, fix.ts, xyz, acc):
            if suspect is None or not self._plausible(
                (suspect[0].ts, suspect[1], suspect[2]), fix.ts, xyz, acc
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
        track = _Track(fix, dev, xyz, acc, prev, late, outside=outside)
        if prev is not None:
            track.segment = self._confirmed_segment(devices.before(dev, prev[0]), track)
        self._end_shielding(dev, fix.ts, acc)
        self._evaluate(track, self.episodes)

    def _plausible(
        self, prev: tuple[Millis, FloatArray, float], ts: Millis, xyz: FloatArray, acc: float
    ) -> bool:
        prev_ts, prev_xyz, prev_acc = prev
        jump = point_distance(prev_xyz, xyz)
        if jump <= self.policy.jump_tolerance_m + acc + prev_acc:
            return True
        seconds = max(ts - prev_ts, 1) / 1000
        return jump / seconds <= self.policy.max_speed_mps

    def _confirmed_segment(
        self, before: tuple[Millis, FloatArray, float] | None, track: _Track
    ) -> tuple[tuple[Millis, FloatArray, float], tuple[Millis, FloatArray, float]] | None:
        """The segment before -> prev, if this fix shows prev was real: it lies
        near prev, or the motion went on in the same direction (a multipath
        outlier jumps out and straight back)."""
        prev = track.prev
        if before is None or prev is None:
            return None
        if prev[0] - before[0] > self.policy.segment_max_gap_s * 1000:
            return None
        onward = track.xyz - prev[1]
        near = self.policy.jump_tolerance_m + track.acc + prev[2]
        moved_on = float(onward @ (prev[1] - before[1])) > 0
        if point_distance(track.xyz, prev[1]) > near and not moved_on:
            return None
        return before, prev

    def _evaluate(self, track: _Track, episodes: dict[EpisodeKey, Episode]) -> None:
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

    def _historic_fixes(self, dev: int, fixes: list[tuple[Fix, FloatArray]]) -> None:
        """Fixes older than the live track: judged on a track of their own, so
        they raise ``late`` alerts for what they reveal and never disturb the
        live state."""
        episodes: dict[EpisodeKey, Episode] = {}
        prev = self.devices.before(dev, fixes[0][0].ts)
        before = None if prev is None else self.devices.before(dev, prev[0])
        for fix, xyz in fixes:
            acc = self.policy.default_accuracy_m if fix.acc is None else fix.acc
            if prev is not None and not self._plausible(prev, fix.ts, xyz, acc):
                continue
            track = _Track(fix, dev, xyz, acc, prev, True)
            track.segment = self._confirmed_segment(before, track)
            self._evaluate(track, episodes)
            self.devices.remember(dev, fix.ts, xyz, acc)
            before, prev = prev, (fix.ts, xyz, acc)
        last = fixes[-1][0].ts
        after = self.devices.position_after(dev, last)
        for key, episode in episodes.items():
            if episode.open and episode.alert is not None:
                live = self.episodes.get(key)
                resume = after
                if live is not None and live.alert is not None and live.open:
                    resume = min(after, live.alert.started_at)
                episode.phase = episode.phase.IDLE
                self._close(episode.alert, resume)

    # -- zones ------------------------------------------------------------------
    def _zone(
        self,
        order: CompiledOrder,
        zone: CompiledZone,
        track: _Track,
        episodes: dict[EpisodeKey, Episode],
    ) -> None:
        ts = track.fix.ts
        since, _, active = zone.schedule.state_at(ts)
        zone_id = zone.spec.zone_id
        violation_key = (order.index, "zone_violation", zone_id)
        prealert_key = (order.index, "zone_prealert", zone_id)
        if not active:
            for key in (violation_key, prealert_key):
                self._stop(key, since, episodes)
            return
        outside = track.outside.get(zone.table_index)
        if outside is None:
            outside = self._signed_distance(zone, track.xyz)
        depth = -outside if zone.exclusion else outside

        def prev_depth(offset: float) -> float | None:
            if track.prev is None or not self._segment_usable(track):
                return None
            before = self._signed_distance(zone, track.prev[1])
            return (-before if zone.exclusion else before) + offset

        self._judge(
            order,
            zone_id,
            "zone_violation",
            violation_key,
            depth,
            lambda: prev_depth(0.0),
            track,
            episodes,
        )
        if zone.exclusion and zone.spec.prealert_m:
            ring = zone.spec.prealert_m
            self._judge(
                order,
                zone_id,
                "zone_prealert",
                prealert_key,
                depth + ring,
                lambda: prev_depth(ring),
                track,
                episodes,
            )
        self._transit(order, zone, track, violation_key, episodes)

    def _signed_distance(self, zone: CompiledZone, xyz: FloatArray) -> float:
        return float(self.zones.signed_distance(np.array([zone.table_index]), xyz.reshape(1, 3))[0])

    def _segment_usable(self, track: _Track) -> bool:
        assert track.prev is not None
        return track.fix.ts - track.prev[0] <= self.policy.segment_max_gap_s * 1000

    def _transit(
        self,
        order: CompiledOrder,
        zone: CompiledZone,
        track: _Track,
        key: EpisodeKey,
        episodes: dict[EpisodeKey, Episode],
    ) -> None:
        """A pass through the zone between fixes: A outside, B (inside or not)
        confirmed as real by this fix C, C outside again. Two fixes inside
        would have raised an ordinary violation; this catches the car that
        crosses with one fix, or none, inside."""
        if track.segment is None or episodes.get(key, _IDLE).phase != Phase.IDLE:
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
            "zone_violation",
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

    def _judge(
        self,
        order: CompiledOrder,
        subject: str,
        alert_type: str,
        key: EpisodeKey,
        depth: float,
        prev_depth: Callable[[], float | None],
        track: _Track,
        episodes: dict[EpisodeKey, Episode],
        margin: float | None = None,
        **extra: Any,
    ) -> None:
        """Turn a depth into the condition (metres into it, negative outside)
        into evidence, step the episode, and raise or end its alert."""
        policy = self.policy
        acc = track.acc if margin is None else margin
        if acc > policy.unusable_accuracy_m:
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

    # -- contact bans -----------------------------------------------------------
    def _contact(
        self,
        order: CompiledOrder,
        track: _Track,
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
        if there is None:
            return
        distance = point_distance(track.xyz, there[0])
        prev_distance = None
        if track.prev is not None and self._segment_usable(track):
            before = self._other_at(other, track.prev[0])
            if before is not None:
                prev_distance = point_distance(track.prev[1], before[0])
        victim_id = self.devices.ids[victim]
        margin = track.acc + there[1]
        limits = [("contact_violation", ban.distance_m), ("contact_prealert", ban.prealert_m)]
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
                functools.partial(_same, prev_depth),
                track,
                episodes,
                margin=margin,
                victim_device_id=victim_id,
            )
        self._contact_transit(order, track, other, victim_id, ban.distance_m, episodes)

    def _other_at(self, other: int, ts: Millis) -> tuple[FloatArray, float] | None:
        policy = self.policy
        return self.devices.position_at(
            other, ts, int(policy.contact_stale_s * 1000), int(policy.contact_extrapolate_s * 1000)
        )

    def _contact_transit(
        self,
        order: CompiledOrder,
        track: _Track,
        other: int,
        victim_id: str,
        limit: float,
        episodes: dict[EpisodeKey, Episode],
    ) -> None:
        """Paths that crossed between fixes: the closest approach on the
        confirmed segment, with both devices moving linearly."""
        key = (order.index, "contact_violation", victim_id)
        if track.segment is None or episodes.get(key, _IDLE).phase != Phase.IDLE:
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
            "contact_violation",
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

    # -- device events ----------------------------------------------------------
    def _on_event(self, message: Message, event: Event) -> None:
        dev = self.devices.index.get(event.device_id)
        if dev is None:
            self.rejections.reject(
                message.recv, message.topic, "unknown_device", event.device_id, message.payload
            )
            return
        seqs = self._event_seqs.setdefault(dev, set())
        if event.seq in seqs:
            self.rejections.reject(
                message.recv, message.topic, "duplicate", f"event seq {event.seq}", message.payload
            )
            return
        seqs.add(event.seq)
        if len(seqs) > 4096:
            seqs.discard(min(seqs))
        self.stats["events"] += 1
        late = self.clock - event.ts > self.policy.late_after_s * 1000
        for role in self.index.roles[dev]:
            order = role.order
            if not order.active_at(event.ts):
                continue
            subject = self.devices.ids[dev]
            if event.type in ("panic", "tamper", "shielding", "battery_low"):
                self._device_alert(order, event.type, subject, event.ts, late, dev)
            elif event.type == "charging":
                self._end((order.index, "battery_low", subject), event.ts)
            elif event.type == "power_off":
                self._power_off[dev] = event.ts

    def _device_alert(
        self, order: CompiledOrder, alert_type: str, subject: str, ts: Millis, late: bool, dev: int
    ) -> None:
        key = (order.index, alert_type, subject)
        episode = self.episodes.setdefault(key, Episode())
        alert = episode.alert
        merge = self.policy.event_merge_s * 1000
        if alert is not None and alert.ended_at is None and ts - episode.since <= merge:
            episode.since = max(episode.since, ts)
            alert.details["count"] = int(alert.details.get("count", 1)) + 1
            self._emit(alert)
            return
        episode.phase = episode.phase.ACTIVE
        episode.episodes += 1
        episode.since = ts
        alert = Alert(
            alert_id_for(order.order.order_id, alert_type, subject, ts, episode.episodes),
            alert_type,
            severity_for(alert_type, order.order.risk),
            order.order.order_id,
            order.order.case_id,
            None,
            self.devices.ids[dev],
            ts,
            self.clock,
            late=late,
            details={"count": 1},
        )
        episode.alert = alert
        self._emit(alert)

    def _battery(self, dev: int, fix: Fix) -> None:
        if fix.batt is None:
            return
        self.devices.battery[dev] = fix.batt
        subject = self.devices.ids[dev]
        for role in self.index.roles[dev]:
            key = (role.order.index, "battery_low", subject)
            episode = self.episodes.get(key)
            is_open = episode is not None and episode.alert is not None and episode.open
            if fix.batt <= self.policy.battery_low_pct and not is_open:
                if role.order.active_at(fix.ts):
                    self._device_alert(role.order, "battery_low", subject, fix.ts, False, dev)
                    assert self.episodes[key].alert is not None
                    self.episodes[key].alert.details["battery_pct"] = fix.batt  # type: ignore[union-attr]
            elif fix.batt >= self.policy.battery_ok_pct and is_open:
                self._end(key, fix.ts)

    def _end_shielding(self, dev: int, ts: Millis, acc: float) -> None:
        if acc > self.policy.unusable_accuracy_m:
            return
        for role in self.index.roles[dev]:
            self._end((role.order.index, "shielding", self.devices.ids[dev]), ts)

    # -- timers -----------------------------------------------------------------
    def _fire_timers(self, now: Millis) -> None:
        due: list[tuple[Millis, int, int]] = []  # (when, kind, index)
        while self._expired < len(self._expiries) and self._expiries[self._expired][0] <= now:
            when, order_index = self._expiries[self._expired]
            due.append((when, 0, order_index))
            self._expired += 1
        if now >= self._next_silence_check:
            deadlines = np.maximum(self.devices.last_recv, self._watch_from) + self._silence_ms
            watched = ~self._lost & (self._silence_ms < np.iinfo(np.int64).max)
            for dev in np.flatnonzero(watched & (deadlines <= now)):
                due.append((int(deadlines[dev]), 1, int(dev)))
            pending = deadlines[watched & (deadlines > now)]
            self._next_silence_check = int(pending.min()) if len(pending) else 2**62
        for when, kind, i in sorted(due):
            saved = self.clock
            self.clock = max(self.clock, when)
            if kind == 0:
                self._expire(self.index.orders[i], when)
            else:
                self._signal_lost(i, when)
            self.clock = saved

    def _signal_lost(self, dev: int, when: Millis) -> None:
        self._lost[dev] = True
        subject = self.devices.ids[dev]
        last_ts = int(self.devices.last_ts[dev])
        for role in self.index.roles[dev]:
            order = role.order
            if not order.active_at(when):
                continue
            key = (order.index, "signal_lost", subject)
            episode = self.episodes.setdefault(key, Episode())
            episode.phase = episode.phase.ACTIVE
            episode.episodes += 1
            alert = Alert(
                alert_id_for(order.order.order_id, "signal_lost", subject, when, episode.episodes),
                "signal_lost",
                severity_for("signal_lost", order.order.risk),
                order.order.order_id,
                order.order.case_id,
                None,
                subject,
                when,
                when,
                details={"silence_s": order.silence_ms / 1000},
            )
            if last_ts != NONE_TS:
                alert.details["last_fix_ts"] = last_ts
            if dev in self._power_off:
                alert.details["after_power_off"] = True
            episode.alert = alert
            self._emit(alert)

    def _expire(self, order: CompiledOrder, when: Millis) -> None:
        """Nothing is enforced after valid_until: open conditions end there."""
        for key in sorted(self.episodes.by_order.get(order.index, ())):
            episode = self.episodes[key]
            if episode.alert is not None and episode.open:
                self._stop(key, when, self.episodes)

    # -- alert bookkeeping --------------------------------------------------------
    def _raise(
        self,
        order: CompiledOrder,
        alert_type: str,
        zone_id: str | None,
        key: EpisodeKey,
        started_at: Millis,
        track: _Track,
        episode: Episode,
        **details: Any,
    ) -> Alert:
        offender = order.offender
        device_id = self.devices.ids[offender if offender is not None else track.dev]
        alert = Alert(
            alert_id_for(order.order.order_id, alert_type, key[2], started_at, episode.episodes),
            alert_type,
            severity_for(alert_type, order.order.risk),
            order.order.order_id,
            order.order.case_id,
            zone_id,
            device_id,
            started_at,
            self.clock,
            late=track.late,
            details={"confirming_seq": track.fix.seq, "confirming_ts": track.fix.ts, **details},
        )
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
        self._out.append(_snapshot(alert))

    def _drain(self) -> list[dict[str, Any]]:
        out, self._out = self._out, []
        return out


_IDLE = Episode()


def _same(value: float | None) -> float | None:
    return value


def _snapshot(alert: Alert) -> dict[str, Any]:
    data = alert.to_json()
    for name in ("confirming_ts", "last_fix_ts"):
        if name in data["details"]:
            data["details"][name] = format_ts(data["details"][name])
    return data


def _crossing_time(track: _Track, prev_depth: float | None, depth: float) -> Millis:
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


def _closest_approach(start: FloatArray, end: FloatArray) -> float:
    """Least separation while the offset moves linearly from start to end."""
    delta = end - start
    span = float(delta @ delta)
    u = 0.0 if span == 0 else min(max(-float(start @ delta) / span, 0.0), 1.0)
    return float(np.linalg.norm(start + delta * u))
