"""The engine's ``TrackSource`` live: the fixes table, read for late fixes
older than the engine's memory (emon/engine/past_tracks.py).

The engine runs on the event loop, so a store that cannot answer must not
hold it up message after message: after a failed read the store is left
alone for ``RETRY_AFTER_S`` and late fixes are judged against memory only
(as before this source existed), each such read counted and logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from emon.storage import Store
from emon.storage.schema import Row

log = logging.getLogger("emon.stored_tracks")

#: seconds a failed store is left alone: a database restart takes about this long,
#: and waiting out a 5 s connect timeout on every late batch would stall enforcement
RETRY_AFTER_S = 30.0


class StoredTracks:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.failures = 0
        self._resting_until = 0.0

    def fixes_between(self, device_ids: Sequence[str], start: int, end: int) -> list[Row]:
        if time.monotonic() < self._resting_until:
            self.failures += 1
            return []
        try:
            return self.store.fixes_between(device_ids, start, end)
        except Exception:
            self.failures += 1
            self._resting_until = time.monotonic() + RETRY_AFTER_S
            log.exception("stored track of %s unreadable: judged against memory", device_ids)
            return []
