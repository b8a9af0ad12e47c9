"""Event times as integer milliseconds since the Unix epoch.

Integers, not floats, so that replay is bit-for-bit deterministic and a
millisecond written out is the millisecond read in.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

Millis = int


class TimestampError(ValueError):
    """A timestamp that is not RFC 3339 with a time zone."""


def parse_ts(text: str) -> Millis:
    """Parse an RFC 3339 timestamp (``Z`` or an offset) to epoch milliseconds.
    Only 1970 to 9999: nothing emon keeps is older, and every time it reads
    must format back (year 1 with an offset would overflow)."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError) as exc:
        raise TimestampError(f"not an RFC 3339 timestamp: {text!r}") from exc
    if moment.tzinfo is None:
        raise TimestampError(f"timestamp without time zone: {text!r}")
    try:
        ms = to_millis(moment)
    except OverflowError as exc:
        raise TimestampError(f"timestamp out of range: {text!r}") from exc
    if not 0 <= ms <= LATEST_MS:
        raise TimestampError(f"timestamp out of range (1970 to 9999): {text!r}")
    return ms


#: 9999-12-31T23:59:59.999Z, the last time datetime can format
LATEST_MS = 253_402_300_799_999


def now_ms() -> Millis:
    """The wall clock, in ms (the live service's; the engine takes its clock from messages)."""
    return time.time_ns() // 1_000_000


def to_millis(moment: datetime) -> Millis:
    """Exact conversion (floor to the millisecond): timedelta arithmetic, no floats."""
    return (moment - EPOCH) // ONE_MS


def format_ts(ms: Millis) -> str:
    """Epoch milliseconds to ``2026-11-28T13:45:12.123Z``."""
    seconds, millis = divmod(ms, 1000)
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}Z"


def from_millis(ms: Millis) -> datetime:
    return datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=(ms % 1000) * 1000)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)
