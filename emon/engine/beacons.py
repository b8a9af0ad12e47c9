"""RF home units: presence at home known without GPS.

Indoors GPS jitters by tens of metres, so a small curfew zone read from fixes
alone reads absence where there is none; programmes put a beacon in the
residence that reports whether it hears the ankle monitor. While it does, the
offender is at home for every inclusion zone holding the residence: an open
violation of such a zone ends at the report, and fixes say nothing against it.
A report counts for ``Policy.beacon_presence_s`` around its time; the unit
itself is a device of the order, so its own silence raises ``signal_lost``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from emon.timeutil import Millis


@dataclass
class Presence:
    valid_ms: Millis
    #: home unit (device index) -> (report time, present)
    last: dict[int, tuple[Millis, bool]] = field(default_factory=dict)

    def report(self, beacon: int, ts: Millis, present: bool) -> None:
        known = self.last.get(beacon)
        if known is None or ts >= known[0]:  # an older report changes nothing
            self.last[beacon] = (ts, present)

    def at_home(self, beacon: int, ts: Millis) -> bool:
        known = self.last.get(beacon)
        return known is not None and known[1] and abs(ts - known[0]) <= self.valid_ms

    def forget(self, beacons: list[int]) -> None:
        for beacon in beacons:
            self.last.pop(beacon, None)

    def carry(self, new: int, old: Presence, before: int) -> None:
        if before in old.last:
            self.last[new] = old.last[before]
