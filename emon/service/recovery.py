"""The engine's state rebuilt from what is stored: at start-up, and when a
worker of a cluster gains or gives up partitions.

The engine is deterministic, so replaying the stored messages of the recent
past brings it back to the state it had; alerts are merged with what storage
holds and nothing is sent again (notifications still waiting for their
device are taken up where they were).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from emon import collector
from emon.engine import Message
from emon.service.order_changes import engine_anew
from emon.timeutil import Millis

if TYPE_CHECKING:
    from emon.service.runtime import Runtime

log = logging.getLogger("emon.recovery")

#: messages replayed through the engine at once
REPLAY_BATCH = 5000
#: from this many orders on, what start-up made is kept out of later garbage
#: collections (below it, a full collection is quick, and tests start many services)
LONG_LIVED_ORDERS = 10_000


def recover(runtime: Runtime, window_s: float, now: Millis) -> int:
    """At start-up: orders and alerts from storage, then the engine's state."""
    with collector.paused():  # 100,000 orders are millions of objects
        for stored in runtime.store.orders():
            runtime.book.load(stored)  # one that no longer loads is quarantined, not fatal
        replayed = rebuild(runtime, window_s, now)
    if len(runtime.orders) >= LONG_LIVED_ORDERS:
        collector.keep_out()
    log.info("recovered %d orders, %d alerts, %d messages",
             len(runtime.orders), len(runtime.alerts), replayed)  # fmt: skip
    return replayed


def rebuild(runtime: Runtime, window_s: float, now: Millis) -> int:
    """The alerts as stored, and the engine for the orders this service holds,
    from the stored messages of its partitions since ``now - window_s``.
    Everything processed must be stored first (the caller flushes the writer)."""
    shard = runtime.shard
    shard.remap(runtime.registered_orders())
    # as stored (on a handover: the last holder stored its alerts, operator actions too)
    runtime.alert_book.restore(runtime.store.alerts())
    since = now - int(window_s * 1000)
    runtime.recovering = True
    replayed = 0
    try:
        batch: list[Message] = []
        first = True
        for recv, topic, payload in runtime.store.messages_since(since):
            if not shard.owns_topic(topic):
                continue
            if first:
                runtime.engine = engine_anew(runtime.new_engine, runtime.book, recv)
                first = False
            batch.append(Message(recv, topic, payload))
            if len(batch) >= REPLAY_BATCH:
                replayed += _replay(runtime, batch)
                batch = []
        replayed += _replay(runtime, batch)
        if first:
            runtime.engine = engine_anew(runtime.new_engine, runtime.book, now)
    finally:
        runtime.recovering = False
    _restore_notifications(runtime, now)
    if not shard.whole:  # reminders another worker sent for partitions now held here
        runtime.schedule.sent.update({r["reminder_id"]: r for r in runtime.store.reminders()})
    return replayed


def _replay(runtime: Runtime, batch: list[Message]) -> int:
    if batch:
        runtime.after_engine(runtime.engine.handle_batch(batch).alerts)
    return len(batch)


def _restore_notifications(runtime: Runtime, now: Millis) -> None:
    """Notifications still waiting for a device of this service's partitions,
    and what each device was last told (from the alerts open for it)."""
    shard = runtime.shard
    victims = {v.device_id for r in runtime.orders.values() for v in r.order.victims if v.device_id}
    delivery = runtime.delivery
    delivery.pending.clear()
    rows = [row for row in runtime.store.unacknowledged() if shard.owns_device(str(row[2]))]
    delivery.restore(rows, victims)
    delivery.drain_changed()
    held = [a for a in runtime.alert_book.everything() if runtime.owns_alert(a.body)]
    delivery.forget()
    delivery.recall(held, runtime.book.order_of, now)
    runtime.escalations.forget()
    for shown in held:
        order = runtime.book.order_of(shown.order_id)
        runtime.escalations.track(shown.body, delivery.channels(shown.body, order),
                                  shown.span.detected_at)  # fmt: skip
