"""Protection orders as typed models, parsed exactly as the contract writes them."""

from __future__ import annotations

from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from emon.timeutil import Millis, TimestampError, parse_ts

Risk = Literal["low", "medium", "high"]
ZoneType = Literal["exclusion", "inclusion"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

DEFAULT_MAX_SILENCE_S = 600.0


class ScheduleWindow(msgspec.Struct, frozen=True):
    days: list[Weekday]
    start: str
    end: str


class ZoneSpec(msgspec.Struct, frozen=True):
    zone_id: str
    type: ZoneType
    geometry: dict[str, Any]
    radius_m: float | None = None
    prealert_m: float | None = None
    schedule: list[ScheduleWindow] | None = None


class Offender(msgspec.Struct, frozen=True):
    person_id: str
    device_id: str | None = None
    residence: dict[str, Any] | None = None


class Victim(msgspec.Struct, frozen=True):
    person_id: str
    device_id: str | None = None
    address: dict[str, Any] | None = None


class ContactBan(msgspec.Struct, frozen=True):
    distance_m: float
    prealert_m: float | None = None


class Order(msgspec.Struct, frozen=True):
    order_id: str
    valid_from: str
    valid_until: str
    offender: Offender
    case_id: str | None = None
    risk: Risk = "medium"
    timezone: str = "UTC"
    max_silence_s: float | None = None
    victims: list[Victim] = []
    zones: list[ZoneSpec] = []
    contact_ban: ContactBan | None = None

    @property
    def valid_from_ms(self) -> Millis:
        return parse_ts(self.valid_from)

    @property
    def valid_until_ms(self) -> Millis:
        return parse_ts(self.valid_until)

    @property
    def silence_limit_ms(self) -> Millis:
        seconds = DEFAULT_MAX_SILENCE_S if self.max_silence_s is None else self.max_silence_s
        return int(seconds * 1000)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class OrderFormatError(ValueError):
    """An order that cannot be read at all (not its guideline findings)."""


def parse_order(data: Any) -> Order:
    """Decode one order from JSON-compatible data; structural errors only."""
    try:
        order = msgspec.convert(data, Order, strict=False)
    except msgspec.ValidationError as exc:
        raise OrderFormatError(f"order is not in the contract's format: {exc}") from exc
    _check_readable(order)
    return order


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
