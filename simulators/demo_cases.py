"""Short real-time cases for `emon demo`: each shows one thing within a minute.

Every case is placed around a centre point (a Dutch city by default, any
place on earth works) and timed from the start of the demo, with fixes a few
seconds apart so that the alerts come while one watches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from simulators.movement import offset

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@dataclass
class Case:
    title: str
    order: dict[str, Any]
    #: (seconds from start, topic, payload without seq/ts)
    messages: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    expect: tuple[str, ...] = ()


def _order(key: str, home: tuple[float, float], **extra: Any) -> dict[str, Any]:
    lat, lon = home
    order: dict[str, Any] = {
        "order_id": f"DEMO-{key}",
        "case_id": f"ZAAK-DEMO-{key}",
        "risk": "high",
        "valid_from": "2026-01-01T00:00:00Z",
        "valid_until": "2030-01-01T00:00:00Z",
        "timezone": "UTC",
        "max_silence_s": 600,
        "offender": {"person_id": f"P-{key}", "device_id": f"am-{key}"},
        "victims": [
            {"person_id": f"V-{key}", "device_id": f"vd-{key}",
             "address": {"type": "Point", "coordinates": [lon, lat]}}
        ],
        "zones": [],
    }  # fmt: skip
    order.update(extra)
    return order


def _exclusion(key: str, home: tuple[float, float]) -> list[dict[str, Any]]:
    lat, lon = home
    return [
        {"zone_id": f"Z-{key}", "type": "exclusion", "radius_m": 1000, "prealert_m": 500,
         "geometry": {"type": "Point", "coordinates": [lon, lat]}}
    ]  # fmt: skip


def _track(
    device: str, start: tuple[float, float], bearing: float, speed: float, every_s: float,
    until_s: float, first_s: float = 0.0,
) -> list[tuple[float, str, dict[str, Any]]]:  # fmt: skip
    out = []
    t = first_s
    while t <= until_s:
        lat, lon = offset(*start, bearing, speed * (t - first_s))
        out.append((t, f"emon/v1/fix/{device}", {"lat": lat, "lon": lon, "acc": 6.0}))
        t += every_s
    return out


def cases(centre: tuple[float, float], now: datetime | None = None) -> list[Case]:
    """Six cases in a row, a few kilometres apart, around ``centre``."""
    now = now or datetime.now(UTC)

    def spot(i: int) -> tuple[float, float]:
        return offset(*centre, 60 * i, 6000 * (1 + i % 3))

    home_a, home_b, meet, home_d, home_e, home_f = (spot(i) for i in range(6))
    out = []
    # A: an approach by car to the victim's home, 1,000 m zone
    a = Case("approach to the victim's home", _order("A", home_a, zones=_exclusion("A", home_a)),
             expect=("zone_prealert", "zone_violation"))  # fmt: skip
    a.messages = _track("am-A", offset(*home_a, 270, 1060), 90, 8.0, 3, 60)
    # her device stays at home: it reports, shows its warnings and confirms them
    a.messages += _track("vd-A", home_a, 0, 0.0, 10, 60)
    out.append(a)
    # B: a drive past, 250 m outside the zone: a pre-alert, no violation
    b = Case("drive past 250 m outside", _order("B", home_b, zones=_exclusion("B", home_b)),
             expect=("zone_prealert",))  # fmt: skip
    side = offset(*home_b, 180, 1250)
    b.messages = _track("am-B", offset(*side, 270, 300), 90, 10.0, 3, 60)
    b.messages += _track("vd-B", home_b, 0, 0.0, 10, 60)
    out.append(b)
    # C: two people cycling towards each other under a 300 m contact ban
    c = Case("crossing paths (contact ban 300 m)",
             _order("C", meet, contact_ban={"distance_m": 300, "prealert_m": 600}),
             expect=("contact_prealert", "contact_violation"))  # fmt: skip
    c.messages = _track("am-C", offset(*meet, 270, 200), 90, 5.0, 3, 60)
    c.messages += _track("vd-C", offset(*meet, 90, 200), 270, 5.0, 3, 60, first_s=1.5)
    out.append(c)
    # D: the victim presses the panic button
    d = Case("panic button", _order("D", home_d), expect=("panic",))
    d.messages = _track("vd-D", home_d, 0, 0.0, 10, 60)
    d.messages.append((5.0, "emon/v1/event/vd-D", {"type": "panic"}))
    out.append(d)
    # E: a curfew (the schedule covers now) while he is 600 m from home
    start, end = now - timedelta(hours=1), now + timedelta(hours=2)
    window = {"days": DAYS, "start": f"{start:%H:%M}", "end": f"{end:%H:%M}"}
    curfew = [{"zone_id": "HOME-E", "type": "inclusion", "radius_m": 200,
               "geometry": {"type": "Point", "coordinates": [home_e[1], home_e[0]]},
               "schedule": [window]}]  # fmt: skip
    e = Case("curfew breach", _order("E", home_e, zones=curfew, victims=[]),
             expect=("zone_violation",))  # fmt: skip
    e.messages = _track("am-E", offset(*home_e, 30, 600), 0, 0.0, 3, 60)
    out.append(e)
    # F: an ankle monitor that goes silent (20 s allowed here, 10 minutes normally)
    f = Case("device goes silent", _order("F", home_f, victims=[], max_silence_s=20),
             expect=("signal_lost",))  # fmt: skip
    f.messages = _track("am-F", offset(*home_f, 0, 3000), 0, 0.0, 3, 4)
    out.append(f)
    return out
