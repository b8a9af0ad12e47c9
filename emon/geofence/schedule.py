"""When a zone is enforced: weekly windows in the order's own time zone.

Windows are wall-clock times, so a 22:00-06:00 curfew starts at 22:00 local on
both sides of a daylight-saving change. A window whose end is not after its
start runs past midnight into the next day; its ``days`` name the day it
starts. Equal start and end means the whole day.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from emon.orders import ScheduleWindow, parse_hhmm
from emon.timeutil import Millis, from_millis, to_millis

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FAR_FUTURE = 2**62


class Schedule:
    """Answers "is it active at t, and until when does that hold", cached per interval."""

    __slots__ = ("_cache", "_tz", "_windows")

    def __init__(self, windows: list[ScheduleWindow] | None, tz: ZoneInfo) -> None:
        self._tz = tz
        self._windows = (
            None
            if windows is None
            else [
                (
                    frozenset(WEEKDAYS.index(d) for d in w.days),
                    parse_hhmm(w.start),
                    parse_hhmm(w.end),
                )
                for w in windows
            ]
        )
        self._cache: tuple[Millis, Millis, bool] = (0, -1, False)

    @property
    def always(self) -> bool:
        return self._windows is None

    def active_at(self, t: Millis) -> bool:
        return self.state_at(t)[2]

    def state_at(self, t: Millis) -> tuple[Millis, Millis, bool]:
        """(since, until, active): the stretch of constant state that holds t."""
        if self._windows is None:
            return (-_FAR_FUTURE, _FAR_FUTURE, True)
        lo, hi, _ = self._cache
        if lo <= t < hi:
            return self._cache
        self._cache = self._compute(t)
        return self._cache

    def _compute(self, t: Millis) -> tuple[Millis, Millis, bool]:
        local_day = from_millis(t).astimezone(self._tz).date()
        intervals = _merge(self._intervals(local_day - timedelta(days=8), 17))
        previous_end = -_FAR_FUTURE
        for start, end in intervals:
            if t < start:
                return (previous_end, start, False)
            if t < end:
                return (start, end, True)
            previous_end = end
        return (previous_end, _FAR_FUTURE, False)

    def _intervals(self, first_day: date, n_days: int) -> list[tuple[Millis, Millis]]:
        assert self._windows is not None
        out = []
        for offset in range(n_days):
            day = first_day + timedelta(days=offset)
            for days, start, end in self._windows:
                if day.weekday() not in days:
                    continue
                length = end - start if end > start else end + 24 * 60 - start
                out.append((self._local(day, start), self._local(day, start + length)))
        return out

    def _local(self, day: date, minutes: int) -> Millis:
        wall = datetime(day.year, day.month, day.day) + timedelta(minutes=minutes)
        return to_millis(wall.replace(tzinfo=self._tz))


def _merge(intervals: list[tuple[Millis, Millis]]) -> list[tuple[Millis, Millis]]:
    merged: list[tuple[Millis, Millis]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        elif end > start:
            merged.append((start, end))
    return merged
