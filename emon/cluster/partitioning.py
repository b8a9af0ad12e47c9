"""Which partition a device belongs to, and how many partitions each worker should hold.

A protection group (an offender and the victims of his orders, linked by any
shared device) is the unit of state: its contact bans need all its devices'
positions, and nothing outside it. Every worker computes the same map from
the same orders, so a device's messages go to one owner without asking anyone.
Pure: no IO, no clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from emon.orders import Order

#: enough to spread the load over a few dozen workers evenly (a partition is
#: the unit of failover: more of them, smaller steps when a worker leaves)
DEFAULT_PARTITIONS = 32


def partition_of(key: str, count: int) -> int:
    """A stable hash (the same on every machine and Python run, unlike ``hash``)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


def order_devices(order: Order) -> list[str]:
    return order.device_ids  # its home unit's messages go where he is judged


def group_keys(orders: Iterable[Order]) -> dict[str, str]:
    """Device id -> its protection group's key (the smallest device id in the
    group: the same on every worker for the same orders)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for order in orders:
        devices = order_devices(order)
        for device in devices:
            find(device)
        for device in devices[1:]:
            a, b = find(devices[0]), find(device)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {device: find(device) for device in parent}


@dataclass(frozen=True)
class PartitionMap:
    """Device -> partition for one set of orders. A device in no order (its
    messages are stored and rejected all the same) goes by its own id."""

    count: int
    groups: Mapping[str, str]

    @classmethod
    def of(cls, orders: Iterable[Order], count: int) -> PartitionMap:
        return cls(count, group_keys(orders))

    def device(self, device_id: str) -> int:
        return partition_of(self.groups.get(device_id, device_id), self.count)

    def order(self, order: Order) -> int:
        devices = order_devices(order)
        return self.device(devices[0]) if devices else partition_of(order.order_id, self.count)


def fair_share(me: str, workers: Sequence[str], count: int) -> int:
    """How many partitions ``me`` should hold among these live workers: an
    even split, the remainder to the first workers by name (so all agree)."""
    ordered = sorted(set(workers) | {me})
    base, extra = divmod(count, len(ordered))
    return base + (1 if ordered.index(me) < extra else 0)


@dataclass(frozen=True)
class Plan:
    claim: tuple[int, ...]
    release: tuple[int, ...]


def plan(me: str, workers: Sequence[str], owners: Mapping[int, str], count: int) -> Plan:
    """One step towards the fair share: release what is over it (the highest
    numbers), claim free partitions while under it (the lowest). Taken by
    every worker in turn, the partitions converge to one owner each."""
    target = fair_share(me, workers, count)
    held = sorted(p for p, owner in owners.items() if owner == me)
    if len(held) > target:
        return Plan((), tuple(held[target:]))
    free = [p for p in range(count) if p not in owners]
    return Plan(tuple(free[: target - len(held)]), ())
