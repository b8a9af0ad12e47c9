"""What one call into the engine did, as frozen typed values.

The engine returns this and keeps nothing for a caller to collect later:
the service stores the fixes and rejections and routes the alert changes;
replay writes the changes out. Times are ms since the epoch; JSON is made
from it at the edges only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emon.alerts.model import AlertChange
from emon.ingest.rejections import Rejection

#: a fix the engine took, as storage keeps it:
#: (device_id, seq, ts, recv, lat, lon, acc, batt)
AcceptedFix = tuple[str, int, int, int, float, float, float | None, float | None]


@dataclass(frozen=True, slots=True)
class Outcome:
    #: every alert change, in the order they happened
    alerts: tuple[AlertChange, ...] = ()
    #: the fixes taken (only for an engine built with ``keep_fixes``)
    fixes: tuple[AcceptedFix, ...] = ()
    #: the messages refused, with their reasons
    rejections: tuple[Rejection, ...] = ()

    def alerts_json(self) -> list[dict[str, Any]]:
        """The alert changes as the contract writes them."""
        return [change.to_json() for change in self.alerts]


NOTHING = Outcome()
