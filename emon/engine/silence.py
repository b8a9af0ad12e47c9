"""When each device must next be heard from, and which are lost (signal_lost).

A device's deadline is its last reception (or its order's start, if later)
plus the shortest silence its orders allow. All deadlines are scanned (one
vectorised pass) only when the clock passes a horizon; in between, a heap
holds the few devices whose deadline falls before it. Deadlines only move
later (a fix), so nobody is missed; a device heard from since it was queued
is queued again at its new deadline. Cost: O(devices) per horizon, not per
tick, which at a million devices is the difference between microseconds and
seconds a batch.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from emon.engine.orders_index import Role
from emon.rows import capacity_for, grown
from emon.timeutil import Millis

#: how far ahead silence deadlines are queued between full scans
SILENCE_HORIZON_MS = 60_000
#: a deadline that never comes (a device no order watches for silence)
NEVER = np.iinfo(np.int64).max
#: the next check when nothing is queued (beyond any real clock)
FAR_FUTURE: Millis = 2**62


class SilenceWatch:
    def __init__(self, start: Millis) -> None:
        #: the silence (ms) each device is allowed, and from when it is watched
        self.silence_ms = np.zeros(0, dtype=np.int64)
        self.watch_from = np.zeros(0, dtype=np.int64)
        #: devices whose signal_lost is raised (not watched again until heard)
        self.lost = np.zeros(0, dtype=bool)
        #: the clock at which the queue must be looked at again
        self.next_check: Millis = start
        self._horizon: Millis = start  # all deadlines are scanned again from here
        self._queue: list[tuple[Millis, int]] = []  # (deadline, device), a heap

    def grow(self, rows: int) -> None:
        capacity = capacity_for(rows, len(self.lost))
        self.silence_ms = grown(self.silence_ms, capacity, NEVER)
        self.watch_from = grown(self.watch_from, capacity, NEVER)
        self.lost = grown(self.lost, capacity, False)

    def reset(self, rows: list[int]) -> None:
        """Rows taken fresh or given back: not lost, and (until watched) not watched."""
        self.lost[rows] = False
        self.silence_ms[rows] = NEVER
        self.watch_from[rows] = NEVER

    def watch(self, rows: list[int], roles: Sequence[list[Role]]) -> None:
        """The silence each of these devices is allowed by the orders it is now in."""
        for dev in rows:
            self.silence_ms[dev] = min((r.order.silence_ms for r in roles[dev]), default=NEVER)
            self.watch_from[dev] = min((r.order.valid_from for r in roles[dev]), default=NEVER)

    def deadline(self, dev: int, last_recv: int) -> Millis:
        return max(last_recv, int(self.watch_from[dev])) + int(self.silence_ms[dev])

    def deadline_floor(
        self, dev: NDArray[np.int64], last_recv: NDArray[np.int64]
    ) -> NDArray[np.int64]:
        """The deadlines of these devices had they last been heard at ``last_recv``."""
        deadline: NDArray[np.int64] = (
            np.maximum(last_recv, self.watch_from[dev]) + self.silence_ms[dev]
        )
        return deadline

    def note_heard(self, dev: NDArray[np.int64], recv: NDArray[np.int64]) -> None:
        """Devices heard in bulk (the fast path): their next deadline counts."""
        if len(dev):
            soonest = int((recv + self.silence_ms[dev]).min())
            self.next_check = min(self.next_check, soonest)

    def heard(self, dev: int, now: Millis) -> bool:
        """One device heard at ``now``. True if it was lost (its alert ends)."""
        deadline = now + int(self.silence_ms[dev])
        self.next_check = min(self.next_check, deadline)
        if not self.lost[dev]:
            return False
        self.lost[dev] = False
        self._horizon = min(self._horizon, deadline)  # watched again
        return True

    def due(self, now: Millis, last_recv: NDArray[np.int64]) -> list[tuple[Millis, int]]:
        """(deadline, device) of every device silent past its deadline by ``now``."""
        due: list[tuple[Millis, int]] = []
        if now < self.next_check:
            return due
        if now >= self._horizon:
            self._scan(now, last_recv)
        queue = self._queue
        taken: set[int] = set()  # a device queued twice (its orders changed) is due once
        while queue and queue[0][0] <= now:
            deadline, dev = heapq.heappop(queue)
            if self.lost[dev] or self.silence_ms[dev] == NEVER or dev in taken:
                continue  # lost already, no longer watched, or due already
            current = self.deadline(dev, int(last_recv[dev]))
            if current > deadline:
                if current <= self._horizon:
                    heapq.heappush(queue, (current, dev))
                continue
            due.append((deadline, dev))
            taken.add(dev)
        self.next_check = min(queue[0][0] if queue else FAR_FUTURE, self._horizon)
        return due

    def _scan(self, now: Millis, last_recv: NDArray[np.int64]) -> None:
        horizon = now + SILENCE_HORIZON_MS
        last_recv = last_recv[: len(self.lost)]  # the same rows (capacities grow alike)
        deadlines = np.maximum(last_recv, self.watch_from) + self.silence_ms
        watched = ~self.lost & (self.silence_ms < NEVER)
        soon = np.flatnonzero(watched & (deadlines <= horizon))
        self._queue = list(zip(deadlines[soon].tolist(), soon.tolist(), strict=True))
        heapq.heapify(self._queue)
        self._horizon = horizon

    def requeue(self, rows: list[int], last_recv: NDArray[np.int64]) -> None:
        """Devices whose allowed silence changed: queued at their new deadline
        if it falls before the horizon (an entry left at an old one is
        checked against the current deadline when it comes up)."""
        for dev in rows:
            if self.lost[dev] or self.silence_ms[dev] == NEVER:
                continue
            deadline = self.deadline(dev, int(last_recv[dev]))
            if deadline <= self._horizon:
                heapq.heappush(self._queue, (deadline, dev))
                self.next_check = min(self.next_check, deadline)

    def rescan_from(self, now: Millis) -> None:
        """Every deadline looked at again from ``now`` (a new set of orders)."""
        self.next_check = self._horizon = now
