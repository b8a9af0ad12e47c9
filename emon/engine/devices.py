"""Per-device live state in flat numpy arrays: small, and ready for batch updates.

About 450 bytes a device: a short history of plausible fixes (for interpolating a
contact partner and for evaluating the segment since the last fix), a
duplicate window over the message counter, and liveness.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from emon.geofence.frame import FloatArray
from emon.rows import capacity_for, grown
from emon.timeutil import Millis

HISTORY = 8
SEQ_WINDOW_WORDS = 16  # 1024 counters: 8.5 hours of fixes at 30 s
NONE_TS = np.iinfo(np.int64).min
#: a fresh row's value in each array (``None``: the device's activation time)
_FRESH: dict[str, tuple[tuple[int, ...], Any, Any]] = {
    "last_recv": ((), np.int64, None),
    #: the last message of any kind (a fix, an event, an acknowledgement): a
    #: sign of life, though only fixes hold off signal_lost (the contract's rule)
    "last_heard": ((), np.int64, None),
    "last_ts": ((), np.int64, NONE_TS),
    "hist_ts": ((HISTORY,), np.int64, NONE_TS),
    "hist_xyz": ((HISTORY, 3), np.float64, 0.0),
    "hist_acc": ((HISTORY,), np.float32, 0.0),
    "seq_hi": ((), np.int64, -1),
    "seq_bits": ((SEQ_WINDOW_WORDS,), np.uint64, 0),
    "battery": ((), np.float32, np.nan),
    #: the current discharge run: since when, from what level (emon/engine/battery.py)
    "batt_run_ts": ((), np.int64, NONE_TS),
    "batt_run_pct": ((), np.float64, np.nan),
}


class DeviceTable:
    """Rows of device state, by device id. A row is taken when an order names
    a device and given back when no order does; a row taken again starts
    fresh (the state of a device no order watches is not kept)."""

    last_recv: NDArray[np.int64]
    last_heard: NDArray[np.int64]
    last_ts: NDArray[np.int64]
    hist_ts: NDArray[np.int64]
    hist_xyz: FloatArray
    hist_acc: NDArray[np.float32]
    seq_hi: NDArray[np.int64]
    seq_bits: NDArray[np.uint64]
    battery: NDArray[np.float32]
    batt_run_ts: NDArray[np.int64]
    batt_run_pct: NDArray[np.float64]

    def __init__(self, device_ids: list[str], activation: Millis) -> None:
        #: row -> device id (a row given back keeps its last id until taken again)
        self.ids: list[str] = []
        #: device id -> row, for the devices some order names
        self.index: dict[str, int] = {}
        self._free: list[int] = []
        for name, (shape, dtype, fill) in _FRESH.items():
            setattr(self, name, np.full((0, *shape), activation if fill is None else fill, dtype))
        self.take(device_ids, activation)

    def __len__(self) -> int:
        """Rows ever used (live or given back): the extent of every row array."""
        return len(self.ids)

    @property
    def capacity(self) -> int:
        return len(self.last_recv)

    def take(self, device_ids: list[str], activation: Millis) -> list[int]:
        """Rows for devices not in the table, fresh as of ``activation``."""
        rows = []
        for device_id in device_ids:
            if self._free:
                row = self._free.pop()
                self.ids[row] = device_id
            else:
                row = len(self.ids)
                self.ids.append(device_id)
            self.index[device_id] = row
            rows.append(row)
        capacity = capacity_for(len(self.ids), self.capacity)
        taken = np.array(rows, dtype=np.int64)
        for name, (_, _, fill) in _FRESH.items():
            value = activation if fill is None else fill
            array = grown(getattr(self, name), capacity, value)
            array[taken] = value
            setattr(self, name, array)
        return rows

    def give_back(self, rows: list[int]) -> None:
        """Rows of devices no order names any more (their ids become unknown)."""
        for row in rows:
            del self.index[self.ids[row]]
            self._free.append(row)

    def signs_of_life(self, dev: int, at: Millis) -> None:
        self.last_heard[dev] = max(int(self.last_heard[dev]), at)

    def carry(self, new: int, old: DeviceTable, before: int) -> None:
        """A device's state from the table of an engine built for earlier orders."""
        for name in _FRESH:
            getattr(self, name)[new] = getattr(old, name)[before]

    @property
    def state_bytes(self) -> int:
        """Bytes of live per-device state (the arrays), for capacity planning."""
        return sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray))

    # -- duplicates ---------------------------------------------------------
    def seen_before(self, dev: int, seq: int) -> bool:
        """Mark (dev, seq) as seen; True when it already was.

        A ring of bits indexed by seq mod W: when the high-water mark moves up,
        the bits it passes are cleared, so each bit speaks for the latest
        counter with its residue. Counters below the window are treated as new
        (data is never dropped on a guess); they are rare buffered fixes.
        """
        hi = int(self.seq_hi[dev])
        window = SEQ_WINDOW_WORDS * 64
        if seq > hi:
            row = self.seq_bits[dev]
            if seq - hi >= window or hi < 0:
                row[:] = 0
            else:
                for s in range(hi + 1, seq):
                    row[(s % window) >> 6] &= ~np.uint64(1 << (s & 63))
            row[(seq % window) >> 6] |= np.uint64(1 << (seq & 63))
            self.seq_hi[dev] = seq
            return False
        if seq <= hi - window:
            return False
        word, bit = (seq % window) >> 6, np.uint64(1 << (seq & 63))
        if self.seq_bits[dev, word] & bit:
            return True
        self.seq_bits[dev, word] |= bit
        return False

    # -- positions ------------------------------------------------------------
    def newest(self, dev: int) -> tuple[Millis, FloatArray, float] | None:
        ts = int(self.hist_ts[dev, -1])
        if ts == NONE_TS:
            return None
        return ts, self.hist_xyz[dev, -1].copy(), float(self.hist_acc[dev, -1])

    def remember(self, dev: int, ts: Millis, xyz: FloatArray, acc: float) -> None:
        """Insert a plausible fix into the time-ordered history."""
        times = self.hist_ts[dev]
        pos = int(np.searchsorted(times, ts, side="right"))
        if pos == 0:
            return  # older than everything kept
        if pos > 0 and times[pos - 1] == ts:
            return
        # shift the older part left by one, dropping the oldest
        self.hist_ts[dev, : pos - 1] = times[1:pos]
        self.hist_xyz[dev, : pos - 1] = self.hist_xyz[dev, 1:pos]
        self.hist_acc[dev, : pos - 1] = self.hist_acc[dev, 1:pos]
        self.hist_ts[dev, pos - 1] = ts
        self.hist_xyz[dev, pos - 1] = xyz
        self.hist_acc[dev, pos - 1] = acc

    def before(self, dev: int, ts: Millis) -> tuple[Millis, FloatArray, float] | None:
        """The newest remembered fix strictly before ts."""
        times = self.hist_ts[dev]
        pos = int(np.searchsorted(times, ts, side="left")) - 1
        if pos < 0 or times[pos] == NONE_TS:
            return None
        return int(times[pos]), self.hist_xyz[dev, pos].copy(), float(self.hist_acc[dev, pos])

    def position_at(
        self, dev: int, ts: Millis, stale_ms: Millis, extrapolate_ms: Millis
    ) -> tuple[FloatArray, float] | None:
        """Where the device was at ts, from the fixes remembered (``position_on``)."""
        return position_on(
            self.hist_ts[dev], self.hist_xyz[dev], self.hist_acc[dev], ts, stale_ms, extrapolate_ms
        )

    def remembers(self, dev: int, ts: Millis) -> bool:
        """Whether the history reaches back to ts (a fix at or before it is kept)."""
        times = self.hist_ts[dev]
        return bool(np.any((times != NONE_TS) & (times <= ts)))

    def remembered(self, dev: int) -> list[tuple[Millis, FloatArray, float]]:
        """The fixes kept, oldest first."""
        return [
            (int(t), self.hist_xyz[dev, k].copy(), float(self.hist_acc[dev, k]))
            for k, t in enumerate(self.hist_ts[dev].tolist())
            if t != NONE_TS
        ]

    def position_after(self, dev: int, ts: Millis) -> Millis:
        """Time of the first remembered fix after ts (or the newest live fix)."""
        times = self.hist_ts[dev]
        pos = int(np.searchsorted(times, ts, side="right"))
        if pos < HISTORY:
            return int(times[pos])
        return max(int(self.last_ts[dev]), ts)


