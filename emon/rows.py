"""Per-row arrays that grow in place: an order change adds a device or a zone
without copying every other row (the copy of 100k devices' state is what an
order change must not cost).

Capacity grows by a quarter at a time (at least to what is asked), so
appending n rows costs O(n) amortised while slack stays under 25 % of the
memory; rows past the ones in use hold the fill value and are never live.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

#: the smallest capacity a table grows to (a handful of rows is not worth a resize)
MIN_CAPACITY = 64
#: capacity grows by 1/GROWTH_DIVISOR of itself (the slack memory kept, at most)
GROWTH_DIVISOR = 4


def capacity_for(rows: int, capacity: int) -> int:
    """The capacity holding ``rows``: the current one, or grown to hold them."""
    if rows <= capacity:
        return capacity
    return max(rows, capacity + capacity // GROWTH_DIVISOR, MIN_CAPACITY)


def grown(array: NDArray[Any], capacity: int, fill: Any) -> NDArray[Any]:
    """``array`` with ``capacity`` rows: the same object when it has them,
    else a copy whose new rows hold ``fill``."""
    if len(array) >= capacity:
        return array
    bigger = np.full((capacity, *array.shape[1:]), fill, dtype=array.dtype)
    bigger[: len(array)] = array
    return bigger


class RaggedRows:
    """Lists of fixed-width records, one list per row, in flat columns a
    batch gathers from at once (a CSR table whose rows can be rewritten).

    A rewritten row's records go to the end of the columns and its old ones
    become garbage; once garbage outweighs half the records in use, the
    columns are compacted (one numpy gather), so rewriting stays O(records
    rewritten) amortised.
    """

    def __init__(self, dtypes: dict[str, Any]) -> None:
        self.start = np.zeros(0, dtype=np.int64)
        self.count = np.zeros(0, dtype=np.int64)
        self.columns = {name: np.zeros(0, dtype=dtype) for name, dtype in dtypes.items()}
        self._used = 0
        self._garbage = 0

    def __getitem__(self, name: str) -> NDArray[Any]:
        return self.columns[name]

    def grow(self, rows: int) -> None:
        """Room for this many rows (new rows hold no records)."""
        capacity = capacity_for(rows, len(self.start))
        self.start = grown(self.start, capacity, 0)
        self.count = grown(self.count, capacity, 0)

    def rewrite(self, rows: list[int], records: list[list[tuple[Any, ...]]]) -> None:
        """Each row's records replaced by the given list (rows distinct)."""
        if not rows:
            return
        at = np.array(rows, dtype=np.int64)
        self._garbage += int(self.count[at].sum())
        counts = np.array([len(r) for r in records], dtype=np.int64)
        total = int(counts.sum())
        end = self._used + total
        capacity = capacity_for(end, len(next(iter(self.columns.values()))))
        flat = [record for row in records for record in row]
        for j, (name, column) in enumerate(self.columns.items()):
            column = grown(column, capacity, 0)
            if total:
                column[self._used : end] = [record[j] for record in flat]
            self.columns[name] = column
        self.start[at] = self._used + np.cumsum(counts) - counts
        self.count[at] = counts
        self._used = end
        if self._garbage > max(self._used // 2, MIN_CAPACITY):
            self._compact()

    def pairs(self, rows: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Every record of each of these rows: (position in ``rows`` of each
        record, index of the record in the columns)."""
        counts = self.count[rows]
        owner = np.repeat(np.arange(len(rows)), counts)
        first = np.repeat(self.start[rows] - np.cumsum(counts) + counts, counts)
        return owner, np.arange(len(owner)) + first

    def _compact(self) -> None:
        live = np.flatnonzero(self.count)
        _, record = self.pairs(live)
        for name, column in self.columns.items():
            self.columns[name] = column[record]
        counts = self.count[live]
        self.start[live] = np.cumsum(counts) - counts
        self._used, self._garbage = len(record), 0
