"""Authorised exceptions, compiled: when a zone is not enforced, and where.

An operator or the OM may suspend one zone of one order for a time (a court
date, a hospital visit) or open a corridor through it (the way to work). The
fixes are stored as always; what the exception covers raises nothing, and a
condition open when a suspension begins ends there.
"""

from __future__ import annotations

from dataclasses import dataclass

import shapely

from emon.geofence.lonlat import read_lonlat
from emon.orders import ZoneException
from emon.timeutil import Millis


@dataclass(frozen=True, slots=True)
class Excepted:
    starts: Millis
    until: Millis
    #: where it holds (a corridor); None: the whole zone (a suspension)
    where: shapely.Geometry | None

    def covers(self, ts: Millis, lon: float, lat: float) -> bool:
        if not self.starts <= ts < self.until:
            return False
        return self.where is None or bool(shapely.contains_xy(self.where, lon, lat))


def compile_exceptions(exceptions: list[ZoneException], zone_id: str) -> tuple[Excepted, ...]:
    """The exceptions of one zone, ready to ask."""
    out = []
    for e in exceptions:
        if e.zone_id != zone_id:
            continue
        where = None
        if e.kind == "corridor" and e.geometry is not None:
            where = read_lonlat(e.geometry)
            shapely.prepare(where)
        out.append(Excepted(e.starts_ms, e.until_ms, where))
    return tuple(out)


def covering(
    exceptions: tuple[Excepted, ...], ts: Millis, lon: float, lat: float
) -> Excepted | None:
    return next((e for e in exceptions if e.covers(ts, lon, lat)), None)