def position_on(
    times: NDArray[np.int64],
    xyz: FloatArray,
    acc: NDArray[np.floating[Any]],
    ts: Millis,
    stale_ms: Millis,
    extrapolate_ms: Millis,
) -> tuple[FloatArray, float] | None:
    """Where a track (times ascending, ``NONE_TS`` padding first) was at ts:
    interpolated between fixes, or carried forward along its last velocity
    for a short while, or None when its newest fix is too old (or it has
    none, or none before ts)."""
    pos = int(np.searchsorted(times, ts, side="right"))
    if pos < len(times):
        if pos == 0 or times[pos - 1] == NONE_TS:
            return None
        t0, t1 = int(times[pos - 1]), int(times[pos])
        w = (ts - t0) / (t1 - t0)
        return xyz[pos - 1] * (1 - w) + xyz[pos] * w, max(float(acc[pos - 1]), float(acc[pos]))
    t1 = int(times[-1]) if len(times) else NONE_TS
    if t1 == NONE_TS or ts - t1 > stale_ms:
        return None
    here = xyz[-1].copy()
    uncertainty = float(acc[-1])
    t0 = int(times[-2]) if len(times) > 1 else NONE_TS
    if t0 != NONE_TS and t1 > t0 and ts > t1:
        ahead = min(ts - t1, extrapolate_ms)
        velocity = (here - xyz[-2]) / (t1 - t0)
        here = here + velocity * ahead
        # held on past the extrapolation: it may have gone as far as it was going
        uncertainty += float(np.linalg.norm(velocity)) * max(0, ts - t1 - extrapolate_ms)
    return here, uncertainty
