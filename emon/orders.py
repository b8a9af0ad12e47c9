"""Protection orders as typed models, parsed exactly as the contract writes them.

Every number is finite and inside a range that an ankle monitor can enforce
(a court may impose what the guidelines advise against, but not infinity, a
negative radius or a silence of zero seconds); ids are short and printable;
lists and geometries are bounded. What falls outside is refused with the
field named, so that one order can never stop the engine for the others.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from emon.timeutil import Millis, TimestampError, parse_ts

Risk = Literal["low", "medium", "high"]
ZoneType = Literal["exclusion", "inclusion"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
#: what a person's device is told in (an extension of the contract's order)
Language = Literal["nl", "en"]

DEFAULT_MAX_SILENCE_S = 600.0
#: how long fixes too inaccurate to judge may go on before location_unreliable
DEFAULT_MAX_UNCERTAIN_S = 600.0
#: at least a second: zero or a negative limit raised and ended signal_lost on
#: every fix (a limit below the reporting interval still flaps: the court's
#: choice, and the guideline is 600 s)
MIN_SILENCE_S = 1.0
#: a week: a longer silence is no monitoring at all
MAX_SILENCE_S = 7 * 86_400.0
#: the widest circle: a region of a country; wider bans are drawn as polygons
MAX_RADIUS_M = 500_000.0
#: pre-alert rings and contact-ban distances: beyond this nobody is "near"
MAX_DISTANCE_M = 100_000.0
#: ids appear in MQTT topics, file names and HTTP headers
MAX_ID_CHARS = 128
#: zones, victims and schedule windows one order may hold
MAX_ZONES = 100
MAX_VICTIMS = 50
MAX_WINDOWS = 50
#: every position of every zone of an order (a detailed municipal boundary
#: has a few thousand; a million stalls validation for seconds)
MAX_VERTICES = 50_000
#: authorised exceptions one order may hold, and the longest one (a longer
#: exception is a change of the order itself, for the court)
MAX_EXCEPTIONS = 50
MAX_EXCEPTION_S = 31 * 86_400.0
#: what an order may carry that the contract does not know (extensions such
#: as offender.places are counted here too), as encoded JSON
MAX_UNKNOWN_BYTES = 64 * 1024

#: printable, no control characters (CR/LF would break headers and logs)
Id = Annotated[
    str, msgspec.Meta(min_length=1, max_length=MAX_ID_CHARS, pattern=r"^[^\x00-\x1f\x7f]+$")
]
#: a device id is also an MQTT topic level (OwnTracks ids hold two slashes)
DeviceId = Annotated[
    str, msgspec.Meta(min_length=1, max_length=MAX_ID_CHARS, pattern=r"^[^\x00-\x20\x7f#+]+$")
]
#: a number the centre can dial: digits, an optional leading +, spaces, dots,
#: dashes and brackets between (an extension of the contract's order format)
Phone = Annotated[str, msgspec.Meta(max_length=32, pattern=r"^\+?[0-9][0-9 ().\-]{2,30}$")]
Silence = Annotated[float, msgspec.Meta(ge=MIN_SILENCE_S, le=MAX_SILENCE_S)]
Radius = Annotated[float, msgspec.Meta(gt=0, le=MAX_RADIUS_M)]
Ring = Annotated[float, msgspec.Meta(ge=0, le=MAX_DISTANCE_M)]
Distance = Annotated[float, msgspec.Meta(gt=0, le=MAX_DISTANCE_M)]
HhMm = Annotated[str, msgspec.Meta(max_length=5)]


class ScheduleWindow(msgspec.Struct, frozen=True):
    days: Annotated[list[Weekday], msgspec.Meta(max_length=7)]
    start: HhMm
    end: HhMm


class ZoneSpec(msgspec.Struct, frozen=True):
    zone_id: Id
    type: ZoneType
    geometry: dict[str, Any]
    radius_m: Radius | None = None
    prealert_m: Ring | None = None
    schedule: Annotated[list[ScheduleWindow], msgspec.Meta(max_length=MAX_WINDOWS)] | None = None


class Offender(msgspec.Struct, frozen=True):
    person_id: Id
    device_id: DeviceId | None = None
    residence: dict[str, Any] | None = None
    #: the RF home unit in the residence (``emon/v1/beacon/{beacon_id}``)
    beacon_id: DeviceId | None = None
    language: Language | None = None
    #: for the centre and the police only (``contacts``)
    phone: Phone | None = None


class Victim(msgspec.Struct, frozen=True):
    person_id: Id
    device_id: DeviceId | None = None
    address: dict[str, Any] | None = None
    language: Language | None = None
    #: for the centre and the police only (``contacts``)
    phone: Phone | None = None


class ZoneException(msgspec.Struct, frozen=True, kw_only=True):
    """An authorised exception to one zone (an extension of the contract's
    order): a court date, a hospital visit, a corridor through the zone to work.
    ``suspension``: the zone is not enforced in the window; ``corridor``: not
    where the offender is inside ``geometry`` (a Polygon) in the window."""

    exception_id: Id
    zone_id: Id
    kind: Literal["suspension", "corridor"]
    starts: Annotated[str, msgspec.Meta(max_length=64)] = msgspec.field(name="from")
    until: Annotated[str, msgspec.Meta(max_length=64)]
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    approved_by: Id
    geometry: dict[str, Any] | None = None

    @property
    def starts_ms(self) -> Millis:
        return parse_ts(self.starts)

    @property
    def until_ms(self) -> Millis:
        return parse_ts(self.until)


class ContactBan(msgspec.Struct, frozen=True):
    distance_m: Distance
    prealert_m: Ring | None = None


class Order(msgspec.Struct, frozen=True):
    order_id: Id
    valid_from: Annotated[str, msgspec.Meta(max_length=64)]
    valid_until: Annotated[str, msgspec.Meta(max_length=64)]
    offender: Offender
    case_id: Id | None = None
    risk: Risk = "medium"
    timezone: Annotated[str, msgspec.Meta(max_length=64)] = "UTC"
    max_silence_s: Silence | None = None
    max_uncertain_s: Silence | None = None
    victims: Annotated[list[Victim], msgspec.Meta(max_length=MAX_VICTIMS)] = []
    zones: Annotated[list[ZoneSpec], msgspec.Meta(max_length=MAX_ZONES)] = []
    contact_ban: ContactBan | None = None
    #: the language of its devices' texts where a person has none of their own
    language: Language | None = None
    exceptions: Annotated[list[ZoneException], msgspec.Meta(max_length=MAX_EXCEPTIONS)] = []

    @property
    def valid_from_ms(self) -> Millis:
        return parse_ts(self.valid_from)

    @property
    def valid_until_ms(self) -> Millis:
        return parse_ts(self.valid_until)

    @property
    def tracked_device_ids(self) -> list[str]:
        """The devices that send positions: the offender's, then the victims'."""
        ids = [self.offender.device_id, *(v.device_id for v in self.victims)]
        return [d for d in ids if d]

    @property
    def device_ids(self) -> list[str]:
        """Every device the order names: those tracked, then his home unit."""
        home = self.offender.beacon_id
        return self.tracked_device_ids + ([home] if home else [])

    @property
    def silence_limit_ms(self) -> Millis:
        seconds = DEFAULT_MAX_SILENCE_S if self.max_silence_s is None else self.max_silence_s
        return int(seconds * 1000)

    @property
    def uncertain_limit_ms(self) -> Millis:
        seconds = DEFAULT_MAX_UNCERTAIN_S if self.max_uncertain_s is None else self.max_uncertain_s
        return int(seconds * 1000)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class OrderFormatError(ValueError):
    """An order that cannot be read at all (not its guideline findings)."""


def parse_order(data: Any) -> Order:
    """Decode one order from JSON-compatible data; structural errors only.
    Numbers must be numbers (a string "1000" is refused, not read as one)."""
    try:
        order = msgspec.convert(data, Order, strict=True)
    except msgspec.ValidationError as exc:
        raise OrderFormatError(f"order is not in the contract's format: {exc}") from exc
    _check_readable(order)
    _check_bounded(order, data)
    return order


def _check_bounded(order: Order, data: Any) -> None:
    """Places are finite positions on earth; geometry and extensions are bounded."""
    for label, point in _places(order):
        if point is not None:
            _check_point(label, point)
    geometries = [z.geometry for z in order.zones] + [e.geometry or {} for e in order.exceptions]
    vertices = sum(_count_positions(g.get("coordinates")) for g in geometries)
    if vertices > MAX_VERTICES:
        raise OrderFormatError(f"zones: {vertices} positions in all, more than {MAX_VERTICES}")
    if _surely_within(data, MAX_UNKNOWN_BYTES):
        return  # the whole order is within the bound, so is what it carries unknown
    unknown = _unknown_fields(data, Order, "")
    size = sum(unknown.values())
    if size > MAX_UNKNOWN_BYTES:
        largest = max(unknown, key=lambda name: unknown[name])
        raise OrderFormatError(
            f"{largest}: fields the contract does not know take {size} bytes "
            f"(most of it in {largest}), more than {MAX_UNKNOWN_BYTES}"
        )


def _places(order: Order) -> list[tuple[str, dict[str, Any] | None]]:
    out = [("offender.residence", order.offender.residence)]
    out += [(f"victims[{i}].address", v.address) for i, v in enumerate(order.victims)]
    return out


def _check_point(label: str, point: dict[str, Any]) -> None:
    coordinates = point.get("coordinates")
    if point.get("type") != "Point" or not isinstance(coordinates, list):
        raise OrderFormatError(f"{label}: expected a GeoJSON Point")
    if not 2 <= len(coordinates) <= 3 or not all(
        isinstance(c, int | float) and not isinstance(c, bool) for c in coordinates
    ):
        raise OrderFormatError(f"{label}: coordinates must be [lon, lat] numbers")
    lon, lat = float(coordinates[0]), float(coordinates[1])
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise OrderFormatError(f"{label}: [{lon}, {lat}] is not a position on earth ([lon, lat])")


def _count_positions(value: Any) -> int:
    """How many positions a GeoJSON coordinates value holds, walked with a
    stack rather than recursion (a hostile nesting cannot exhaust it)."""
    if not isinstance(value, list):
        return 0
    if value and all(isinstance(v, int | float) for v in value):
        return 1
    stack, count = [value], 0
    while stack:
        items = stack.pop()
        for item in items:
            if isinstance(item, list):
                if item and not isinstance(item[0], list):
                    count += 1
                else:
                    stack.append(item)
    return count


#: the parts of an order that are models of their own (their unknown fields count too)
_NESTED: dict[type, dict[str, type]] = {
    Order: {
        "offender": Offender,
        "victims": Victim,
        "zones": ZoneSpec,
        "contact_ban": ContactBan,
        "exceptions": ZoneException,
    },
}


#: how much longer ``json.dumps`` (spaced separators, non-ASCII escaped) writes
#: what msgspec writes compactly, at most: ``é``, two bytes as UTF-8, is ``\u00e9``
JSON_DUMPS_GROWTH = 3


def _surely_within(data: Any, limit: int) -> bool:
    """Whether ``data`` as ``json.dumps`` writes it is surely no longer than
    ``limit`` (measured so, every stored order is not walked field by field
    at start-up)."""
    try:
        return JSON_DUMPS_GROWTH * len(msgspec.json.encode(data)) <= limit
    except (TypeError, msgspec.EncodeError, OverflowError):
        return False


@functools.cache
def _declared(model: type) -> frozenset[str]:
    """The fields a model declares (worked out once: every stored order is read at start-up)."""
    return frozenset(model.__struct_encode_fields__)  # type: ignore[attr-defined]


def _unknown_fields(data: Any, model: type, path: str) -> dict[str, int]:
    """Encoded size of each field of ``data`` (and of its offender, victims,
    zones and contact ban) that ``model`` does not declare, by its path."""
    if not isinstance(data, dict):
        return {}
    out = {
        f"{path}{key}": len(json.dumps(data[key], default=str))
        for key in data.keys() - _declared(model)
    }
    for field, inner in _NESTED.get(model, {}).items():
        value = data.get(field)
        if isinstance(value, list):
            for i, item in enumerate(value):
                out.update(_unknown_fields(item, inner, f"{path}{field}[{i}]."))
        else:
            out.update(_unknown_fields(value, inner, f"{path}{field}."))
    return out


def _check_readable(order: Order) -> None:
    for label, text in (("valid_from", order.valid_from), ("valid_until", order.valid_until)):
        try:
            parse_ts(text)
        except TimestampError as exc:
            raise OrderFormatError(f"{label}: {exc}") from exc
    try:
        ZoneInfo(order.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise OrderFormatError(f"unknown time zone {order.timezone!r}") from exc
    for zone in order.zones:
        for window in zone.schedule or []:
            for hhmm in (window.start, window.end):
                parse_hhmm(hhmm)
    zone_ids = {zone.zone_id for zone in order.zones}
    for i, exception in enumerate(order.exceptions):
        _check_exception(f"exceptions[{i}]", exception, zone_ids)


def _check_exception(label: str, exception: ZoneException, zone_ids: set[str]) -> None:
    try:
        starts, until = exception.starts_ms, exception.until_ms
    except TimestampError as exc:
        raise OrderFormatError(f"{label}: from and until: {exc}") from exc
    if until <= starts:
        raise OrderFormatError(f"{label}: until must be after from")
    if until - starts > MAX_EXCEPTION_S * 1000:
        raise OrderFormatError(f"{label}: longer than {MAX_EXCEPTION_S / 86_400:.0f} days")
    if exception.zone_id not in zone_ids:
        raise OrderFormatError(f"{label}: the order has no zone {exception.zone_id!r}")
    shape = (exception.geometry or {}).get("type")
    if exception.kind == "corridor" and shape not in ("Polygon", "MultiPolygon"):
        raise OrderFormatError(f"{label}: a corridor needs a Polygon or MultiPolygon geometry")


def parse_hhmm(text: str) -> int:
    """``"22:00"`` to minutes after midnight; ``"24:00"`` is the end of the day."""
    try:
        hours, minutes = text.split(":")
        value = int(hours) * 60 + int(minutes)
    except ValueError as exc:
        raise OrderFormatError(f"not a HH:MM time: {text!r}") from exc
    if not (0 <= int(minutes) < 60 and 0 <= value <= 24 * 60):
        raise OrderFormatError(f"not a HH:MM time: {text!r}")
    return value
