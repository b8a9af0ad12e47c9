"""Which orders the engine must take: registered, replaced or revoked since
it last took changes (emon/engine/order_changes.py changes it in place)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from emon.cluster.shard import Shard
from emon.engine import Engine, Outcome
from emon.orders import Order
from emon.service.orderbook import OrderBook
from emon.timeutil import Millis

log = logging.getLogger("emon.orders")


class ChangedOrders:
    """Ids of the orders changed since the engine last took changes: added
    from the API's threads, taken on the event loop (hence the lock)."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._ids)

    def add(self, order_id: str) -> None:
        with self._lock:
            self._ids.add(order_id)

    def take(self) -> set[str]:
        with self._lock:
            taken, self._ids = self._ids, set()
        return taken


def change_in_place(book: OrderBook, shard: Shard, engine: Engine, changed: set[str]) -> Outcome:
    """The engine changed in place (emon/engine/order_changes.py): only the
    changed orders' groups are touched, while alerts keep flowing. An order
    that does not compile is quarantined and the rest are taken."""
    try:
        return engine.change_orders(*engine_changes(book, shard, engine, changed))
    except Exception:
        log.exception("an order changed could not be compiled: looking for it")
    book.find_unbuildable()
    return engine.change_orders(*engine_changes(book, shard, engine, changed))


def engine_changes(
    book: OrderBook, shard: Shard, engine: Engine, changed: set[str]
) -> tuple[list[Order], list[str]]:
    """(orders to register or replace, ids to revoke). One service alone holds
    every order, and only the changed ones are looked at; a worker of a
    cluster maps its partitions again (a new order may join two groups, and
    so move devices between partitions) and compares with what it holds."""
    if shard.whole:
        now = {i: book.orders.get(i) for i in sorted(changed)}
        put = [r.order for r in now.values() if r is not None]
        return put, [i for i, r in now.items() if r is None]
    orders = [r.order for r in list(book.orders.values())]
    shard.remap(orders)
    wanted = {o.order_id: o for o in orders if shard.owns_order(o)}
    live = {c.order.order_id: c.order for c in engine.index.orders.values()}
    put = [o for i, o in wanted.items() if live.get(i) is not o]
    return put, [i for i in live if i not in wanted]


def engine_anew(build: Callable[[Millis], Engine], book: OrderBook, start: Millis) -> Engine:
    """The engine built for every registered order (the way back should a
    change fail in place); should one order fail to build, it is set aside
    and the rest are enforced."""
    try:
        return build(start)
    except Exception:
        log.exception("the engine could not be built: looking for the order that fails")
    book.find_unbuildable()
    return build(start)
