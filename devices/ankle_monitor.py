"""The ankle monitor (enkelband): fixes on schedule, faster after a warning.

After a pre-alert ("turn back") it reports every ``pursuit_interval_s`` for
``pursuit_s``, so that the centre sees at once whether he turned; the wearer
feels a vibration and reads the text. Tamper, battery and charging events are
sent when they happen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from devices.agent import DeviceAgent


@dataclass
class AnkleMonitor(DeviceAgent):
    pursuit_interval_s: float = 5.0
    pursuit_s: float = 300.0
    pursuit_until: float = 0.0

    def current_interval(self, now: float) -> float:
        usual = self.interval_s
        if now < self.pursuit_until:
            usual = min(self.pursuit_interval_s, self.interval_s)  # never slower than usual
        return self.commanded_interval(now, usual)

    def on_notification(self, body: dict[str, Any], now: float) -> None:
        super().on_notification(body, now)
        if body.get("level") in ("prealert", "alert"):
            self.pursuit_until = now + self.pursuit_s
        elif body.get("level") == "clear":
            self.pursuit_until = 0.0

    async def tamper(self) -> None:
        await self.send_event("tamper")

    async def battery_low(self) -> None:
        self.battery = min(self.battery, 10.0)
        await self.send_event("battery_low")

    async def charging(self) -> None:
        self.battery = 100.0
        await self.send_event("charging")
