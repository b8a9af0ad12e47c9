"""Schedules in the order's time zone: midnight, daylight saving, merging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from emon.geofence.schedule import WEEKDAYS, Schedule
from emon.orders import ScheduleWindow
from emon.timeutil import parse_ts, to_millis

AMS = ZoneInfo("Europe/Amsterdam")
EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def curfew(days=EVERY_DAY, start="22:00", end="06:00", tz=AMS) -> Schedule:
    return Schedule([ScheduleWindow(days, start, end)], tz)


def test_null_schedule_is_always_active():
    assert Schedule(None, AMS).active_at(parse_ts("2026-11-28T12:00:00Z"))


def test_night_window_runs_past_midnight():
    s = curfew()
    assert not s.active_at(parse_ts("2026-11-28T20:59:59Z"))  # 21:59:59 CET
    assert s.active_at(parse_ts("2026-11-28T21:00:00Z"))  # 22:00 CET
    assert s.active_at(parse_ts("2026-11-29T04:59:59Z"))
    assert not s.active_at(parse_ts("2026-11-29T05:00:00Z"))  # 06:00 CET


def test_curfew_starts_at_local_time_on_both_sides_of_dst():
    s = curfew()
    # summer (CEST, UTC+2): 22:00 local is 20:00 UTC
    assert s.active_at(parse_ts("2026-07-01T20:00:00Z"))
    assert not s.active_at(parse_ts("2026-07-01T19:59:00Z"))
    # the night clocks go back (25 Oct 2026): 22:00 CEST to 06:00 CET is 9 hours
    since, until, active = s.state_at(parse_ts("2026-10-25T00:00:00Z"))
    assert active and (until - since) == 9 * 3600_000
    # the night clocks go forward (29 Mar 2026): 7 hours
    since, until, active = s.state_at(parse_ts("2026-03-29T00:00:00Z"))
    assert active and (until - since) == 7 * 3600_000


def test_days_name_the_day_a_window_starts():
    friday_night = curfew(days=["fri"])
    assert friday_night.active_at(parse_ts("2026-11-28T02:00:00Z"))  # Sat 03:00, from Fri
    assert not friday_night.active_at(parse_ts("2026-11-29T02:00:00Z"))  # Sun 03:00


def test_adjacent_windows_merge_into_one_stretch():
    s = Schedule(
        [ScheduleWindow(["sat"], "08:00", "12:00"), ScheduleWindow(["sat"], "12:00", "18:00")], AMS
    )
    since, until, active = s.state_at(parse_ts("2026-11-28T10:00:00Z"))
    assert active and until - since == 10 * 3600_000


def _brute_force(windows, tz, moment: datetime) -> bool:
    local = moment.astimezone(tz)
    minute = local.hour * 60 + local.minute
    today, yesterday = WEEKDAYS[local.weekday()], WEEKDAYS[(local.weekday() - 1) % 7]
    for days, start, end in windows:
        if end > start:
            if today in days and start <= minute < end:
                return True
        else:
            if today in days and minute >= start:
                return True
            if yesterday in days and minute < end:
                return True
    return False


@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from(EVERY_DAY), min_size=1, max_size=7, unique=True),
            st.integers(0, 23 * 4).map(lambda q: q * 15),
            st.integers(0, 23 * 4).map(lambda q: q * 15),
        ),
        min_size=1,
        max_size=3,
    ),
    st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31)),
    st.sampled_from(["Europe/Amsterdam", "America/New_York", "Australia/Sydney", "UTC"]),
)
def test_matches_a_brute_force_wall_clock_check(windows, naive, tz_name):
    tz = ZoneInfo(tz_name)
    moment = naive.replace(tzinfo=UTC, second=0, microsecond=0)
    spec = [
        ScheduleWindow(days, f"{s // 60:02d}:{s % 60:02d}", f"{e // 60:02d}:{e % 60:02d}")
        for days, s, e in windows
    ]
    expected = _brute_force([(set(d), s, e) for d, s, e in windows], tz, moment)
    # skip the hour around a DST change, where wall-clock minutes are ambiguous
    local = moment.astimezone(tz)
    shifted = (moment + timedelta(hours=2)).astimezone(tz).utcoffset() != local.utcoffset()
    shifted |= (moment - timedelta(hours=2)).astimezone(tz).utcoffset() != local.utcoffset()
    if not shifted:
        assert Schedule(spec, tz).active_at(to_millis(moment)) == expected
