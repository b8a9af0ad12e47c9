"""The victim device (slachtofferdevice): where she is, and a panic button.

It shows what emon sends (``alert``, ``prealert``, ``clear``) and
acknowledges it; emon never sends it the offender's position. In OwnTracks
mode it speaks the OwnTracks phone app's protocol, so a real phone running
OwnTracks can stand in for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from devices.agent import DeviceAgent
from emon import topics


@dataclass
class VictimDevice(DeviceAgent):
    owntracks_user: str | None = None  # set for OwnTracks mode

    @property
    def fix_topic(self) -> str:
        if self.owntracks_user:
            return f"{topics.OWNTRACKS}{self.owntracks_user}/{self.device_id}"
        return super().fix_topic

    def fix_payload(self, now: float) -> dict[str, Any]:
        if not self.owntracks_user:
            return super().fix_payload(now)
        lat, lon, acc = self.position(now)
        self.seq += 1
        return {"_type": "location", "lat": lat, "lon": lon, "tst": int(now),
                "acc": round(acc), "batt": round(self.battery)}  # fmt: skip

    async def panic(self) -> None:
        await self.send_event("panic")

    @property
    def alarms(self) -> list[str]:
        """What the screen says now: the latest notification's level and text."""
        return [f"{s.level}: {s.text}" for s in self.shown[-1:]]
