"""One background writer for everything stored, never on the alert path.

A slow or absent database delays no alert. Writes that fail are spooled to a
file and written when the database is back; rows the database refuses (a
duplicate key) are set aside, never retried forever.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from emon.storage.base import Store
from emon.storage.schema import TABLES, Row

log = logging.getLogger("emon.store")


def _refused_errors() -> tuple[type[Exception], ...]:
    """Errors that mean "not these rows", as opposed to "not now"."""
    errors: list[type[Exception]] = [sqlite3.IntegrityError, sqlite3.DataError]
    try:
        import psycopg

        errors += [psycopg.errors.IntegrityError, psycopg.errors.DataError]
    except ImportError:  # pragma: no cover - psycopg is a dependency
        pass
    return tuple(errors)


REFUSED = _refused_errors()


class Writer:
    """Queues writes and flushes them in the background; spools on failure."""

    def __init__(self, store: Store, spool: Path, flush_s: float = 0.2) -> None:
        self.store = store
        self.spool = spool
        self.flush_s = flush_s
        self.pending: dict[str, list[Row]] = {t: [] for t in TABLES}
        self.healthy = True
        self.written = 0
        self.refused = 0
        self.pending_acks: list[Callable[[], object]] = []
        self.refused_file = spool.with_name("emon-refused-writes.jsonl")
        self._closing = asyncio.Event()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    def add(self, table: str, rows: Sequence[Row]) -> None:
        self.pending[table].extend(rows)

    def after_durable(self, acks: Sequence[Callable[[], object]]) -> None:
        """Call these once everything added so far is stored (or spooled).

        The broker lets only so many messages wait for acknowledgement (stock
        Mosquitto: 20 per client), so waiting acks make the writer flush now
        rather than at its next tick."""
        self.pending_acks.extend(acks)
        if self.pending_acks:
            self._wake.set()

    @property
    def depth(self) -> int:
        return sum(len(rows) for rows in self.pending.values())

    async def run(self) -> None:
        """Flush every ``flush_s`` until ``close``; never cancelled mid-write,
        which would lose the batch in flight."""
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_s)
            self._wake.clear()
            await self.flush()

    async def close(self) -> None:
        self._closing.set()
        self._wake.set()
        await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            await self._flush()

    async def _flush(self) -> None:
        batch, self.pending = self.pending, {t: [] for t in TABLES}
        acks, self.pending_acks = self.pending_acks, []
        if self.spool.exists():
            if not await self._try(self._load_spool()):
                self._to_spool(batch)
                _call(acks)
                return
            self.spool.unlink()
        if any(batch.values()) and not await self._try(batch):
            self._to_spool(batch)
        _call(acks)

    async def _try(self, batch: dict[str, list[Row]]) -> bool:
        try:
            await asyncio.to_thread(self.store.write, batch)
        except REFUSED as exc:
            # the database is up but refuses these rows: write what it takes,
            # keep the refused rows aside for inspection, block nothing
            log.error("database refused a batch (%s); writing row by row", exc)
            return await self._row_by_row(batch)
        except Exception as exc:  # any other database fault: keep the data, say so
            if self.healthy:
                log.warning("database write failed, spooling to %s: %s", self.spool, exc)
            self.healthy = False
            return False
        self.written += sum(len(rows) for rows in batch.values())
        if not self.healthy:
            log.info("database back; spooled writes flushed")
        self.healthy = True
        return True

    async def _row_by_row(self, batch: dict[str, list[Row]]) -> bool:
        for table, rows in batch.items():
            for row in rows:
                try:
                    await asyncio.to_thread(self.store.write, {table: [row]})
                except REFUSED:
                    self.refused += 1
                    with self.refused_file.open("a") as out:
                        out.write(json.dumps([table, [_encode(v) for v in row]]) + "\n")
                except Exception:
                    return False
        return True

    def _to_spool(self, batch: dict[str, list[Row]]) -> None:
        with self.spool.open("a") as out:
            for table, rows in batch.items():
                for row in rows:
                    out.write(json.dumps([table, [_encode(v) for v in row]]) + "\n")
            out.flush()
            os.fsync(out.fileno())  # durable before the broker is told

    def _load_spool(self) -> dict[str, list[Row]]:
        batch: dict[str, list[Row]] = {t: [] for t in TABLES}
        for line in self.spool.read_text().splitlines():
            table, row = json.loads(line)
            batch[table].append(tuple(_decode(v) for v in row))
        return batch


def _call(acks: list[Callable[[], object]]) -> None:
    for ack in acks:
        with contextlib.suppress(Exception):  # a connection gone since: redelivered instead
            ack()


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "b64" in value:
        return base64.b64decode(value["b64"])
    return value
