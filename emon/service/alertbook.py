"""The alert book as the service keeps it: with its live subscribers (the
console's stream), who are sent each alert as it is recorded."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from emon.alerts.book import AlertBook


@dataclass
class LiveAlertBook(AlertBook):
    subscribers: set[asyncio.Queue[dict[str, Any]]] = field(default_factory=set)

    def publish(self, alert: dict[str, Any]) -> None:
        for queue in list(self.subscribers):
            try:
                queue.put_nowait(alert)
            except asyncio.QueueFull:
                self.subscribers.discard(queue)  # a stalled client is dropped, not waited on
