"""Scenarios with ground truth: recorded streams plus the violations that truly happened.

Every scenario is placed relative to a centre point, so the same case can be
run in Rotterdam, Reykjavik or Wellington. Truth is computed from the true
(noise-free) path sampled every second with ``pyproj.Geod``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from emon.timeutil import Millis, parse_ts, to_millis
from simulators.movement import (
    CITY_DRIVE_MPS,
    CYCLE_MPS,
    HIGHWAY_MPS,
    WALK_MPS,
    GpsError,
    Leg,
    distance,
    offset,
    path_positions,
)
from simulators.recording import Recording

T0 = parse_ts("2026-11-28T12:00:00Z")
ROTTERDAM = (51.93, 4.49)
SHOWN_DEPTH_M = 25.0


@dataclass(frozen=True)
class TruthEpisode:
    type: str
    subject: str  # zone_id or victim device id
    start: Millis
    end: Millis
    depth_m: float
    #: when the true position first lay ``SHOWN_DEPTH_M`` deep: from then on a
    #: fix of ordinary accuracy shows the violation
    shown_from: Millis = 0


@dataclass
class Scenario:
    name: str
    orders: list[dict[str, Any]]
    recording: Recording
    interval_s: float
    truth: list[TruthEpisode] = field(default_factory=list)
    #: fixes as sent: (device, ts, true lat, true lon)
    sent: list[tuple[str, Millis, float, float]] = field(default_factory=list)
    until: Millis | None = None
    expect_types: dict[str, int] = field(default_factory=dict)


def base_order(
    centre: tuple[float, float],
    zones: list[dict[str, Any]] | None = None,
    contact_ban: dict[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    lat, lon = centre
    order: dict[str, Any] = {
        "order_id": "OM-2026-000123",
        "case_id": "ZAAK-77",
        "risk": "high",
        "valid_from": "2026-11-01T00:00:00Z",
        "valid_until": "2027-05-01T00:00:00Z",
        "timezone": "Europe/Amsterdam",
        "max_silence_s": 600,
        "offender": {"person_id": "P-1", "device_id": "am-0001"},
        "victims": [
            {
                "person_id": "V-1",
                "device_id": "vd-0001",
                "address": {"type": "Point", "coordinates": [lon, lat]},
            }
        ],
        "zones": zones
        if zones is not None
        else [
            {
                "zone_id": "Z-1",
                "type": "exclusion",
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "radius_m": 1000,
                "prealert_m": None,
                "schedule": None,
            }
        ],
        "contact_ban": contact_ban,
    }
    order.update(overrides)
    return order


def _drive(
    scenario: Scenario,
    device: str,
    start: tuple[float, float],
    legs: list[Leg],
    t0: Millis,
    gps: GpsError | None,
    skip: Callable[[Millis], bool] = lambda t: False,
) -> list[tuple[Millis, float, float]]:
    """Send fixes along a path; returns the true path at 1 s for truth."""
    for t, lat, lon in path_positions(start, legs, t0, scenario.interval_s):
        if skip(t):
            continue
        if gps is None:
            olat, olon, acc = lat, lon, 8.0
        else:
            olat, olon, acc, _ = gps.observe(t, lat, lon)
        scenario.recording.fix(device, t, olat, olon, acc)
        scenario.sent.append((device, t, lat, lon))
    return list(path_positions(start, legs, t0, 1.0))


def circle_truth(
    path: Iterable[tuple[Millis, float, float]],
    centre: tuple[float, float],
    radius: float,
    subject: str = "Z-1",
    inside: bool = True,
) -> list[TruthEpisode]:
    """Episodes of being inside (or, with ``inside=False``, outside) a circle."""
    depths = []
    for t, lat, lon in path:
        d = radius - distance(lat, lon, *centre)
        depths.append((t, d if inside else -d))
    return episodes_from_depths(depths, "zone_violation", subject)


def episodes_from_depths(
    depths: Iterable[tuple[Millis, float]], kind: str, subject: str
) -> list[TruthEpisode]:
    """Runs of positive depth (metres into the forbidden condition) as episodes."""
    episodes: list[TruthEpisode] = []
    start: Millis | None = None
    shown = 0
    deepest = 0.0
    last_t = 0
    for t, d in depths:
        if d > 0:
            if start is None:
                start, deepest, shown = t, 0.0, 0
            deepest = max(deepest, d)
            if not shown and d >= SHOWN_DEPTH_M:
                shown = t
        elif start is not None:
            episodes.append(TruthEpisode(kind, subject, start, t, deepest, shown or start))
            start = None
        last_t = t
    if start is not None:
        episodes.append(TruthEpisode(kind, subject, start, last_t, deepest, shown or start))
    return episodes


def car_approach(centre: tuple[float, float] = ROTTERDAM, seed: int = 1) -> Scenario:
    """Drives from 4 km out to 400 m from the victim's home, waits, drives off."""
    s = Scenario("car_approach", [base_order(centre)], Recording(), 30.0)
    lat, lon = centre
    start = offset(lat, lon, 250, 4000)
    legs = [Leg(*offset(lat, lon, 250, 400), CITY_DRIVE_MPS, 240), Leg(*start, CITY_DRIVE_MPS)]
    gps = GpsError(sigma_m=6, outlier_rate=0.03, seed=seed)
    truth_path = _drive(s, "am-0001", start, legs, T0, gps)
    s.truth = circle_truth(truth_path, centre, 1000)
    return s


