"""Duplicate window and position history of the device table."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from emon.engine.devices import HISTORY, SEQ_WINDOW_WORDS, DeviceTable


@given(st.lists(st.integers(0, 10_000), max_size=300))
def test_duplicates_are_exactly_the_repeats_within_the_window(seqs):
    table = DeviceTable(["d"], 0)
    seen: set[int] = set()
    for seq in seqs:
        hi = max(seen, default=-1)
        within = seq > hi - SEQ_WINDOW_WORDS * 64
        assert table.seen_before(0, seq) == (seq in seen and within)
        seen.add(seq)


def test_interpolates_between_fixes_and_carries_on_briefly():
    table = DeviceTable(["d"], 0)
    table.remember(0, 0, np.array([0.0, 0.0, 0.0]), 5)
    table.remember(0, 10_000, np.array([100.0, 0.0, 0.0]), 5)
    xyz, _ = table.position_at(0, 5_000, 60_000, 30_000)
    assert np.allclose(xyz, [50, 0, 0])
    xyz, _ = table.position_at(0, 20_000, 60_000, 30_000)
    assert np.allclose(xyz, [200, 0, 0])
    xyz, _ = table.position_at(0, 60_000, 60_000, 30_000)
    assert np.allclose(xyz, [400, 0, 0])  # extrapolation capped at 30 s
    assert table.position_at(0, 70_001, 60_000, 30_000) is None  # too stale


def test_history_stays_sorted_with_late_inserts():
    table = DeviceTable(["d"], 0)
    for t in [5, 1, 9, 3, 7, 2, 8, 4, 6, 10]:
        table.remember(0, t, np.array([t, 0.0, 0.0]), 1)
    assert list(table.hist_ts[0]) == list(range(10 - HISTORY + 1, 11))
