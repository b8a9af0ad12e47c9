"""Reminders before an order runs out, and a notice when it lapses.

Gedragsaanwijzingen are extended late or not at all because nobody is
reminded. A reminder falls on a calendar day in the order's own time zone
(``days`` before the local date of ``valid_until``, at ``hour`` o'clock local
time), so it lands on the right morning across daylight-saving changes. Only
the latest reminder due is sent: after a restart nobody is sent a stale
14-day reminder when 3 days are left. Reminders are not alerts (no device
did anything): they go to the supervisor and the OM on topics of their own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from emon.orders import Order
from emon.timeutil import Millis, format_ts, to_millis

_NAMESPACE = uuid.UUID("0b5d1f4e-52a1-4c8e-8f0e-7d2a9c6e3b21")


@dataclass(frozen=True)
class ReminderPolicy:
    #: days before valid_until on which the supervisor and the OM are reminded
    days: tuple[int, ...] = (28, 14, 3)
    hour: int = 9


def reminder_policy(config: dict[str, Any]) -> ReminderPolicy:
    """From the service configuration: ``{"days": [28, 14, 3], "hour": 9}``."""
    default = ReminderPolicy()
    days = tuple(int(d) for d in config.get("days", default.days))
    return ReminderPolicy(days=days, hour=int(config.get("hour", default.hour)))


def reminder_times(order: Order, policy: ReminderPolicy) -> list[tuple[int, Millis]]:
    """(days before, instant) for each reminder, earliest first."""
    tz = order.tz
    last_day = datetime.fromtimestamp(order.valid_until_ms / 1000, tz).date()
    out = []
    for days in sorted(policy.days, reverse=True):
        local = datetime.combine(last_day - timedelta(days=days), time(policy.hour), tz)
        out.append((days, to_millis(local)))
    return out


def due(order: Order, now: Millis, policy: ReminderPolicy) -> dict[str, object] | None:
    """The reminder due for this order at ``now``: the latest one passed, or
    the lapse once ``valid_until`` has passed; None when nothing is due."""
    until = order.valid_until_ms
    if now >= until:
        return _reminder(order, "order_lapsed", until, now, None)
    passed = [(days, at) for days, at in reminder_times(order, policy) if at <= now]
    if not passed:
        return None
    days, at = passed[-1]
    return _reminder(order, "order_expiring", at, now, days)


def next_event(order: Order, after: Millis, policy: ReminderPolicy) -> Millis:
    """The next instant after ``after`` at which something may fall due for
    this order (a reminder, or the lapse); far in the future when nothing will."""
    times = [at for _, at in reminder_times(order, policy) if at > after]
    until = order.valid_until_ms
    if until > after:
        times.append(until)
    return min(times, default=2**62)


def _reminder(
    order: Order, kind: str, at: Millis, now: Millis, days: int | None
) -> dict[str, object]:
    key = f"{order.order_id}|{kind}|{order.valid_until}|{days}"
    return {
        "reminder_id": str(uuid.uuid5(_NAMESPACE, key)),
        "type": kind,
        "order_id": order.order_id,
        "case_id": order.case_id,
        "valid_until": order.valid_until,
        "days_before": days,
        "due_at": format_ts(at),
        "sent_at": format_ts(now),
        "risk": order.risk,
        # in both languages: the reader's application shows its own
        "text": {lang: _text(order, kind, days, lang) for lang in ("nl", "en")},
    }


#: what a reminder says, by language: an order about to run out, or run out
_TEXTS = {
    "en": {
        "order_expiring": "Order {order} ends on {date} (in {days} days): extend it in time, "
        "or let it end knowingly.",
        "order_lapsed": "Order {order} ended on {date}: nothing of it is enforced any more.",
    },
    "nl": {
        "order_expiring": "Maatregel {order} loopt af op {date} (over {days} dagen): verleng "
        "op tijd, of laat bewust aflopen.",
        "order_lapsed": "Maatregel {order} is afgelopen op {date}: er wordt niets meer van "
        "gehandhaafd.",
    },
}


def _text(order: Order, kind: str, days: int | None, lang: str) -> str:
    """The order's end in its own time zone, as a person reads it."""
    local = datetime.fromtimestamp(order.valid_until_ms / 1000, order.tz)
    end = f"{local:%Y-%m-%d %H:%M} ({order.timezone})"
    return _TEXTS[lang][kind].format(order=order.order_id, date=end, days=days)