def car_transit(centre: tuple[float, float] = ROTTERDAM, chord_m: float = 880) -> Scenario:
    """A car at 100 km/h cuts through the edge of the zone, with one fix or
    none inside: a chord ``chord_m`` from the centre."""
    s = Scenario("car_transit", [base_order(centre)], Recording(), 30.0)
    lat, lon = centre
    near = offset(lat, lon, 0, chord_m)
    start, end = offset(*near, 270, 6000), offset(*near, 90, 6000)
    truth_path = _drive(s, "am-0001", start, [Leg(*end, HIGHWAY_MPS)], T0 + 7_000, None)
    s.truth = circle_truth(truth_path, centre, 1000)
    return s


def car_through_sparse(
    centre: tuple[float, float] = ROTTERDAM,
    chord_m: float = 700,
    phase_s: float = 0.0,
    seed: int = 11,
    speed_mps: float = 20.0,
) -> Scenario:
    """A car at 72 km/h through the zone, a chord ``chord_m`` from its centre,
    with a fix a minute (a device saving its battery): about a minute inside, so
    one fix inside, its neighbours outside or on the edge. ``phase_s`` moves the
    fixes along the path."""
    s = Scenario("car_through_sparse", [base_order(centre)], Recording(), 60.0)
    lat, lon = centre
    near = offset(lat, lon, 0, chord_m)
    start, end = offset(*near, 270, 4000), offset(*near, 90, 4000)
    gps = GpsError(sigma_m=6, outlier_rate=0.0, seed=seed)
    path = _drive(s, "am-0001", start, [Leg(*end, speed_mps)], T0 + int(phase_s * 1000), gps)
    s.truth = circle_truth(path, centre, 1000)
    return s


def pass_by(centre: tuple[float, float] = ROTTERDAM, seed: int = 2) -> Scenario:
    """Drives past 250 m outside the zone, with GPS noise and outliers."""
    s = Scenario("pass_by", [base_order(centre)], Recording(), 30.0)
    lat, lon = centre
    side = offset(lat, lon, 180, 1250)
    start, end = offset(*side, 270, 5000), offset(*side, 90, 5000)
    gps = GpsError(sigma_m=8, outlier_rate=0.05, seed=seed)
    _drive(s, "am-0001", start, [Leg(*end, CITY_DRIVE_MPS)], T0, gps)
    return s


def stationary_near(
    centre: tuple[float, float] = ROTTERDAM, seed: int = 3, hours: float = 2.0
) -> Scenario:
    """Stays 150 m outside the zone for hours in a street canyon: outliers of
    100-300 m in one fix of ten."""
    s = Scenario("stationary_near", [base_order(centre)], Recording(), 30.0)
    lat, lon = centre
    spot = offset(lat, lon, 45, 1150)
    gps = GpsError(sigma_m=10, outlier_rate=0.10, seed=seed)
    _drive(s, "am-0001", spot, [Leg(*spot, 0.0, hours * 3600)], T0, gps)
    return s


