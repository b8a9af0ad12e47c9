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

import numpy as np
from numpy.typing import NDArray

from emon.engine.orders_index import OrderIndex
from emon.timeutil import Millis

#: how far ahead silence deadlines are queued between full scans
SILENCE_HORIZON_MS = 60_000
#: a deadline that never comes (a device no order watches for silence)
NEVER = np.iinfo(np.int64).max
#: the next check when nothing is queued (beyond any real clock)
FAR_FUTURE: Millis = 2**62


class SilenceWatch:
    def __init__(self, index: OrderIndex, n_devices: int, start: Millis) -> None:
        silence = np.full(n_devices, NEVER, dtype=np.int64)
        watch_from = np.full(n_devices, NEVER, dtype=np.int64)
        for dev, roles in enumerate(index.roles):
            for role in roles:
                silence[dev] = min(silence[dev], role.order.silence_ms)
                watch_from[dev] = min(watch_from[dev], role.order.valid_from)
        #: the silence (ms) each device is allowed, and from when it is watched
        self.silence_ms = silence
        self.watch_from = watch_from
        #: devices whose signal_lost is raised (not watched again until heard)
        self.lost = np.zeros(n_devices, dtype=bool)
        #: the clock at which the queue must be looked at again
        self.next_check: Millis = start
        self._horizon: Millis = start  # all deadlines are scanned again from here
        self._queue: list[tuple[Millis, int]] = []  # (deadline, device), a heap

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
        while queue and queue[0][0] <= now:
            deadline, dev = heapq.heappop(queue)
            if self.lost[dev]:
                continue
            current = self.deadline(dev, int(last_recv[dev]))
            if current > deadline:
                if current <= self._horizon:
                    heapq.heappush(queue, (current, dev))
                continue
            due.append((deadline, dev))
        self.next_check = min(queue[0][0] if queue else FAR_FUTURE, self._horizon)
        return due

    def _scan(self, now: Millis, last_recv: NDArray[np.int64]) -> None:
        horizon = now + SILENCE_HORIZON_MS
        deadlines = np.maximum(last_recv, self.watch_from) + self.silence_ms
        watched = ~self.lost & (self.silence_ms < NEVER)
        soon = np.flatnonzero(watched & (deadlines <= horizon))
        self._queue = list(zip(deadlines[soon].tolist(), soon.tolist(), strict=True))
        heapq.heapify(self._queue)
        self._horizon = horizon

    def rescan_from(self, now: Millis) -> None:
        """Every deadline looked at again from ``now`` (a new set of orders)."""
        self.next_check = self._horizon = now
