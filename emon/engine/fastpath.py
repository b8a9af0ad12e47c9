"""The vectorised fast path: fixes that provably change nothing but position.

Most fixes, most of the time, come from offenders kilometres from any zone
and from their victims: the only state they change is the device's position
history, its duplicate window and its liveness. This module proves that for a
whole protection group's fixes in a micro-batch at once (numpy over the
batch, shapely 2 array functions for polygon zones) and applies those updates
in bulk. Every group in which any fix *might* change an episode (or whose
order has an episode under way, or a gap in its counters, a suspect fix, a
late fix) goes through the exact sequential path instead. The bounds are
conservative: a quiet fix is one the sequential path would also have left
quiet; ``tests/unit/test_fastpath.py`` checks that both paths give identical
alerts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from emon.engine.battery import CHARGE_STEP_PCT, dies_soon
from emon.engine.devices import NONE_TS, SEQ_WINDOW_WORDS, DeviceTable
from emon.engine.orders_index import CompiledOrder, Role
from emon.engine.policy import Policy
from emon.engine.silence import SilenceWatch
from emon.geofence.frame import FloatArray, geodesic_distance
from emon.geofence.zones import ZoneTable
from emon.ingest.messages import Fix
from emon.rows import RaggedRows, capacity_for, grown

IntArray = NDArray[np.int64]


@dataclass(slots=True)
class FixBatch:
    """The fixes of one micro-batch as arrays, in message order."""

    message: IntArray  # index of the message in the batch
    device_id: list[str]
    dev: IntArray  # -1 for unknown devices
    seq: IntArray
    ts: IntArray
    recv: IntArray
    lat: FloatArray
    lon: FloatArray
    xyz: FloatArray
    acc_given: FloatArray  # NaN when absent
    acc: FloatArray  # the policy's default where absent
    batt: FloatArray  # NaN when absent
    buffered: NDArray[np.bool_]
    pair_start: IntArray | None = None  # fix k's zone distances: pair_start[k]:[k + 1]
    pair_zone: NDArray[np.intp] | None = None
    pair_outside: FloatArray | None = None

    def outside(self, k: int) -> dict[int, float]:
        """Signed distance of fix k to each zone of its device's orders."""
        if self.pair_start is None or self.pair_zone is None or self.pair_outside is None:
            return {}
        lo, hi = int(self.pair_start[k]), int(self.pair_start[k + 1])
        return dict(
            zip(self.pair_zone[lo:hi].tolist(), self.pair_outside[lo:hi].tolist(), strict=True)
        )

    def fix(self, k: int) -> Fix:
        """One fix as the sequential path takes it."""
        acc, batt = float(self.acc_given[k]), float(self.batt[k])
        return Fix(
            self.device_id[k],
            int(self.seq[k]),
            int(self.ts[k]),
            float(self.lat[k]),
            float(self.lon[k]),
            None if acc != acc else acc,
            None if batt != batt else batt,
            bool(self.buffered[k]),
        )