def walkers_cross(centre: tuple[float, float] = ROTTERDAM, seed: int = 4) -> Scenario:
    """Offender and victim walk towards each other on crossing paths (contact ban 300 m)."""
    order = base_order(centre, zones=[], contact_ban={"distance_m": 300, "prealert_m": 600})
    s = Scenario("walkers_cross", [order], Recording(), 30.0)
    lat, lon = centre
    o_start, o_end = offset(lat, lon, 270, 1500), offset(lat, lon, 90, 1500)
    v_start, v_end = offset(lat, lon, 0, 1500), offset(lat, lon, 180, 1500)
    o_gps = GpsError(sigma_m=5, outlier_rate=0.02, seed=seed)
    v_gps = GpsError(sigma_m=5, outlier_rate=0.02, seed=seed + 100)
    o_path = _drive(s, "am-0001", o_start, [Leg(*o_end, WALK_MPS)], T0, o_gps)
    v_path = _drive(s, "vd-0001", v_start, [Leg(*v_end, WALK_MPS)], T0 + 11_000, v_gps)
    s.truth = _contact_truth(o_path, v_path, 300, "vd-0001")
    return s


def victim_falls_silent(centre: tuple[float, float] = ROTTERDAM, seed: int = 6) -> Scenario:
    """She waits at a bus stop; her device stops reporting (battery, a lift)
    4 minutes before he walks up to her and stays: the ban is still judged on
    where she was (she was not moving), not forgotten."""
    order = base_order(centre, zones=[], contact_ban={"distance_m": 300, "prealert_m": 600})
    s = Scenario("victim_falls_silent", [order], Recording(), 30.0)
    lat, lon = centre
    stop = offset(lat, lon, 0, 0)
    v_gps = GpsError(sigma_m=5, outlier_rate=0.0, seed=seed + 100)
    o_gps = GpsError(sigma_m=5, outlier_rate=0.0, seed=seed)
    v_path = _drive(s, "vd-0001", stop, [Leg(*stop, 0.0, 1800)], T0 + 11_000, v_gps,
                    skip=lambda t: t > T0 + 400_000)  # fmt: skip
    o_start = offset(lat, lon, 270, 1200)
    o_path = _drive(s, "am-0001", o_start, [Leg(*offset(lat, lon, 270, 50), WALK_MPS),
                                            Leg(*offset(lat, lon, 270, 50), 0.0, 600)],
                    T0, o_gps)  # fmt: skip
    s.truth = _contact_truth(o_path, v_path, 300, "vd-0001")
    return s


def victim_indoors(centre: tuple[float, float] = ROTTERDAM, seed: int = 7) -> Scenario:
    """Two hours at home indoors (drift four times the open sky's, multipath in
    one fix of ten, no fix at all in three of ten) while he works 1,800 m away:
    a contact ban of 1,000 m must not fire on her indoor jitter."""
    order = base_order(centre, zones=[], contact_ban={"distance_m": 1000, "prealert_m": 1500})
    s = Scenario("victim_indoors", [order], Recording(), 30.0)
    lat, lon = centre
    work = offset(lat, lon, 45, 1800)
    v_gps, o_gps = GpsError(sigma_m=5, seed=seed + 100), GpsError(sigma_m=5, seed=seed)
    for k in range(240):
        t = T0 + k * 30_000
        if v_gps.has_fix("indoor"):
            vlat, vlon, vacc, _ = v_gps.observe(t + 11_000, lat, lon, "indoor")
            s.recording.fix("vd-0001", t + 11_000, vlat, vlon, vacc)
        olat, olon, oacc, _ = o_gps.observe(t, *work)
        s.recording.fix("am-0001", t, olat, olon, oacc)
    return s


