"""The mobile network between a device and the broker: delays and outages.

Given when fixes were taken, it says when each reached the broker and how:
live (after a delay), or buffered on the device during an outage and uploaded
as one ``fixes`` batch when the connection came back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emon.timeutil import Millis


@dataclass
class Network:
    delay_ms: float = 300.0  # median delivery delay
    outage_rate_per_h: float = 0.5
    outage_mean_s: float = 300.0
    seed: int = 0

    def deliver(self, taken: list[Millis]) -> list[tuple[Millis, bool]]:
        """For each fix (in time order): (reception time, came in a batch)."""
        rng = np.random.default_rng(self.seed)
        if not taken:
            return []
        outages = self._outages(rng, taken[0], taken[-1])
        out: list[tuple[Millis, bool]] = []
        for t in taken:
            down = next(((a, b) for a, b in outages if a <= t < b), None)
            delay = int(rng.lognormal(np.log(self.delay_ms), 0.5))
            if down is None:
                out.append((t + delay, False))
            else:
                out.append((down[1] + delay, True))  # uploaded on reconnection
        return out

    def _outages(
        self, rng: np.random.Generator, start: Millis, end: Millis
    ) -> list[tuple[Millis, Millis]]:
        hours = (end - start) / 3_600_000
        count = rng.poisson(self.outage_rate_per_h * hours)
        begins = np.sort(rng.uniform(start, end, count))
        return [(int(b), int(b + rng.exponential(self.outage_mean_s) * 1000)) for b in begins]
