"""Orders compiled for the engine: devices, zones, and protection groups."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from emon.engine.exceptions import Excepted, compile_exceptions
from emon.geofence.measures import signed_distance
from emon.geofence.schedule import Schedule
from emon.geofence.zones import GeometryError, ZoneShape, compile_shapes
from emon.orders import Order, ZoneSpec
from emon.timeutil import Millis

#: the group of an order not yet placed in the index
UNGROUPED = -(2**62)


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
    group: int = UNGROUPED
    #: the offender's RF home unit, as a device (its messages, its silence)
    beacon: int | None = None
    #: the zones' compiled shapes, until the index gives them table rows
    shapes: tuple[ZoneShape, ...] = ()

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


class DeviceRows(Protocol):
    """Where the index finds, takes and gives back device rows (the device table)."""

    index: dict[str, int]

    def take(self, device_ids: list[str], activation: Millis) -> list[int]: ...

    def give_back(self, rows: list[int]) -> None: ...


@dataclass
class IndexChange:
    """What one change did, for the parts kept beside the index."""

    #: orders no longer live (revoked, or replaced by a new version)
    dropped: list[CompiledOrder] = field(default_factory=list)
    added: list[CompiledOrder] = field(default_factory=list)
    #: index of a replaced order -> index of its new version
    replaced: dict[int, int] = field(default_factory=dict)
    #: device rows taken (fresh) and given back in this change
    new_rows: list[int] = field(default_factory=list)
    freed_rows: list[int] = field(default_factory=list)
    #: live rows whose roles changed (every new row among them)
    touched_rows: list[int] = field(default_factory=list)
    #: the live orders whose group was worked out again, and the ids they
    #: (and the dropped orders) had before
    regrouped: list[CompiledOrder] = field(default_factory=list)
    old_groups: set[int] = field(default_factory=set)
    #: zone table rows to fill (with a row given back by a dropped order, or a new one)
    zones: list[tuple[int, ZoneShape]] = field(default_factory=list)


class OrderIndex:
    """The live orders compiled, with each device's roles and each order's
    protection group. An order change touches only the orders of the groups
    it changes: what a registration costs does not grow with the others."""

    def __init__(self) -> None:
        #: live orders by index (an index is never used twice)
        self.orders: dict[int, CompiledOrder] = {}
        #: order id -> index of its live version
        self.by_id: dict[str, int] = {}
        #: device row -> the roles it has in live orders
        self.roles: list[list[Role]] = []
        self._next_index = 0
        self._zone_rows = 0
        self._free_zones: list[int] = []

    def change(
        self, put: Sequence[Order], drop: Iterable[str], rows: DeviceRows, now: Millis
    ) -> IndexChange:
        """Orders registered (an order id already live is replaced) and
        revoked. Every order is compiled before anything changes, so an order
        that cannot be compiled leaves the index as it was."""
        # the last version of an order named twice is the one that counts
        compiled = list({c.order.order_id: c for c in compile_orders(put)}.values())
        change = IndexChange()
        replacing = {c.order.order_id for c in compiled}
        for order_id in [*drop, *replacing]:
            i = self.by_id.pop(order_id, None)
            if i is not None:
                self._drop(self.orders.pop(i), change)
        fresh = list(dict.fromkeys(
            d for c in compiled for d in c.order.device_ids if d not in rows.index
        ))  # fmt: skip
        change.new_rows = rows.take(fresh, now)
        extent = max(change.new_rows, default=-1) + 1
        self.roles.extend([] for _ in range(extent - len(self.roles)))
        replaced = {c.order.order_id: c.index for c in change.dropped}
        for c in compiled:
            self._place(c, rows.index, change)
            if c.order.order_id in replaced:
                change.replaced[replaced[c.order.order_id]] = c.index
        touched = set(change.new_rows)
        for c in change.dropped + change.added:
            touched.update(c.members)
        change.freed_rows = sorted(r for r in touched if not self.roles[r])
        rows.give_back(change.freed_rows)
        change.touched_rows = sorted(touched.difference(change.freed_rows))
        self._regroup(change)
        return change

    def _drop(self, order: CompiledOrder, change: IndexChange) -> None:
        for m in set(order.members):
            self.roles[m] = [r for r in self.roles[m] if r.order is not order]
        self._free_zones.extend(zone.table_index for zone in order.zones)
        change.dropped.append(order)
        change.old_groups.add(order.group)

    def _place(self, c: CompiledOrder, row: dict[str, int], change: IndexChange) -> None:
        """A compiled order given its index, device rows, zone rows and roles."""
        c.index = self._next_index
        self._next_index += 1
        offender, beacon = c.order.offender.device_id, c.order.offender.beacon_id
        c.offender = None if offender is None else row[offender]
        c.beacon = None if beacon is None else row[beacon]
        c.victims = [row[p.device_id] for p in c.order.victims if p.device_id is not None]
        for zone, shape in zip(c.zones, c.shapes, strict=True):
            zone.table_index = self._free_zones.pop() if self._free_zones else self._new_zone_row()
            change.zones.append((zone.table_index, shape))
        c.shapes = ()
        if c.offender is not None:
            self.roles[c.offender].append(Role(c, True))
        for v in c.victims:
            if v != c.offender:
                self.roles[v].append(Role(c, False))
        if c.beacon is not None and c.beacon != c.offender and c.beacon not in c.victims:
            self.roles[c.beacon].append(Role(c, False, beacon=True))
        self.orders[c.index] = c
        self.by_id[c.order.order_id] = c.index
        change.added.append(c)

    def _new_zone_row(self) -> int:
        self._zone_rows += 1
        return self._zone_rows - 1

    def _regroup(self, change: IndexChange) -> None:
        """Protection groups: orders linked by a shared device. Each group's
        state is independent of every other's, so workers can split by group.
        Only the groups of the changed orders' devices are worked out again:
        whatever a dropped order linked is reached from one of its devices."""
        seeds = set(change.touched_rows)
        seen: set[int] = set()
        for seed in sorted(seeds):
            if seed in seen:
                continue
            component, orders, stack = [], {}, [seed]
            seen.add(seed)
            while stack:
                dev = stack.pop()
                component.append(dev)
                for role in self.roles[dev]:
                    orders[role.order.index] = role.order
                    for m in role.order.members:
                        if m not in seen:
                            seen.add(m)
                            stack.append(m)
            group = min(component)
            for order in orders.values():
                change.old_groups.add(order.group)
                order.group = group
                change.regrouped.append(order)
        for order in change.added:
            if not order.members:  # no device at all: a group of its own
                order.group = -1 - order.index
                change.regrouped.append(order)
        change.old_groups.discard(UNGROUPED)


def compile_order(order: Order) -> CompiledOrder:
    """An order's zones, schedules and exceptions, before it has rows (raises
    ``GeometryError`` for a zone that cannot be enforced as drawn)."""
    return compile_orders([order])[0]


def compile_orders(orders: Sequence[Order]) -> list[CompiledOrder]:
    """Orders compiled together: their zones' shapes in one call (``compile_shapes``)."""
    shapes = iter(compile_shapes([(z.geometry, z.radius_m) for o in orders for z in o.zones]))
    compiled = []
    for order in orders:
        zones = []
        own = [next(shapes) for _ in order.zones]
        for spec, shape in zip(order.zones, own, strict=True):
            if isinstance(shape, GeometryError):
                raise GeometryError(f"order {order.order_id}, zone {spec.zone_id}: {shape}")
            zones.append(
                CompiledZone(
                    -1,
                    spec,
                    Schedule(spec.schedule, order.tz),
                    spec.type == "exclusion",
                    compile_exceptions(order.exceptions, spec.zone_id),
                    _holds_residence(spec, order),
                )
            )
        c = CompiledOrder(
            -1, order, None, [], zones, order.valid_from_ms, order.valid_until_ms,
            order.silence_limit_ms,
        )  # fmt: skip
        c.shapes = tuple(s for s in own if not isinstance(s, GeometryError))
        compiled.append(c)
    return compiled


def _holds_residence(spec: ZoneSpec, order: Order) -> bool:
    """An inclusion zone his residence lies in: the one a home unit speaks for."""
    home = order.offender.residence
    if spec.type != "inclusion" or order.offender.beacon_id is None or not home:
        return False
    lon, lat = (float(v) for v in home["coordinates"][:2])
    return signed_distance(spec, lon, lat) < 0