def parallel_cars(
    centre: tuple[float, float] = ROTTERDAM, apart_m: float = 500, seed: int = 8
) -> Scenario:
    """Both drive east, she at 72 km/h 1,500 m ahead, he at 90 km/h on a road
    ``apart_m`` beside hers, catching up and passing; her fixes come 15 s after
    his: the ban (300 m) is judged on where she was when he reported."""
    order = base_order(centre, zones=[], contact_ban={"distance_m": 300, "prealert_m": 600})
    s = Scenario("parallel_cars", [order], Recording(), 30.0)
    lat, lon = centre
    o_start = offset(lat, lon, 270, 6000)
    # 1,500 m ahead when he starts; her first fix 15 s later, 300 m on
    v_start = offset(*offset(*o_start, 0, apart_m), 90, 1500 + 20.0 * 15)
    o_gps, v_gps = GpsError(sigma_m=5, seed=seed), GpsError(sigma_m=5, seed=seed + 100)
    o_path = _drive(s, "am-0001", o_start, [Leg(*offset(*o_start, 90, 14000), 25.0)], T0, o_gps)
    v_path = _drive(s, "vd-0001", v_start, [Leg(*offset(*v_start, 90, 10000), 20.0)], T0 + 15_000,
                    v_gps)  # fmt: skip
    s.truth = _contact_truth(o_path, v_path, 300, "vd-0001")
    return s


def honest_drift(centre: tuple[float, float] = ROTTERDAM, seed: int = 9) -> Scenario:
    """He sits 200 m outside the zone for two hours while his receiver drifts
    by tens of metres for minutes at a time, reporting that accuracy honestly."""
    s = Scenario("honest_drift", [base_order(centre)], Recording(), 30.0)
    lat, lon = centre
    spot = offset(lat, lon, 135, 1200)
    gps = GpsError(sigma_m=60, tau_s=600, seed=seed)
    _drive(s, "am-0001", spot, [Leg(*spot, 0.0, 7200)], T0, gps)
    return s


