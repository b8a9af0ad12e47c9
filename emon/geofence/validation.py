"""Is an order enforceable by an ankle monitor, and what would be?

Each check is a small function that yields findings; ``validate`` runs them
all. Distances are geodesic (exact from a circle's centre, or measured in an
equidistant projection centred on the point in question), so ``measured_m`` is
right to well within the contract's 0.5 m anywhere on earth.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import shapely
from shapely.geometry import Point

from emon.geofence.guidelines import DEFAULT, Guidelines
from emon.geofence.lonlat import read_lonlat
from emon.geofence.measures import geometry_problem, point, signed_distance, width_m
from emon.geofence.metric import Metric, distance_m
from emon.geofence.report import Finding, Report, Suggestion
from emon.geofence.schedule import WEEKDAYS, Schedule
from emon.geofence.texts import say
from emon.orders import Order, ZoneSpec, parse_order
from emon.timeutil import from_millis, to_millis

__all__ = ["Finding", "Report", "Suggestion", "validate"]


def validate(data: Any, guidelines: Guidelines = DEFAULT, lang: str = "en") -> Report:
    """Validate one order (JSON-compatible data). Raises OrderFormatError when
    it cannot be read at all."""
    order = parse_order(data)
    checker = _Checker(order, data, guidelines, lang)
    return checker.run()


class _Checker:
    def __init__(self, order: Order, raw: Any, guidelines: Guidelines, lang: str) -> None:
        self.order = order
        self.raw = raw if isinstance(raw, dict) else {}
        self.g = guidelines
        self.lang = lang
        self.findings: list[Finding] = []
        self.suggestions: list[Suggestion] = []
        self.usable_zones: list[ZoneSpec] = []
        self.residence = point(order.offender.residence)

    def run(self) -> Report:
        self._validity()
        self._devices()
        for zone in self.order.zones:
            if self._geometry(zone):
                self.usable_zones.append(zone)
        for zone in self.usable_zones:
            self._far_from_order(zone)
            self._width(zone)
            if zone.type == "exclusion":
                self._protected_margin(zone)
                self._residence(zone)
                self._regular_places(zone)
        self._cut_off()
        self._conflicts()
        self._contact_ban()
        return Report(self.order.order_id, self.findings, self.suggestions)

    def add(
        self,
        code: str,
        severity: str,
        zone_id: str | None = None,
        measured: float | None = None,
        required: float | None = None,
        **values: Any,
    ) -> None:
        message = say(
            code, self.lang, zone_id=zone_id, measured=measured, required=required, **values
        )
        self.findings.append(Finding(code, severity, message, zone_id, measured, required))

    def suggest(self, zone_id: str | None, code: str, values: dict[str, Any], **words: Any) -> None:
        self.suggestions.append(Suggestion(zone_id, say(code, self.lang, **words), values))

    # -- checks ---------------------------------------------------------------
    def _validity(self) -> None:
        if self.order.valid_until_ms <= self.order.valid_from_ms:
            self.add(
                "invalid_validity",
                "error",
                valid_from=self.order.valid_from,
                valid_until=self.order.valid_until,
            )

    def _devices(self) -> None:
        if not self.order.offender.device_id:
            self.add("offender_device_missing", "error")

    def _geometry(self, zone: ZoneSpec) -> bool:
        detail = geometry_problem(zone)
        if detail:
            self.add("invalid_geometry", "error", zone.zone_id, detail=detail)
            return False
        return True

    def _far_from_order(self, zone: ZoneSpec) -> None:
        places = [p for p in [self.residence, *self._victim_points()] if p is not None]
        if not places:
            return
        centre = read_lonlat(zone.geometry).centroid
        nearest = min(distance_m(centre.x, centre.y, lon, lat) for lon, lat in places)
        if nearest <= self.g.far_from_order_m:
            return
        swapped = (
            min(distance_m(centre.y, centre.x, lon, lat) for lon, lat in places)
            if abs(centre.x) <= 90
            else math.inf
        )
        hint = ""
        if swapped <= self.g.far_from_order_m:
            hint = (
                " — longitude and latitude look swapped"
                if self.lang == "en"
                else " — lengte- en breedtegraad lijken verwisseld"
            )
        self.add(
            "zone_far_from_order",
            "error" if hint else "warning",
            zone.zone_id,
            nearest / 1000,
            self.g.far_from_order_m / 1000,
            hint=hint,
        )
        self.findings[-1].measured_m = nearest
        self.findings[-1].required_m = self.g.far_from_order_m

    def _width(self, zone: ZoneSpec) -> None:
        width = width_m(zone)
        if zone.type == "inclusion":
            if width < self.g.inclusion_min_width_m:
                self.add(
                    "inclusion_too_small",
                    "error",
                    zone.zone_id,
                    width,
                    self.g.inclusion_min_width_m,
                )
        elif width < self.g.zone_min_width_m:
            self.add("zone_too_narrow", "error", zone.zone_id, width, self.g.zone_min_width_m)
        elif width < self.g.zone_comfort_width_m:
            self.add("zone_narrow", "warning", zone.zone_id, width, self.g.zone_comfort_width_m)

    def _protected_margin(self, zone: ZoneSpec) -> None:
        required = self.g.protected_margin_m
        for victim in self.order.victims:
            address = point(victim.address)
            if address is None:
                continue
            depth = -signed_distance(zone, *address)
            if 0 < depth < required:
                self.add(
                    "protected_margin",
                    "error",
                    zone.zone_id,
                    depth,
                    required,
                    person_id=victim.person_id,
                )
                self._suggest_margin(zone, address)

    def _residence(self, zone: ZoneSpec) -> None:
        if self.residence is None:
            return
        outside = signed_distance(zone, *self.residence)
        required = self.g.residence_clearance_m
        if outside < required:
            if outside < 0:
                where = "inside" if self.lang == "en" else "binnen"
            else:
                where = (
                    f"only {outside:.0f} m outside"
                    if self.lang == "en"
                    else f"maar {outside:.0f} m buiten"
                )
            self.add("residence_clearance", "error", zone.zone_id, outside, required, where=where)
        elif zone.prealert_m and outside < zone.prealert_m:
            self.add("prealert_covers_residence", "warning", zone.zone_id, outside, zone.prealert_m)

    def _regular_places(self, zone: ZoneSpec) -> None:
        places = self.raw.get("offender", {}).get("places") or []
        for place in places if isinstance(places, list) else []:
            where = point(place.get("geometry") if isinstance(place, dict) else None)
            if where is not None and signed_distance(zone, *where) < 0:
                self.add(
                    "regular_place_excluded",
                    "warning",
                    zone.zone_id,
                    name=str(place.get("name", "?")),
                )

    def _cut_off(self) -> None:
        exclusions = [z for z in self.usable_zones if z.type == "exclusion"]
        if self.residence is None or not exclusions:
            return
        lon, lat = self.residence
        metric = Metric(lon, lat)
        blocked_area = shapely.union_all([metric.zone(z.geometry, z.radius_m) for z in exclusions])
        radius = self.g.cut_off_radius_m
        rays = [
            shapely.LineString(
                [(0, 0), (radius * math.sin(math.radians(b)), radius * math.cos(math.radians(b)))]
            )
            for b in range(0, 360, 5)
        ]
        blocked = sum(bool(shapely.intersects(blocked_area, ray)) for ray in rays)
        share = blocked / len(rays)
        if share > self.g.cut_off_share:
            self.add("residence_cut_off", "warning", None, share=share, radius=radius)

    def _conflicts(self) -> None:
        zones = self.usable_zones
        for i, a in enumerate(zones):
            for b in zones[i + 1 :]:
                if a.type == b.type == "exclusion":
                    continue
                inclusion, other = (a, b) if a.type == "inclusion" else (b, a)
                when = self._common_time(inclusion, other)
                if when is None:
                    continue
                centre = read_lonlat(inclusion.geometry).centroid
                metric = Metric(centre.x, centre.y)
                g1 = metric.zone(inclusion.geometry, inclusion.radius_m)
                g2 = metric.zone(other.geometry, other.radius_m)
                if other.type == "exclusion" and shapely.area(shapely.intersection(g1, g2)) > 1.0:
                    self.add(
                        "zone_conflict", "error", inclusion.zone_id, other=other.zone_id, when=when
                    )
                elif other.type == "inclusion" and not shapely.intersects(g1, g2):
                    self.add(
                        "schedule_conflict",
                        "error",
                        inclusion.zone_id,
                        float(shapely.distance(g1, g2)),
                        0.0,
                        other=other.zone_id,
                        when=when,
                    )

    def _common_time(self, a: ZoneSpec, b: ZoneSpec) -> str | None:
        """The first moment (local time, one week from valid_from) when both apply."""
        tz = self.order.tz
        sa, sb = Schedule(a.schedule, tz), Schedule(b.schedule, tz)
        start = from_millis(self.order.valid_from_ms)
        for step in range(7 * 24 * 12):
            moment = start + timedelta(minutes=5 * step)
            t = to_millis(moment)
            if sa.active_at(t) and sb.active_at(t):
                if sa.always and sb.always:
                    return "always" if self.lang == "en" else "altijd"
                local = moment.astimezone(tz)
                return f"{WEEKDAYS[local.weekday()]} {local:%H:%M}"
        return None

    def _contact_ban(self) -> None:
        ban = self.order.contact_ban
        if ban is None:
            return
        if not any(v.device_id for v in self.order.victims):
            self.add("contact_ban_without_device", "error")
        if ban.distance_m < self.g.contact_ban_min_m:
            self.add(
                "contact_ban_distance", "error", None, ban.distance_m, self.g.contact_ban_min_m
            )
            self.suggest(
                None,
                "suggest_contact_distance",
                {"distance_m": self.g.contact_ban_min_m},
                distance=self.g.contact_ban_min_m,
            )
        if ban.prealert_m is not None and ban.prealert_m <= ban.distance_m:
            self.add("contact_ban_prealert", "warning", None, ban.prealert_m, ban.distance_m)

    # -- suggestions -------------------------------------------------------------
    def _suggest_margin(self, zone: ZoneSpec, address: tuple[float, float]) -> None:
        """The smallest change: a larger radius, or the zone buffered around the
        address; reshaped away from the residence where clearance forbids."""
        margin, clearance = self.g.protected_margin_m, self.g.residence_clearance_m
        a_lon, a_lat = address
        metric = Metric(a_lon, a_lat)
        if zone.geometry.get("type") == "Point":
            c_lon, c_lat = zone.geometry["coordinates"][:2]
            radius = math.ceil(distance_m(c_lon, c_lat, a_lon, a_lat) + margin)
            grown = metric.zone(zone.geometry, radius)
            if self._clear_of_residence(grown, metric):
                self.suggest(
                    zone.zone_id,
                    "suggest_radius",
                    {"radius_m": float(radius), "geometry": zone.geometry},
                    radius=radius,
                    margin=margin,
                )
                return
        else:
            grown = shapely.union(
                metric.zone(zone.geometry, None), shapely.buffer(Point(0, 0), margin, quad_segs=16)
            )
            if self._clear_of_residence(grown, metric):
                self.suggest(
                    zone.zone_id,
                    "suggest_buffer",
                    {"geometry": metric.to_geojson(grown)},
                    margin=margin,
                )
                return
        assert self.residence is not None
        r_lon, r_lat = self.residence
        home = metric.project(Point(r_lon, r_lat))
        reshaped = shapely.difference(grown, shapely.buffer(home, clearance, quad_segs=16))
        self.suggest(
            zone.zone_id,
            "suggest_reshape",
            {"geometry": metric.to_geojson(reshaped), "contact_ban": True},
            margin=margin,
            clearance=clearance,
            d=distance_m(a_lon, a_lat, r_lon, r_lat),
        )

    def _clear_of_residence(self, geometry: shapely.Geometry, metric: Metric) -> bool:
        if self.residence is None:
            return True
        home = metric.project(Point(*self.residence))
        return bool(
            shapely.distance(home, geometry) >= self.g.residence_clearance_m - 0.5
            and not shapely.contains(geometry, home)
        )

    def _victim_points(self) -> Iterator[tuple[float, float]]:
        for victim in self.order.victims:
            p = point(victim.address)
            if p is not None:
                yield p
