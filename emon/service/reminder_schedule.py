"""When reminders fall due: each order is looked at only when its next
reminder or its lapse comes (a full walk of 100,000 orders a minute held the
event loop ~0.75 s), and each reminder is sent once, also across restarts
(the caller stores what this returns)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from emon.review.reminders import ReminderPolicy, due, next_event
from emon.service.orderbook import Registered
from emon.timeutil import Millis


@dataclass
class ReminderSchedule:
    policy: ReminderPolicy = field(default_factory=ReminderPolicy)
    #: every reminder sent, by id (loaded from storage at start-up)
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: per order, when a reminder or the lapse may next fall due
    _next: dict[str, Millis] = field(default_factory=dict)

    def moved(self, order_id: str) -> None:
        """The order changed (an extension moves its reminders)."""
        self._next.pop(order_id, None)

    def due_now(self, orders: Mapping[str, Registered], now: Millis) -> list[dict[str, Any]]:
        """The reminders that fall due now and were not sent before."""
        out = []
        for order_id, registered in list(orders.items()):
            if self._next.get(order_id, now) > now:
                continue
            self._next[order_id] = next_event(registered.order, now, self.policy)
            reminder = due(registered.order, now, self.policy)
            if reminder is None or reminder["reminder_id"] in self.sent:
                continue
            self.sent[str(reminder["reminder_id"])] = reminder
            out.append(reminder)
        return out
