"""The partitions this service holds, and whether a device, order or topic is among them.

One service alone holds the one partition there is (everything). A worker of
a cluster holds those its leases give it (emon/service/cluster.py); the map
from devices to partitions follows the orders (emon/cluster/partitioning.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from emon.cluster.partitioning import PartitionMap
from emon.ingest.messages import route
from emon.orders import Order


@dataclass
class Shard:
    count: int = 1
    owned: set[int] = field(default_factory=lambda: {0})
    map: PartitionMap = field(default_factory=lambda: PartitionMap(1, {}))

    @property
    def whole(self) -> bool:
        """Everything is here (one service alone): no lookups needed."""
        return self.count == 1 and 0 in self.owned

    def remap(self, orders: Iterable[Order]) -> None:
        if self.count > 1:
            self.map = PartitionMap.of(orders, self.count)

    def of_device(self, device_id: str) -> int:
        return 0 if self.count == 1 else self.map.device(device_id)

    def of_topic(self, topic: str) -> int:
        """A message's partition: its device's (a topic emon does not take
        is stored, and rejected, by the owner of the topic as a name)."""
        routed = route(topic)
        return self.of_device(routed[1] if routed else topic)

    def of_order(self, order: Order) -> int:
        return 0 if self.count == 1 else self.map.order(order)

    def owns_topic(self, topic: str) -> bool:
        return self.whole or self.of_topic(topic) in self.owned

    def owns_device(self, device_id: str) -> bool:
        return self.whole or self.of_device(device_id) in self.owned

    def owns_order(self, order: Order) -> bool:
        return self.whole or self.of_order(order) in self.owned
