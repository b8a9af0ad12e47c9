"""Storage made ahead of time, for as long as the service runs: the monthly
partitions of the coming months (emon/storage/partitions.py), at start-up and
then every ``PERIOD_S``. A store away for a while only delays it: months are
made ``MONTHS_AHEAD`` ahead, so an upkeep missed for weeks sends no row to
the default partition."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from emon.storage import Store
from emon.timeutil import Millis

log = logging.getLogger("emon.storage_upkeep")

#: an hour: months are made three ahead, so this only bounds how late a repair runs
PERIOD_S = 3600.0


async def run_upkeep(store: Store, clock: Callable[[], Millis], period_s: float = PERIOD_S) -> None:
    """Forever: make what the store will need by ``clock()``; log what was made.
    The first round waits a period: the store's migrate made them at start-up."""
    while True:
        await asyncio.sleep(period_s)
        try:
            made = await asyncio.to_thread(store.upkeep, clock())
            if made:
                log.info("storage upkeep made %s", ", ".join(made))
        except Exception:  # the database may be away: next period, then
            log.exception("storage upkeep could not run")
