"""The live service around the pure engine: one owner of all mutable state.

Messages are stamped with the wall clock on arrival, stored raw (so that
`emon replay` of the stored stream gives the same alerts), and fed to the
engine in micro-batches. Alert changes are merged with operator actions,
routed, stored and pushed to live subscribers. Storage never blocks this: the
writer flushes in the background.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from emon import topics
from emon.alerts.model import AlertChange, ShownAlert
from emon.cluster.shard import Shard
from emon.engine.base import Message
from emon.engine.core import Engine
from emon.engine.outcome import Outcome
from emon.engine.policy import Policy
from emon.geofence.validation import Report
from emon.ingest.messages import route, storable
from emon.orders import Order
from emon.review.reminders import ReminderPolicy
from emon.service import recovery
from emon.service.alertbook import AlertBook
from emon.service.auth import Principal
from emon.service.casefile import Sight, alert_case
from emon.service.delivery import Delivery, Outgoing
from emon.service.health import board_order, device_health
from emon.service.metrics import Metrics
from emon.service.orderbook import OrderBook, Registered
from emon.service.reminder_schedule import ReminderSchedule
from emon.service.retention import Retention, holds_for, order_holds, prune
from emon.service.webhooks import Webhooks
from emon.storage import Store, Writer
from emon.storage.anchor import AnchorLog
from emon.storage.chain import Chain
from emon.storage.ledger import link_fields, notification_body
from emon.timeutil import Millis, format_ts

log = logging.getLogger("emon.runtime")


class ElsewhereUnavailable(Exception):
    """The worker that holds an alert did not answer (a cluster in the middle
    of a handover): the action is not taken; the caller may try again."""


#: the topic of a position marker in the inbox (never a device's: see mark_position)
POSITION = "\x00position"
#: how many times a micro-batch looks for more messages within its wait
#: (``batch_wait_s``): a batch that fills early goes early
BATCH_LOOKS = 4


def now_ms() -> Millis:
    return time.time_ns() // 1_000_000


def _json_text(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """JSON columns are written as text (SQLite TEXT, PostgreSQL JSONB)."""
    return tuple(json.dumps(v) if isinstance(v, dict | list) else v for v in row)


@dataclass
class Runtime:
    store: Store
    writer: Writer
    delivery: Delivery = field(default_factory=Delivery)
    metrics: Metrics = field(default_factory=Metrics)
    webhooks: Webhooks | None = None
    batch_max: int = 2000
    batch_wait_s: float = 0.02
    queue_limit: int = 100_000
    reminders: ReminderPolicy = field(default_factory=ReminderPolicy)
    retention: Retention = field(default_factory=Retention)
    reminder_period_ms: int = 60_000
    #: OwnTracks device id -> secret-box key (phones that encrypt their payloads)
    owntracks_keys: dict[str, bytes] = field(default_factory=dict)
    #: the chain heads anchored outside the database (emon/storage/anchor.py)
    anchors: AnchorLog | None = None
    #: the engine's thresholds (the config file's ``policy`` section)
    policy: Policy = field(default_factory=Policy)
    #: the partitions held here (all of them for one service alone; see emon/cluster)
    shard: Shard = field(default_factory=Shard)
    #: told of every alert change recorded here (a cluster's other workers show it too)
    on_record: Callable[[ShownAlert], None] | None = None
    #: told of every order version registered (its record) or revoked (None) here
    on_order: Callable[[str, dict[str, Any] | None, int], None] | None = None
    #: an operator's action on an alert another worker holds: taken there
    #: (alert id, action, note, actor, extra) -> the alert as it is now
    forward_act: Callable[[str, str, str, str, dict[str, Any]], dict[str, Any]] | None = None
    #: an alert's case view where another worker holds it (with its
    #: notifications' timers): made there. (alert id, who) -> the case
    case_elsewhere: Callable[[str, Principal], dict[str, Any]] | None = None
    #: the device board's rows of the devices other workers hold, and the
    #: workers that did not answer in time
    boards_elsewhere: Callable[[], tuple[list[dict[str, Any]], list[str]]] | None = None

    def __post_init__(self) -> None:
        #: the parts, each its own module: orders in, alerts shown, reminders due
        self.book = OrderBook(self.store)
        self.alert_book = AlertBook()
        self.schedule = ReminderSchedule(
            self.reminders, {r["reminder_id"]: r for r in self.store.reminders()}
        )
        self.engine = self.new_engine(now_ms())
        self.inbox: asyncio.Queue[Message] = asyncio.Queue(self.queue_limit)
        self.outbox: asyncio.Queue[Outgoing] = asyncio.Queue()
        self.recovering = False
        #: what keeps the service from being whole, by subject ("timers", ...):
        #: shown by /healthz as degraded, with the reason (beside the quarantined orders)
        self.problems: dict[str, str] = {}
        self._stale = False
        #: broker acknowledgements waiting for their message to be stored
        self._acks: dict[int, Callable[[], object]] = {}
        #: stream positions (partition, sequence) of messages not yet processed:
        #: stored with them, in the same transaction (see emon/service/nats_intake.py)
        self._marks: dict[int, tuple[int, int]] = {}
        self._positions: dict[int, dict[int, int]] = {}
        #: while the intake catches up on a backlog, the engine's clock goes no
        #: further than the backlog has (no false silence after an outage)
        self.clock_hold: Callable[[], Millis | None] = lambda: None
        #: messages in the stream still to be read (the NATS intake says)
        self.stream_backlog = 0
        #: held while a batch or a tick runs, and while partitions change hands
        self.exclusive = asyncio.Lock()
        #: messages handed in, and processed: a handover waits for those taken
        self.received = 0
        self.processed = 0
        self._reminders_checked: Millis = 0
        self.use_chain_slot(0)

    def use_chain_slot(self, slot: int) -> None:
        """Continue the evidence chain of this worker slot (one service alone: 0)."""
        self.chain = Chain.resume(slot, self.store.chain_head(slot))

    # the parts' state, as readers and tests have always reached it
    @property
    def orders(self) -> dict[str, Registered]:
        return self.book.orders

    @orders.setter
    def orders(self, orders: dict[str, Registered]) -> None:
        self.book.orders = orders

    @property
    def quarantined(self) -> dict[str, str]:
        return self.book.quarantined

    @property
    def alerts(self) -> dict[str, dict[str, Any]]:
        return self.alert_book.alerts

    @property
    def subscribers(self) -> set[asyncio.Queue[dict[str, Any]]]:
        return self.alert_book.subscribers

    @property
    def reminders_sent(self) -> dict[str, dict[str, Any]]:
        return self.schedule.sent

    def registered_orders(self) -> list[Order]:
        """Every order registered, as one copy: the API registers orders from
        its threads while the event loop builds engines from them (iterating
        the dict itself failed with "changed size during iteration")."""
        return [r.order for r in list(self.orders.values())]

    def new_engine(self, start: Millis) -> Engine:
        """An engine for the orders of the partitions held here."""
        return Engine(
            [order for order in self.registered_orders() if self.shard.owns_order(order)],
            policy=self.policy,
            start=start,
            owntracks_keys=self.owntracks_keys,
            keep_fixes=True,
        )

    # -- orders -------------------------------------------------------------------
    def put_order(self, body: dict[str, Any]) -> tuple[Report, bool]:
        """Register or replace an order. Returns the validation report and
        whether it was registered (unusable orders are refused)."""
        report, registered = self.book.admit(body)
        if registered is None:
            return report, False
        order_id = registered.order.order_id
        self.schedule.moved(order_id)
        record = dict(body, _warnings=[f.to_json() for f in report.findings])
        row = (order_id, registered.version, record, now_ms(), None)
        self._add_chained("orders", "order", [row])
        self._rebuild()
        if self.on_order is not None:
            self.on_order(order_id, record, registered.version)
        return report, True

    def revoke_order(self, order_id: str) -> bool:
        revoked = self.book.revoke(order_id)
        if revoked is None:
            return False
        registered, version = revoked
        row = (order_id, version, registered.body, now_ms(), now_ms())
        self._add_chained("orders", "order", [row])
        self._rebuild()
        if self.on_order is not None:
            self.on_order(order_id, None, version)
        return True

    def order_elsewhere(self, order_id: str, record: dict[str, Any] | None, version: int) -> None:
        """An order version another worker registered (or revoked) and stored."""
        if self.book.apply(order_id, record, version):
            if record is not None:
                self.schedule.moved(order_id)
            self._rebuild()

    def _rebuild(self) -> None:
        """Orders changed: the engine is rebuilt before the next message or
        tick, so that a burst of registrations costs one rebuild."""
        self._stale = True

    def _current_engine(self) -> Engine:
        if self._stale:
            self._stale = False
            self.shard.remap(self.registered_orders())
            old = self.engine
            self.engine = self._engine_without_bad_orders(old.clock)
            self.after_engine(self.engine.carry_over(old).alerts)
        return self.engine

    def _engine_without_bad_orders(self, start: Millis) -> Engine:
        """The engine for every registered order; should one fail to build,
        it is set aside and the rest are enforced."""
        try:
            return self.new_engine(start)
        except Exception:
            log.exception("the engine could not be built: looking for the order that fails")
        self.book.find_unbuildable()
        return self.new_engine(start)

    # -- ingest ---------------------------------------------------------------------
    async def submit(
        self,
        topic: str,
        payload: bytes,
        ack: Callable[[], object] | None = None,
        recv: Millis | None = None,
        mark: tuple[int, int] | None = None,
    ) -> None:
        """Called by the MQTT client for each message. When the engine falls
        behind, this waits (back-pressure to the broker, which holds QoS 1
        messages for our persistent session) rather than dropping anything.
        ``recv``: when the broker took it (a stream's time), else now;
        ``mark``: its (partition, stream sequence), stored with it."""
        message = Message(now_ms() if recv is None else recv, topic, payload)
        self.received += 1
        if self.inbox.full():
            self.metrics.overload.inc()
        await self.inbox.put(message)
        self._keep(message, ack, mark)

    def offer(self, topic: str, payload: bytes, recv: Millis, mark: tuple[int, int]) -> bool:
        """``submit`` without waiting, for a caller that reads faster than a
        coroutine a message allows: False (nothing taken) when the inbox is full."""
        if self.inbox.full():
            return False
        message = Message(recv, topic, payload)
        self.received += 1
        self.inbox.put_nowait(message)
        self._keep(message, None, mark)
        return True

    def _keep(
        self, message: Message, ack: Callable[[], object] | None, mark: tuple[int, int] | None
    ) -> None:
        """What goes with a message in the inbox until it is processed."""
        if ack is not None:
            self._acks[id(message)] = ack
        if mark is not None:
            self._marks[id(message)] = mark

    async def run_ingest(self) -> None:
        while True:
            batch = [await self.inbox.get()]
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.batch_wait_s
            while True:  # what has come, then a little more (no task a message)
                while len(batch) < self.batch_max and not self.inbox.empty():
                    batch.append(self.inbox.get_nowait())
                left = deadline - loop.time()
                if len(batch) >= self.batch_max or left <= 0:
                    break
                await asyncio.sleep(min(left, self.batch_wait_s / BATCH_LOOKS))
            async with self.exclusive:
                self.process(batch)
            self.processed += len(batch)

    async def processed_up_to(self, received: int) -> None:
        """Until every message handed in so far has been through the engine."""
        while self.processed < received:
            await asyncio.sleep(0.01)

    def process(self, batch: list[Message]) -> None:
        started = time.perf_counter()
        if self._marks or self._positions:
            batch = self._store_marks(batch)
            if not batch:
                return
        link = self.chain.link
        kept = [(m.recv, m.topic, storable(m.topic, m.payload)) for m in batch]
        self.writer.add("messages", [(*row, *link("message", row)) for row in kept])
        acks = [a for a in (self._acks.pop(id(m), None) for m in batch) if a is not None]
        self.writer.after_durable(acks)
        for m in batch:
            routed = route(m.topic)
            if routed and routed[0] == "ack":
                self._acknowledge(routed[1], m.payload, m.recv)
        self._evaluate(batch)
        self.metrics.evaluation.observe(time.perf_counter() - started)
        self.metrics.messages.inc(len(batch))

    async def mark_position(self, marks: dict[int, int]) -> None:
        """The stream positions up to which every message of these partitions
        has been handed in (a partition without traffic moves on too): stored
        once what came before is."""
        message = Message(0, POSITION, b"")
        self._positions[id(message)] = marks
        self.received += 1
        await self.inbox.put(message)

    def _store_marks(self, batch: list[Message]) -> list[Message]:
        """How far each partition's messages are stored: in the same write as
        the messages, so a new owner takes up exactly where storage ends.
        The batch without its position markers."""
        latest: dict[int, int] = {}
        kept = []
        for m in batch:
            marks = [self._marks.pop(id(m))] if id(m) in self._marks else []
            if m.topic == POSITION:
                marks = list(self._positions.pop(id(m), {}).items())
            else:
                kept.append(m)
            for partition, seq in marks:
                latest[partition] = max(seq, latest.get(partition, 0))
        if latest:
            self.writer.add("partition_marks", sorted(latest.items()))
        return kept

    def _evaluate(self, batch: list[Message]) -> None:
        """Through the engine. Should it fail on something no check foresaw,
        the batch is evaluated again message by message, so that one poison
        message (stored raw already) costs its own evaluation, not its batch's."""
        try:
            outcome = self._current_engine().handle_batch(batch)
        except Exception:
            if len(batch) == 1:
                log.exception("the engine failed on a message on %s", batch[0].topic)
                self.metrics.engine_errors.inc()
                return
            for message in batch:
                self._evaluate([message])
            return
        self._store_outcome(outcome)
        self.after_engine(outcome.alerts)

    async def run_timers(self, period_s: float = 1.0) -> None:
        """Silence, re-sends, escalations, reminders, every second. A tick
        that fails is logged, counted and shown on /healthz; the next runs."""
        while True:
            await asyncio.sleep(period_s)
            try:
                async with self.exclusive:
                    self.tick(now_ms())
            except Exception as exc:
                log.exception("a timer tick failed")
                self.metrics.engine_errors.inc()
                self.problems["timers"] = f"a tick failed: {type(exc).__name__}: {exc}"
            else:
                self.problems.pop("timers", None)

    def behind_s(self, now: Millis) -> float:
        """How old (s) the messages being judged are while a backlog is read."""
        held = self.clock_hold()
        return max(0.0, (now - held) / 1000) if held is not None else 0.0

    def tick(self, now: Millis) -> None:
        self.metrics.behind.set(self.behind_s(now))
        self.metrics.stream_backlog.set(self.stream_backlog)
        held = self.clock_hold()
        if held is not None:
            now = min(now, held)
        self.after_engine(self._current_engine().advance(now).alerts)
        if now - self._reminders_checked >= self.reminder_period_ms:
            self._reminders_checked = now
            self.check_reminders(now)
        for message in self.delivery.tick(now):
            self._send(message)
        self._store_notifications()
        self.metrics.inbox.set(self.inbox.qsize())
        self.metrics.store_queue.set(self.writer.depth)
        self.metrics.store_healthy.set(1 if self.writer.healthy else 0)

    def _acknowledge(self, device_id: str, payload: bytes, now: Millis) -> None:
        try:
            notification_id = json.loads(payload).get("notification_id")
        except (ValueError, AttributeError):
            return
        record = self.delivery.acknowledge(device_id, str(notification_id), now)
        if record is not None:
            self.metrics.ack_latency.observe((now - record.sent_at) / 1000)

    def _store_outcome(self, outcome: Outcome) -> None:
        """The fixes the engine took and the messages it refused."""
        rejected = outcome.rejections
        if rejected:
            self.writer.add(
                "rejections", [(r.recv, r.topic, r.reason, r.detail, r.payload) for r in rejected]
            )
            for r in rejected:
                self.metrics.rejections.labels(r.reason).inc()
        if outcome.fixes:
            self._add_chained("fixes", "fix", list(outcome.fixes))
            self.metrics.fixes.inc(len(outcome.fixes))

    # -- alerts -----------------------------------------------------------------------
    def after_engine(self, changes: Sequence[AlertChange]) -> None:
        for change in changes:
            order = self.book.order_of(change.order_id)
            alert = self.alert_book.merge(change, order.risk if order else None)
            if self.recovering:
                continue
            for message in self.delivery.on_alert(alert, order, now_ms()):
                self._send(message)
            self._record(alert)
            if change.raised:
                self.metrics.alerts.labels(alert["type"]).inc()
        self._store_notifications()

    async def run_retention(self, period_s: float = 3600.0) -> None:
        """Hourly: remove what has outlived its retention period (not what is held)."""
        while True:
            try:
                await asyncio.to_thread(prune, self.store, self.retention, now_ms())
            except Exception:  # the database may be away: next hour, then
                log.exception("retention could not run")
            await asyncio.sleep(period_s)

    def hold(self, order_id: str, lo: Millis, hi: Millis, reason: str) -> int:
        """Keep an order's data beyond retention (a case under investigation)."""
        rows = order_holds(self.orders[order_id].order, lo, hi, reason)
        self.writer.add("holds", rows)
        return len(rows)

    def check_reminders(self, now: Millis) -> None:
        """Orders about to run out or lapsed: the supervisor and the OM are told
        on ``emon/v1/reminders/{reclassering|om}``, once (stored)."""
        held = {k: r for k, r in self.orders.items() if self.shard.owns_order(r.order)}
        for reminder in self.schedule.due_now(held, now):
            payload = json.dumps(reminder).encode()
            for channel in ("reclassering", "om"):
                self._send(Outgoing(topics.reminders(channel), payload))
            row = (str(reminder["reminder_id"]), reminder["order_id"], payload.decode(), now)
            self.writer.add("reminders", [row])

    def _send(self, message: Outgoing) -> None:
        """At once, not after storage (waiting for the writer cost 0.6-0.7 s
        at 2,000 fixes/s here): a worker killed between sending a warning and
        storing it makes the next one send it again, with the same
        notification id, which devices drop as a repeat."""
        self.outbox.put_nowait(message)
        if self.webhooks is not None and message.topic.startswith(topics.ALERTS):
            self.webhooks.submit(message.topic.rsplit("/", 1)[1], message.payload)

    def _order_of(self, alert: Mapping[str, Any]) -> Order | None:
        return self.book.order_of(alert["order_id"])

    def _record(self, alert: dict[str, Any]) -> None:
        body = json.dumps(alert)
        now = now_ms()
        self.writer.add("alerts", [(alert["alert_id"], body, now)])
        shown = self.alert_book.shown(alert["alert_id"])
        holds = holds_for(shown, self._order_of(alert))
        if holds:
            self.writer.add("holds", holds)
        self._add_chained("alert_changes", "alert_change", [(alert["alert_id"], now, alert)])
        self.alert_book.publish(alert)
        if self.on_record is not None:
            self.on_record(shown)

    def shown_elsewhere(self, shown: ShownAlert) -> None:
        """An alert recorded by the worker that holds its partition: shown here too."""
        if shown.alert_id in self.alerts and self.owns_alert(shown.body):
            return  # ours: this worker's record is the one that counts
        self.alert_book.show(shown)
        self.alert_book.publish(self.alerts[shown.alert_id])

    def owns_alert(self, alert: Mapping[str, Any]) -> bool:
        order = self._order_of(alert)
        return self.shard.whole or (order is not None and self.shard.owns_order(order))

    def _add_chained(self, table: str, kind: str, rows: list[tuple[Any, ...]]) -> None:
        """Store rows with their links in the evidence chain, each linked on
        its content as it will read back (see emon/storage/ledger.py)."""
        link = self.chain.link
        self.writer.add(table, [(*_json_text(row), *link(kind, link_fields(kind, row)))
                                for row in rows])  # fmt: skip

    def _store_notifications(self) -> None:
        changed = self.delivery.drain_changed()
        if not changed:
            return
        now = now_ms()
        self.writer.add("notifications", [p.row() for p in changed])
        states = [(p.notification_id, now, notification_body(p.row())) for p in changed]
        self._add_chained("notification_changes", "notification", states)
        for record in changed:
            alert = self.alerts.get(record.alert_id)
            if record.escalated and alert is not None and "escalation" not in alert:
                alert["escalation"] = {
                    "at": format_ts(now),
                    "device_id": record.device_id,
                    "action": "phone the victim",
                    # unconfirmable: her device (an OwnTracks phone) cannot acknowledge
                    "reason": "unacknowledged" if record.confirmable else "unconfirmable",
                }
                self._record(alert)

    def act(
        self, alert_id: str, action: str, note: str, actor: str, **extra: Any
    ) -> dict[str, Any]:
        """An operator acknowledges, assigns or resolves an alert (resolving
        needs a note); police dispatch confirms it has taken it on."""
        if self.forward_act is not None and not self.owns_alert(self.alerts[alert_id]):
            return self.forward_act(alert_id, action, note, actor, extra)
        now = now_ms()
        alert = self.alert_book.act(alert_id, action, note, actor, now, **extra)
        self._add_chained("actions", "action", [(alert_id, action, note, actor, now)])
        self._record(alert)
        return alert

    # -- recovery -----------------------------------------------------------------------
    def recover(self, window_s: float) -> int:
        """Orders and alerts from storage, and the engine's state from the
        stored messages of the recent past (emon/service/recovery.py)."""
        return recovery.recover(self, window_s, now_ms())

    def audit(self, who: Principal, action: str, subject: str, detail: str = "") -> None:
        """A person read location data (or other protected data): recorded."""
        self.writer.add("audit", [(now_ms(), who.name, who.role, action, subject, detail)])

    # -- reads ---------------------------------------------------------------------------
    def case(self, alert_id: str, who: Principal) -> dict[str, Any]:
        alert = self.alerts[alert_id]
        if self.case_elsewhere is not None and not self.owns_alert(alert):
            return self.case_elsewhere(alert_id, who)  # its notifications are held there
        sight = Sight(who.may("locations:offender"), who.may("locations:victim"))
        notifications = self.delivery.by_alert.get(alert_id, [])
        order = self._order_of(alert)
        case = alert_case(self.alert_book.shown(alert_id), order, self.store, notifications,
                          self.engine.policy, sight, now_ms())  # fmt: skip
        case["channels"] = list(self.delivery.channels(alert, order))
        shown = [k for k in ("offender_track", "victim_tracks") if k in case]
        if shown:
            self.audit(who, "read_locations", alert_id, ",".join(shown))
        return case

    def concerns(self, who: Principal, alert: dict[str, Any]) -> bool:
        """Police dispatch sees the alerts routed to the police, no others
        (a flat battery is not police business); other roles see all."""
        if who.role != "police":
            return True
        return "police" in self.delivery.channels(alert, self._order_of(alert))

    def device_health(self) -> list[dict[str, Any]]:
        """The board of the devices this worker holds (every device, alone)."""
        return device_health(self._current_engine(), self.alerts.values(), now_ms())

    def device_board(self) -> tuple[list[dict[str, Any]], list[str]]:
        """Every device's row, the worst first, wherever it is held; and the
        workers that did not answer (their devices are missing)."""
        rows = self.device_health()
        if self.boards_elsewhere is None:
            return rows, []
        others, unanswered = self.boards_elsewhere()
        rows += others
        rows.sort(key=board_order)
        return rows, unanswered

    def order_summaries(self) -> list[dict[str, Any]]:
        return [
            {
                "order_id": order_id,
                "case_id": r.order.case_id,
                "risk": r.order.risk,
                "version": r.version,
                "valid_until": r.order.valid_until,
                "enforceable": r.report.enforceable,
                "findings": len(r.report.findings),
            }
            for order_id, r in sorted(self.orders.items())
        ]

    def list_alerts(self, state: str | None) -> list[dict[str, Any]]:
        return self.alert_book.listed(state)
