"""Reminders before valid_until fall on the right local morning, DST or not."""

from __future__ import annotations

from emon.orders import parse_order
from emon.review.reminders import ReminderPolicy, due, reminder_times
from emon.timeutil import parse_ts
from simulators.scenarios import ROTTERDAM, base_order

POLICY = ReminderPolicy(days=(14, 3), hour=9)


def order(valid_until: str, tz: str = "Europe/Amsterdam"):
    return parse_order(base_order(ROTTERDAM, valid_until=valid_until, timezone=tz))


def test_a_reminder_across_the_spring_change_is_at_nine_local():
    # runs out at midnight 1 April 2027 (summer time, +02:00); clocks change on 28 March
    o = order("2027-03-31T22:00:00Z")
    (d14, at14), (d3, at3) = reminder_times(o, POLICY)
    assert (d14, at14) == (14, parse_ts("2027-03-18T08:00:00Z"))  # 09:00 CET (+01:00)
    assert (d3, at3) == (3, parse_ts("2027-03-29T07:00:00Z"))  # 09:00 CEST (+02:00)


def test_a_reminder_across_the_autumn_change():
    o = order("2026-11-01T12:00:00Z")  # clocks went back on 25 October 2026
    (_, at14), (_, at3) = reminder_times(o, POLICY)
    assert at14 == parse_ts("2026-10-18T07:00:00Z") and at3 == parse_ts("2026-10-29T08:00:00Z")


def test_only_the_latest_reminder_then_the_lapse():
    o = order("2027-03-31T22:00:00Z")
    assert due(o, parse_ts("2027-03-18T07:59:59Z"), POLICY) is None
    first = due(o, parse_ts("2027-03-18T08:00:00Z"), POLICY)
    assert first is not None and first["type"] == "order_expiring"
    late = due(o, parse_ts("2027-03-30T00:00:00Z"), POLICY)
    assert late is not None and late["days_before"] == 3  # not the stale 14-day one
    assert late["reminder_id"] != first["reminder_id"]
    assert due(o, parse_ts("2027-03-30T00:00:01Z"), POLICY)["reminder_id"] == late["reminder_id"]
    lapsed = due(o, parse_ts("2027-03-31T22:00:00Z"), POLICY)
    assert lapsed is not None and lapsed["type"] == "order_lapsed"
    # said in both languages, the last day as a date in the order's own time zone
    assert "in 3 days" in late["text"]["en"] and "over 3 dagen" in late["text"]["nl"]
    assert "2027-04-01 00:00 (Europe/Amsterdam)" in late["text"]["nl"]
    assert "afgelopen" in lapsed["text"]["nl"]


def test_an_extension_is_a_new_reminder_schedule():
    before = due(order("2027-03-31T22:00:00Z"), parse_ts("2027-03-30T00:00:00Z"), POLICY)
    after = due(order("2027-09-30T22:00:00Z"), parse_ts("2027-09-28T00:00:00Z"), POLICY)
    assert before is not None and after is not None
    assert before["reminder_id"] != after["reminder_id"]