class FastPath:
    """Per-device lookups for the quiet test, kept up to date as orders change."""

    def __init__(
        self,
        devices: DeviceTable,
        zones: ZoneTable,
        policy: Policy,
        silence: SilenceWatch,
        suspects: Mapping[int, object],
        uncertain: Mapping[int, object],
    ) -> None:
        """``suspects``: the devices whose last fix waits for confirmation;
        ``uncertain``: those whose fixes could not be judged for a while (both
        take the sequential path, as does any fix too inaccurate to judge)."""
        self.devices = devices
        self.zones = zones
        self.policy = policy
        self.silence = silence
        self.suspects = suspects
        self.uncertain = uncertain
        self.group = np.zeros(0, dtype=np.int64)
        #: each device's zones as offender: table row, exclusion, pre-alert ring (m)
        self.zone_rows = RaggedRows({"zone": np.intp, "exclusion": bool, "ring": np.float64})
        #: each device's contact-ban partners: device row, reach (m)
        self.contact_rows = RaggedRows({"other": np.int64, "reach": np.float64})
        self.depth_ts = np.zeros(0, dtype=np.int64)
        self.depth = np.zeros(0)
        self.transit_floor = policy.transit_min_depth_m

    def grow(self, rows: int) -> None:
        capacity = capacity_for(rows, len(self.group))
        self.group = grown(self.group, capacity, -1)
        self.depth_ts = grown(self.depth_ts, capacity, NONE_TS)
        self.depth = grown(self.depth, capacity, np.inf)
        self.zone_rows.grow(capacity)
        self.contact_rows.grow(capacity)

    def reset(self, rows: list[int]) -> None:
        """Rows taken fresh or given back: no depth remembered, no group."""
        self.group[rows] = -1
        self.depth_ts[rows] = NONE_TS
        self.depth[rows] = np.inf

    def relink(self, rows: list[int], roles: Sequence[list[Role]]) -> None:
        """The zones and contact partners of devices whose orders changed."""
        zones: list[list[tuple[int, bool, float]]] = []
        contacts: list[list[tuple[int, float]]] = []
        for dev in rows:
            zone_list: list[tuple[int, bool, float]] = []
            contact_list: list[tuple[int, float]] = []
            for role in roles[dev]:
                order, ban = role.order, role.order.order.contact_ban
                if role.offender:
                    for zone in order.zones:
                        ring = float(zone.spec.prealert_m or 0.0) if zone.exclusion else 0.0
                        zone_list.append((zone.table_index, zone.exclusion, ring))
                if ban is None or role.beacon:
                    continue
                reach = max(ban.distance_m, ban.prealert_m or 0.0)
                if role.offender:
                    contact_list.extend((v, reach) for v in order.victims if v != dev)
                elif order.offender is not None:
                    contact_list.append((order.offender, reach))
            zones.append(zone_list)
            contacts.append(contact_list)
        self.zone_rows.rewrite(rows, zones)
        self.contact_rows.rewrite(rows, contacts)

    def regroup(self, orders: Sequence[CompiledOrder]) -> None:
        for order in orders:
            self.group[order.members] = order.group

    # -- the quiet test -----------------------------------------------------------
    def zone_depths(self, batch: FixBatch) -> FloatArray:
        """Deepest any fix reaches into a zone of its device's orders (metres,
        negative outside), prealert rings included; -inf without zones.

        Also keeps each (fix, zone) signed distance in ``batch.outside`` for
        the sequential path, so that it measures nothing twice.
        """
        n = len(batch.dev)
        deepest = np.full(n, -np.inf)
        known = batch.dev >= 0
        if not known.any():
            return deepest
        rows = self.zone_rows
        dev = np.flatnonzero(known)
        counts = np.zeros(n, dtype=np.int64)
        counts[dev] = rows.count[batch.dev[dev]]
        if counts.sum() == 0:
            return deepest
        owner, pair = rows.pairs(batch.dev[dev])
        fix_of_pair = dev[owner]
        zones = rows["zone"][pair]
        outside = self.zones.signed_distance(zones, batch.xyz[fix_of_pair])
        depth = np.where(rows["exclusion"][pair], -outside + rows["ring"][pair], outside)
        np.maximum.at(deepest, fix_of_pair, depth)
        batch.pair_start = np.concatenate([[0], np.cumsum(counts)])
        batch.pair_zone = zones
        batch.pair_outside = outside
        return deepest

    def quiet(self, batch: FixBatch, depth: FloatArray) -> NDArray[np.bool_]:
        """Which fixes the sequential path would provably leave without effect
        on any episode; their groups also must hold no non-quiet message."""
        devices = self.devices
        policy = self.policy
        n = len(batch.dev)
        ok = (batch.dev >= 0) & ~batch.buffered
        if not ok.any():
            return ok
        dev = np.where(ok, batch.dev, 0)
        # order the batch by device, keeping message order inside each device
        order = np.lexsort((np.arange(n), dev))
        d_sorted = dev[order]
        first_of_device = np.ones(n, dtype=bool)
        first_of_device[1:] = d_sorted[1:] != d_sorted[:-1]
        prev_seq = np.where(first_of_device, devices.seq_hi[d_sorted], np.roll(batch.seq[order], 1))
        # a device's first fix ever has no counter to follow (its duplicate
        # window is empty): after a restart, that is every device's next fix
        never_heard = first_of_device & (prev_seq < 0) & (batch.seq[order] >= 0)
        prev_ts = np.where(first_of_device, devices.last_ts[d_sorted], np.roll(batch.ts[order], 1))
        prev_recv = np.where(
            first_of_device, devices.last_recv[d_sorted], np.roll(batch.recv[order], 1)
        )
        newest_ts = devices.hist_ts[d_sorted, -1]
        newest_xyz = devices.hist_xyz[d_sorted, -1]
        newest_acc = devices.hist_acc[d_sorted, -1].astype(np.float64)
        has_newest = newest_ts != NONE_TS
        prev_xyz = np.where(
            first_of_device[:, None], newest_xyz, np.roll(batch.xyz[order], 1, axis=0)
        )
        stored_acc = batch.acc[order].astype(np.float32).astype(np.float64)  # as history keeps it
        prev_acc = np.where(first_of_device, newest_acc, np.roll(stored_acc, 1))
        has_prev = np.where(first_of_device, has_newest, True)
        prev_depth = np.where(
            first_of_device,
            np.where(self.depth_ts[d_sorted] == newest_ts, self.depth[d_sorted], np.nan),
            np.roll(depth[order], 1),
        )
        # the segment before prev: for the transit bound (depth + length)
        before_xyz = np.where(
            first_of_device[:, None], devices.hist_xyz[d_sorted, -2], np.roll(prev_xyz, 1, axis=0)
        )
        has_before = np.where(
            first_of_device, devices.hist_ts[d_sorted, -2] != NONE_TS, np.roll(has_prev, 1)
        )
        jump = np.where(has_prev, geodesic_distance(prev_xyz, batch.xyz[order]), 0.0)
        seconds = np.maximum(batch.ts[order] - prev_ts, 1) / 1000
        plausible = ~has_prev | (jump <= policy.jump_tolerance_m + batch.acc[order] + prev_acc)
        plausible |= jump / seconds <= policy.max_speed_mps
        before_len = np.where(has_before, geodesic_distance(before_xyz, prev_xyz), 0.0)
        # a crossing on the segment before -> prev cannot reach transit depth
        # when prev's depth plus that segment's length stays below it
        reach = np.nan_to_num(prev_depth, nan=np.inf) + before_len
        no_transit = ~has_before | (reach < self.transit_floor)
        silence = self.silence.deadline_floor(d_sorted, prev_recv)
        batt = batch.batt[order]
        q = (
            ok[order]
            & ((batch.seq[order] == prev_seq + 1) | never_heard)
            & (batch.ts[order] > prev_ts)
            & (silence > batch.recv[order])
            & ~self.silence.lost[d_sorted]
            & plausible
            & no_transit
            & (depth[order] <= 0)
            & (np.isnan(batt) | (batt > policy.battery_low_pct))
        )
        q &= self._contact_far(d_sorted, batch.xyz[order], jump + before_len, batch.dev)
        q &= ~np.isin(d_sorted, np.fromiter(self.suspects.keys(), np.int64))
        q &= batch.acc[order] <= policy.unusable_accuracy_m  # judged (or not) one by one
        q &= self._battery_quiet(d_sorted, first_of_device, batch.ts[order], batt)
        if self.uncertain:
            q &= ~np.isin(d_sorted, np.fromiter(self.uncertain.keys(), np.int64))
        out = np.zeros(n, dtype=bool)
        out[order] = q
        return out

    def _battery_quiet(
        self, dev: IntArray, first: NDArray[np.bool_], ts: IntArray, batt: FloatArray
    ) -> NDArray[np.bool_]:
        """A reading that starts or resets a discharge run, or predicts an empty
        battery soon (emon/engine/battery.py), is not quiet; nor, to be sure,
        one that follows a fix without a reading in the same batch."""
        devices = self.devices
        prev = np.where(first, devices.battery[dev].astype(np.float64), np.roll(batt, 1))
        run_ts, run_pct = devices.batt_run_ts[dev], devices.batt_run_pct[dev]
        soon = dies_soon(self.policy, run_ts.astype(np.float64), run_pct,
                         ts.astype(np.float64), batt)  # fmt: skip
        steady = (run_ts != NONE_TS) & ~np.isnan(prev) & (batt < prev + CHARGE_STEP_PCT) & ~soon
        quiet: NDArray[np.bool_] = np.isnan(batt) | steady
        return quiet

    def _contact_far(
        self, dev: IntArray, xyz: FloatArray, travelled: FloatArray, sending: IntArray
    ) -> NDArray[np.bool_]:
        """Every contact partner provably out of reach; a partner with no
        position yet is, unless it sends one in this batch (``sending``)."""
        rows = self.contact_rows
        far = np.ones(len(dev), dtype=bool)
        if rows.count[dev].sum() == 0:
            return far
        fix_of_pair, pair = rows.pairs(dev)
        other = rows["other"][pair]
        hist_ts = self.devices.hist_ts[other]
        hist_xyz = self.devices.hist_xyz[other]
        valid = hist_ts != NONE_TS
        offsets = np.linalg.norm(hist_xyz - hist_xyz[:, -1:, :], axis=-1)
        spread = np.where(valid, offsets, 0.0).max(axis=1)  # where interpolation may put it
        # carried on along its last step for at most contact_extrapolate_s
        step = np.linalg.norm(hist_xyz[:, -1] - hist_xyz[:, -2], axis=-1)
        step_ms = np.maximum(hist_ts[:, -1] - hist_ts[:, -2], 1)
        ahead_ms = self.policy.contact_extrapolate_s * 1000
        carried = np.where(valid[:, -2], step * ahead_ms / step_ms, 0.0)
        gap = geodesic_distance(xyz[fix_of_pair], hist_xyz[:, -1])
        margin = rows["reach"][pair] + carried + spread + travelled[fix_of_pair] + 1.0
        unplaced = ~valid[:, -1] & ~np.isin(other, sending)
        pair_far = unplaced | (valid[:, -1] & (gap > margin))
        np.logical_and.at(far, fix_of_pair, pair_far)
        return far

    # -- bulk application -----------------------------------------------------------
    def apply(self, batch: FixBatch, quiet: NDArray[np.bool_], depth: FloatArray) -> None:
        """Apply quiet fixes: the same updates the sequential path would make."""
        idx = np.flatnonzero(quiet)
        if len(idx) == 0:
            return
        devices = self.devices
        dev = batch.dev[idx]
        order = np.lexsort((idx, dev))
        idx, dev = idx[order], dev[order]
        rank = np.arange(len(idx)) - np.searchsorted(dev, dev, side="left")
        window = SEQ_WINDOW_WORDS * 64
        for r in range(int(rank.max()) + 1):
            take = rank == r
            i, d = idx[take], dev[take]
            seq, ts = batch.seq[i], batch.ts[i]
            word = (seq % window) >> 6
            devices.seq_bits[d, word] |= np.left_shift(np.uint64(1), (seq & 63).astype(np.uint64))
            devices.seq_hi[d] = seq
            devices.last_ts[d] = ts
            devices.last_recv[d] = np.maximum(devices.last_recv[d], batch.recv[i])
            devices.last_heard[d] = np.maximum(devices.last_heard[d], batch.recv[i])
            devices.hist_ts[d, :-1] = devices.hist_ts[d, 1:]
            devices.hist_xyz[d, :-1] = devices.hist_xyz[d, 1:]
            devices.hist_acc[d, :-1] = devices.hist_acc[d, 1:]
            devices.hist_ts[d, -1] = ts
            devices.hist_xyz[d, -1] = batch.xyz[i]
            devices.hist_acc[d, -1] = batch.acc[i]
            batt = batch.batt[i]
            has_batt = ~np.isnan(batt)
            devices.battery[d[has_batt]] = batt[has_batt]
            self.depth_ts[d] = ts
            self.depth[d] = depth[i]
        self.silence.note_heard(dev, batch.recv[idx])

    def remember_depths(self, batch: FixBatch, depth: FloatArray) -> None:
        """After the sequential pass: the depth of each device's newest fix,
        where that fix came in this batch."""
        known = np.flatnonzero(batch.dev >= 0)
        dev = batch.dev[known]
        newest = self.devices.hist_ts[dev, -1] == batch.ts[known]
        self.depth_ts[dev[newest]] = batch.ts[known][newest]
        self.depth[dev[newest]] = depth[known][newest]
