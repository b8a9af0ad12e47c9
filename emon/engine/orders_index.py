"""Orders compiled for the engine: devices, zones, and protection groups."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from emon.engine.exceptions import Excepted, compile_exceptions
from emon.geofence.measures import signed_distance
from emon.geofence.schedule import Schedule
from emon.geofence.zones import ZoneShape, compile_shape
from emon.orders import Order, ZoneSpec
from emon.timeutil import Millis


class _ShapeCache:
    """Compiled zone shapes of the last build, reused by the next: an order
    registered beside 100k others compiles its own zones, not all of them.
    (A ZoneShape is immutable and depends on its geometry and radius only.)"""

    def __init__(self) -> None:
        self._shapes: dict[tuple[str, float | None], ZoneShape] = {}

    def get(self, spec: ZoneSpec, kept: dict[tuple[str, float | None], ZoneShape]) -> ZoneShape:
        key = (msgspec.json.encode(spec.geometry).decode(), spec.radius_m)
        shape = kept.get(key) or self._shapes.get(key)
        if shape is None:
            shape = compile_shape(spec.geometry, spec.radius_m)
        kept[key] = shape
        return shape

    def keep_only(self, kept: dict[tuple[str, float | None], ZoneShape]) -> None:
        self._shapes = kept


_SHAPES = _ShapeCache()


@dataclass(slots=True)
class CompiledZone:
    table_index: int
    spec: ZoneSpec
    schedule: Schedule
    exclusion: bool
    #: the authorised exceptions to it (emon/engine/exceptions.py)
    exceptions: tuple[Excepted, ...] = ()
    #: an inclusion zone holding the offender's residence: satisfied while his
    #: home unit hears him (emon/engine/beacons.py)
    holds_residence: bool = False


@dataclass(slots=True)
class CompiledOrder:
    index: int
    order: Order
    offender: int | None
    victims: list[int]
    zones: list[CompiledZone]
    valid_from: Millis
    valid_until: Millis
    silence_ms: Millis
    group: int = -1
    #: the offender's RF home unit, as a device (its messages, its silence)
    beacon: int | None = None

    @property
    def members(self) -> list[int]:
        """Every device of the order: the offender's, the victims', the home unit."""
        devices = ([self.offender] if self.offender is not None else []) + self.victims
        return devices + ([self.beacon] if self.beacon is not None else [])

    def active_at(self, ts: Millis) -> bool:
        return self.valid_from <= ts < self.valid_until


@dataclass(slots=True)
class Role:
    order: CompiledOrder
    offender: bool
    #: the device is the order's home unit (no position of its own)
    beacon: bool = False


@dataclass
class OrderIndex:
    """Everything the engine needs to look up per device, built once."""

    orders: list[CompiledOrder]
    device_ids: list[str]
    shapes: list[ZoneShape]
    roles: list[list[Role]] = field(default_factory=list)

    @classmethod
    def build(cls, orders: list[Order]) -> OrderIndex:
        device_ids: list[str] = []
        device_index: dict[str, int] = {}

        def device(device_id: str | None) -> int | None:
            if device_id is None:
                return None
            if device_id not in device_index:
                device_index[device_id] = len(device_ids)
                device_ids.append(device_id)
            return device_index[device_id]

        compiled: list[CompiledOrder] = []
        shapes: list[ZoneShape] = []
        kept: dict[tuple[str, float | None], ZoneShape] = {}
        for i, order in enumerate(orders):
            zones = []
            for spec in order.zones:
                shapes.append(_SHAPES.get(spec, kept))
                zones.append(
                    CompiledZone(
                        len(shapes) - 1,
                        spec,
                        Schedule(spec.schedule, order.tz),
                        spec.type == "exclusion",
                        compile_exceptions(order.exceptions, spec.zone_id),
                        _holds_residence(spec, order),
                    )
                )
            victims = [v for v in (device(p.device_id) for p in order.victims) if v is not None]
            compiled.append(
                CompiledOrder(
                    i,
                    order,
                    device(order.offender.device_id),
                    victims,
                    zones,
                    order.valid_from_ms,
                    order.valid_until_ms,
                    order.silence_limit_ms,
                    beacon=device(order.offender.beacon_id),
                )
            )
        _SHAPES.keep_only(kept)
        index = cls(compiled, device_ids, shapes)
        index.roles = [[] for _ in device_ids]
        for c in compiled:
            if c.offender is not None:
                index.roles[c.offender].append(Role(c, True))
            for v in c.victims:
                if v != c.offender:
                    index.roles[v].append(Role(c, False))
            if c.beacon is not None and c.beacon != c.offender and c.beacon not in c.victims:
                index.roles[c.beacon].append(Role(c, False, beacon=True))
        index._assign_groups()
        return index

    def _assign_groups(self) -> None:
        """Protection groups: orders linked by a shared device. Each group's
        state is independent of every other's, so workers can split by group."""
        parent = list(range(len(self.device_ids)))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for c in self.orders:
            members = c.members
            for m in members[1:]:
                parent[find(m)] = find(members[0])
        for c in self.orders:
            members = c.members
            c.group = find(members[0]) if members else -1 - c.index


def _holds_residence(spec: ZoneSpec, order: Order) -> bool:
    """An inclusion zone his residence lies in: the one a home unit speaks for."""
    home = order.offender.residence
    if spec.type != "inclusion" or order.offender.beacon_id is None or not home:
        return False
    lon, lat = (float(v) for v in home["coordinates"][:2])
    return signed_distance(spec, lon, lat) < 0