def _contact_truth(
    o_path: list[tuple[Millis, float, float]],
    v_path: list[tuple[Millis, float, float]],
    limit: float,
    victim: str,
) -> list[TruthEpisode]:
    victim_at = {t // 1000: (lat, lon) for t, lat, lon in v_path}
    depths = [
        (t, limit - distance(lat, lon, *victim_at[t // 1000]))
        for t, lat, lon in o_path
        if t // 1000 in victim_at
    ]
    return episodes_from_depths(depths, "contact_violation", victim)


def late_batch(centre: tuple[float, float] = ROTTERDAM) -> Scenario:
    """Offline for 20 minutes, during which he enters the zone; the buffered
    fixes arrive in one ``fixes`` batch after he reconnects."""
    s = Scenario("late_batch", [base_order(centre)], Recording(), 30.0)
    lat, lon = centre
    start = offset(lat, lon, 90, 3000)
    legs = [Leg(*offset(lat, lon, 90, 300), CITY_DRIVE_MPS, 300), Leg(*start, CITY_DRIVE_MPS)]
    offline = (T0 + 60_000, T0 + 20 * 60_000)
    buffered: list[dict[str, Any]] = []
    for t, tlat, tlon in path_positions(start, legs, T0, s.interval_s):
        s.sent.append(("am-0001", t, tlat, tlon))
        if offline[0] <= t < offline[1]:
            buffered.append(s.recording.fix_payload("am-0001", t, tlat, tlon, 8.0))
        else:
            s.recording.fix("am-0001", t, tlat, tlon, 8.0)
    # the batch arrives 40 s after the first live fix following the outage
    s.recording.batch("am-0001", offline[1] + 40_000, buffered)
    s.truth = circle_truth(path_positions(start, legs, T0, 1.0), centre, 1000)
    return s


def contact_after_outage(
    centre: tuple[float, float] = ROTTERDAM,
    stay_s: float = 420.0,
    batch_first: bool = True,
    seed: int = 12,
) -> Scenario:
    """She is at home, her device reporting; his ankle monitor loses its uplink
    at minute 1 for 19 minutes while he drives to 300 m from her (a ban of
    500 m), stays ``stay_s`` and leaves. The buffered fixes come in one batch
    when he reconnects (``batch_first``: before his live fixes resume, else 40 s
    after): judged against her stored track, the batch shows the violation
    from its true start, however little of her track memory still holds."""
    order = base_order(centre, zones=[], contact_ban={"distance_m": 500, "prealert_m": 1000})
    s = Scenario("contact_after_outage", [order], Recording(), 30.0)
    lat, lon = centre
    v_gps, o_gps = GpsError(sigma_m=5, seed=seed + 100), GpsError(sigma_m=5, seed=seed)
    home = offset(lat, lon, 0, 0)
    v_path = _drive(s, "vd-0001", home, [Leg(*home, 0.0, 2700)], T0 + 11_000, v_gps)
    start, near = offset(lat, lon, 270, 1800), offset(lat, lon, 270, 300)
    legs = [Leg(*near, CITY_DRIVE_MPS), Leg(*near, 0.0, stay_s), Leg(*start, CITY_DRIVE_MPS, 900)]
    offline = (T0 + 60_000, T0 + 20 * 60_000)
    buffered: list[dict[str, Any]] = []
    for t, tlat, tlon in path_positions(start, legs, T0, s.interval_s):
        olat, olon, oacc, _ = o_gps.observe(t, tlat, tlon)
        s.sent.append(("am-0001", t, tlat, tlon))
        if offline[0] <= t < offline[1]:
            buffered.append(s.recording.fix_payload("am-0001", t, olat, olon, oacc))
        else:
            s.recording.fix("am-0001", t, olat, olon, oacc)
    s.recording.batch("am-0001", offline[1] + (0 if batch_first else 40_000), buffered)
    o_path = list(path_positions(start, legs, T0, 1.0))
    s.truth = _contact_truth(o_path, v_path, 500, "vd-0001")
    return s


def pursuit_bursts(centre: tuple[float, float] = ROTTERDAM, seed: int = 5) -> Scenario:
    """A car into the zone in pursuit mode (a fix every 5 s), uploaded every
    30 s as a ``fixes`` batch whose fixes arrive shuffled, each batch also
    repeating a fix of the one before (a redelivery)."""
    s = Scenario("pursuit_bursts", [base_order(centre)], Recording(), 30.0)
    lat, lon = centre
    start = offset(lat, lon, 90, 2500)
    legs = [Leg(*offset(lat, lon, 90, 200), CITY_DRIVE_MPS, 240), Leg(*start, CITY_DRIVE_MPS)]
    rng = np.random.default_rng(seed)
    burst: list[dict[str, Any]] = []
    previous: list[dict[str, Any]] = []
    for t, tlat, tlon in path_positions(start, legs, T0, 5.0):
        s.sent.append(("am-0001", t, tlat, tlon))
        burst.append(s.recording.fix_payload("am-0001", t, tlat, tlon, 8.0))
        if len(burst) == 6:
            upload = burst + previous[-1:]
            rng.shuffle(upload)
            s.recording.batch("am-0001", t + 1_500, upload)
            previous, burst = burst, []
    s.truth = circle_truth(path_positions(start, legs, T0, 1.0), centre, 1000)
    return s


def jammed_then_uploaded(centre: tuple[float, float] = ROTTERDAM) -> Scenario:
    """A jammer in the car: the monitor reports shielding and gets nothing
    through for 15 minutes, during which he drives into the zone; what it kept
    arrives when the jammer is off. Shielding is raised at once; the violation,
    late, at its true time."""
    s = late_batch(centre)
    s.name = "jammed_then_uploaded"
    s.recording.event("am-0001", T0 + 60_000, "shielding", recv=T0 + 61_000)
    return s


def curfew_across_dst(
    night: str = "2026-10-25", centre: tuple[float, float] = ROTTERDAM
) -> Scenario:
    """A home curfew 22:00-06:00 local on a night the clocks change: he cycles
    off at 05:15 local and is back at 06:45; only 05:15-06:00 local breaks it,
    whatever the change did to the hours in UTC."""
    lat, lon = centre
    zone = {"zone_id": "HOME", "type": "inclusion", "radius_m": 200,
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "schedule": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                          "start": "22:00", "end": "06:00"}]}  # fmt: skip
    order = base_order(centre, zones=[zone], victims=[], valid_from="2026-10-01T00:00:00Z",
                       valid_until="2027-06-01T00:00:00Z")  # fmt: skip
    s = Scenario("curfew_across_dst", [order], Recording(), 60.0)
    tz = ZoneInfo("Europe/Amsterdam")
    local = datetime.fromisoformat(f"{night}T05:00:00").replace(tzinfo=tz)
    leaves = to_millis(local) + 15 * 60_000
    curfew_ends = to_millis(local.replace(hour=6))
    away = offset(lat, lon, 120, 1500)
    legs = [Leg(lat, lon, 0.0, 900), Leg(*away, CYCLE_MPS, 3000), Leg(lat, lon, CYCLE_MPS, 1800)]
    path = _drive(s, "am-0001", (lat, lon), legs, to_millis(local), GpsError(sigma_m=5, seed=12))
    s.truth = [
        TruthEpisode(
            e.type,
            e.subject,
            max(e.start, leaves),
            min(e.end, curfew_ends),
            e.depth_m,
            max(e.shown_from, leaves),
        )
        for e in circle_truth(path, centre, 200, "HOME", inside=False)
        if e.start < curfew_ends
    ]
    return s


def curfew(centre: tuple[float, float] = ROTTERDAM) -> Scenario:
    """Home curfew 22:00-06:00 local: a walk 20:30-21:40 is allowed, one at 23:00 is not."""
    lat, lon = centre
    zone = {
        "zone_id": "HOME",
        "type": "inclusion",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "radius_m": 200,
        "schedule": [
            {
                "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                "start": "22:00",
                "end": "06:00",
            }
        ],
    }
    order = base_order(centre, zones=[zone], victims=[])
    s = Scenario("curfew", [order], Recording(), 60.0)
    evening = parse_ts("2026-11-28T19:00:00Z")  # 20:00 in Amsterdam
    away = offset(lat, lon, 120, 1200)
    legs = [
        Leg(lat, lon, 0.0, 1800),  # home until 20:30
        Leg(*away, CYCLE_MPS, 1200),
        Leg(lat, lon, CYCLE_MPS, 4800),  # home 21:00-ish to 23:00
        Leg(*away, CYCLE_MPS, 900),
        Leg(lat, lon, CYCLE_MPS, 1800),
    ]
    truth_path = _drive(s, "am-0001", (lat, lon), legs, evening, GpsError(sigma_m=5, seed=5))
    night_start = parse_ts("2026-11-28T21:00:00Z")
    s.truth = [
        e
        for e in circle_truth(truth_path, centre, 200, "HOME", inside=False)
        if e.end > night_start
    ]
    s.truth = [
        TruthEpisode(
            e.type,
            e.subject,
            max(e.start, night_start),
            e.end,
            e.depth_m,
            max(e.shown_from, night_start),
        )
        for e in s.truth
    ]
    return s


def expired_order(centre: tuple[float, float] = ROTTERDAM) -> Scenario:
    """The same approach as ``car_approach``, after the order expired: no alert."""
    s = car_approach(centre)
    s.name = "expired_order"
    s.orders = [base_order(centre, valid_until="2026-11-28T11:00:00Z")]
    s.truth = []
    return s


def device_events(centre: tuple[float, float] = ROTTERDAM) -> Scenario:
    """Panic on the victim device, tamper on the ankle monitor, then silence."""
    s = Scenario("device_events", [base_order(centre)], Recording(), 30.0)
    lat, lon = centre
    far = offset(lat, lon, 0, 5000)
    _drive(s, "am-0001", far, [Leg(*far, 0.0, 600)], T0, None)
    _drive(s, "vd-0001", (lat, lon), [Leg(lat, lon, 0.0, 600)], T0, None)
    s.recording.event("vd-0001", T0 + 120_000, "panic")
    s.recording.event("vd-0001", T0 + 125_000, "panic")  # pressed twice: one alert
    s.recording.event("am-0001", T0 + 300_000, "tamper")
    s.until = T0 + 3600_000
    s.expect_types = {"panic": 1, "tamper": 1, "signal_lost": 2}
    return s


def daily_life(centre: tuple[float, float] = ROTTERDAM, seed: int = 11) -> Scenario:
    """A working day 400-2,000 m outside the zone: indoors at home and work
    (poor GPS, no fix at times), street canyons on the way, and the network
    dropping out now and then (store-and-forward batches). Nothing happens."""
    from simulators.movement import daily_routine
    from simulators.network import Network

    lat, lon = centre
    s = Scenario("daily_life", [base_order(centre)], Recording(), 60.0)
    home, work, shop = (
        offset(lat, lon, 200, 2000),
        offset(lat, lon, 110, 1500),
        offset(lat, lon, 150, 1400),
    )
    legs, environments = daily_routine(home, work, shop)
    t0 = parse_ts("2026-11-30T06:00:00Z")  # 07:00 in Amsterdam
    gps = GpsError(sigma_m=5, outlier_rate=0.02, seed=seed)
    taken = []
    for t, tlat, tlon in path_positions(home, legs, t0, s.interval_s):
        env = next(e for since, e in reversed(environments) if (t - t0) / 1000 >= since)
        if gps.has_fix(env):
            olat, olon, acc, _ = gps.observe(t, tlat, tlon, env)
            taken.append((t, s.recording.fix_payload("am-0001", t, olat, olon, acc)))
            s.sent.append(("am-0001", t, tlat, tlon))
    delivered = Network(outage_rate_per_h=0.5, outage_mean_s=600, seed=seed).deliver(
        [t for t, _ in taken]
    )
    batches: dict[int, list[dict[str, Any]]] = {}
    for (_, payload), (recv, batched) in zip(taken, delivered, strict=True):
        if batched:
            batches.setdefault(recv, []).append(payload)
        else:
            s.recording.raw(recv, "emon/v1/fix/am-0001", payload)
    for recv, payloads in batches.items():
        s.recording.batch("am-0001", recv, payloads)
    s.expect_types = {"batches": len(batches)}
    return s


def salted(base: Scenario, seed: int = 9) -> Scenario:
    """The same traffic with malformed, duplicate and out-of-order lines mixed in."""
    import random

    rng = random.Random(seed)
    rec = base.recording
    lines = list(rec.lines)
    extra: list[tuple[Millis, str, Any]] = []
    for recv, _, body in lines:
        roll = rng.random()
        topic, payload = body["topic"], body["payload"]
        if roll < 0.05:
            extra.append((recv + 50, topic, payload))  # duplicate
        elif roll < 0.08:
            extra.append((recv + 60, topic, "{not json"))
        elif roll < 0.10:
            extra.append((recv + 70, topic, {"seq": 10**6 + rng.randrange(10**6), "lat": 1}))
        elif roll < 0.12 and isinstance(payload, dict):
            bad = dict(payload, lat=123.0, seq=10**7 + rng.randrange(10**6))
            extra.append((recv + 80, topic, bad))
        elif roll < 0.13:
            extra.append((recv + 90, "emon/v1/fix/unknown-dev", payload))
    for recv, topic, payload in extra:
        rec.raw(recv, topic, payload)
    # a few fixes delivered late and out of order (as a broker redelivery would)
    fix_lines = [line for line in rec.lines if line[2]["topic"].startswith("emon/v1/fix/")]
    for recv, order_key, body in rng.sample(fix_lines, k=min(5, len(fix_lines))):
        rec.lines.remove((recv, order_key, body))
        rec.lines.append((recv + 45_000, order_key, body))
    base.name += "+salted"
    return base


ALL = {
    "car_approach": car_approach,
    "car_transit": car_transit,
    "pass_by": pass_by,
    "stationary_near": stationary_near,
    "walkers_cross": walkers_cross,
    "late_batch": late_batch,
    "curfew": curfew,
    "expired_order": expired_order,
    "device_events": device_events,
    "daily_life": daily_life,
}
