"""The reminder schedule: due once, moved by an extension."""

from __future__ import annotations

from emon.geofence.validation import validate
from emon.orders import parse_order
from emon.service.orderbook import Registered
from emon.service.reminder_schedule import ReminderSchedule
from emon.timeutil import format_ts, parse_ts
from simulators.scenarios import ROTTERDAM, base_order

NOW = parse_ts("2026-11-28T10:00:00Z")
DAY = 86_400_000


def registered(until_days: float) -> dict[str, Registered]:
    body = base_order(ROTTERDAM, valid_from="2026-01-01T00:00:00Z",
                      valid_until=format_ts(NOW + int(until_days * DAY)))  # fmt: skip
    return {body["order_id"]: Registered(parse_order(body), body, 1, validate(body))}


def test_a_reminder_is_due_once():
    schedule = ReminderSchedule()
    orders = registered(2.5)
    (first,) = schedule.due_now(orders, NOW)
    assert first["type"] == "order_expiring" and first["days_before"] == 3
    assert schedule.due_now(orders, NOW + 1000) == []
    assert first["reminder_id"] in schedule.sent


def test_an_extension_moves_the_reminders():
    schedule = ReminderSchedule()
    orders = registered(40)
    assert schedule.due_now(orders, NOW) == []  # 28 days before is still ahead
    extended = registered(10)
    order_id = next(iter(extended))
    schedule.moved(order_id)
    (reminder,) = schedule.due_now(extended, NOW)
    assert reminder["days_before"] == 14
