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
from emon.alerts.delivery import Delivery, Outgoing
from emon.alerts.escalation import Due, Escalations, Ladder
from emon.alerts.model import AlertChange, ShownAlert
from emon.cluster.shard import Shard
from emon.engine import Engine, Message, Outcome, Policy
from emon.geofence.validation import Report
from emon.ingest.messages import route
from emon.orders import Order
from emon.review.reminders import ReminderPolicy
from emon.service import recovery
from emon.service.alertbook import LiveAlertBook
from emon.service.auth import Principal
from emon.service.elsewhere import Peers
from emon.service.ingest import Ingest
from emon.service.metrics import Metrics
from emon.service.order_changes import ChangedOrders, change_in_place, engine_anew
from emon.service.orderbook import OrderBook, Registered
from emon.service.recorder import Recorder
from emon.service.reminder_schedule import ReminderSchedule
from emon.service.retention import Retention, holds_for, order_holds
from emon.service.stored_tracks import StoredTracks
from emon.service.webhooks import Webhooks
from emon.storage import Store, Writer
from emon.storage.anchor import AnchorLog
from emon.storage.chain import Chain
from emon.timeutil import Millis, now_ms

log = logging.getLogger("emon.runtime")


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
    #: the other workers of a cluster (None for a service alone)
    peers: Peers | None = None
    #: when an alert nobody takes on goes to the supervisor
    ladder: Ladder = field(default_factory=Ladder)

    def __post_init__(self) -> None:
        #: the parts, each its own module: orders in, alerts shown, reminders due
        self.book = OrderBook(self.store)
        self.alert_book = LiveAlertBook()
        self.schedule = ReminderSchedule(self.reminders, {})
        self.recorder = Recorder(self.writer)
        #: the fixes table, for late fixes older than the engine's memory
        self.stored_tracks = StoredTracks(self.store)
        self.escalations = Escalations(self.ladder)
        self.engine = self.new_engine(now_ms())
        self.ingest = Ingest(self.metrics, self.batch_max, self.batch_wait_s, self.queue_limit)
        self.outbox: asyncio.Queue[Outgoing] = asyncio.Queue()
        self.recovering = False
        #: what keeps the service from being whole, by subject ("timers", ...):
        #: shown by /healthz as degraded, with the reason (beside the quarantined orders)
        self.problems: dict[str, str] = {}
        #: orders registered or revoked since the engine last took changes
        self._changed = ChangedOrders()
        #: while the intake catches up on a backlog, the engine's clock goes no
        #: further than the backlog has (no false silence after an outage)
        self.clock_hold: Callable[[], Millis | None] = lambda: None
        #: messages in the stream still to be read (the NATS intake says)
        self.stream_backlog = 0
        #: held while a batch or a tick runs, and while partitions change hands
        self.exclusive = asyncio.Lock()
        self._reminders_checked: Millis = 0

    @classmethod
    def open(cls, store: Store, writer: Writer, **options: Any) -> Runtime:
        """The runtime, with what it continues read from storage: the
        evidence chain's head and the reminders already sent."""
        runtime = cls(store, writer, **options)
        runtime.schedule.sent.update({r["reminder_id"]: r for r in store.reminders()})
        runtime.use_chain_slot(0)
        return runtime

    def use_chain_slot(self, slot: int) -> None:
        """Continue the evidence chain of this worker slot (one service alone: 0)."""
        self.recorder.chain = Chain.resume(slot, self.store.chain_head(slot))

    @property
    def chain(self) -> Chain:
        assert self.recorder.chain is not None, "build the runtime with Runtime.open()"
        return self.recorder.chain

    # the parts' state, as readers and tests have always reached it
    @property
    def orders(self) -> dict[str, Registered]:
        return self.book.orders

    @property
    def quarantined(self) -> dict[str, str]:
        return self.book.quarantined

    @property
    def alerts(self) -> dict[str, dict[str, Any]]:
        return self.alert_book.alerts

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
            tracks=self.stored_tracks,
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
        self.recorder.order_version(order_id, registered.version, record, now_ms(), None)
        self._order_changed(order_id)
        if self.peers is not None:
            self.peers.order_changed(order_id, record, registered.version)
        return report, True

    def revoke_order(self, order_id: str) -> bool:
        revoked = self.book.revoke(order_id)
        if revoked is None:
            return False
        registered, version = revoked
        self.recorder.order_version(order_id, version, registered.body, now_ms(), now_ms())
        self._order_changed(order_id)
        if self.peers is not None:
            self.peers.order_changed(order_id, None, version)
        return True

    def order_elsewhere(self, order_id: str, record: dict[str, Any] | None, version: int) -> None:
        """An order version another worker registered (or revoked) and stored."""
        if self.book.apply(order_id, record, version):
            if record is not None:
                self.schedule.moved(order_id)
            self._order_changed(order_id)

    def _order_changed(self, order_id: str) -> None:
        """An order changed: the engine takes it before the next message or
        tick, so that a burst of registrations is taken at once."""
        self._changed.add(order_id)

    def current_engine(self) -> Engine:
        if self._changed:
            try:
                outcome = change_in_place(self.book, self.shard, self.engine, self._changed.take())
            except Exception:
                log.exception("orders could not be changed in place: building the engine anew")
                old = self.engine
                self.engine = engine_anew(self.new_engine, self.book, old.clock)
                outcome = self.engine.carry_over(old)
            self.after_engine(outcome.alerts)
        return self.engine

    # -- ingest (the inbox and batching: emon/service/ingest.py) ----------------------
    async def run_ingest(self) -> None:
        await self.ingest.run(self.process, self.exclusive)

    def process(self, batch: list[Message]) -> None:
        """A batch stored raw (chained) and judged; the broker is told once
        it is durable, and each partition's position is stored with it."""
        started = time.perf_counter()
        taken = self.ingest.take(batch)
        if taken.marks:
            self.recorder.marks(taken.marks)
        batch = taken.messages
        if not batch:
            return
        self.recorder.messages(batch)
        self.writer.after_durable(taken.acks)
        for m in batch:
            routed = route(m.topic)
            if routed and routed[0] == "ack":
                record = self.delivery.acknowledged(routed[1], m.payload, m.recv)
                if record is not None:
                    self.metrics.ack_latency.observe((m.recv - record.sent_at) / 1000)
        self._evaluate(batch)
        self.metrics.evaluation.observe(time.perf_counter() - started)
        self.metrics.messages.inc(len(batch))

    def _evaluate(self, batch: list[Message]) -> None:
        """Through the engine. Should it fail on something no check foresaw,
        the batch is evaluated again message by message, so that one poison
        message (stored raw already) costs its own evaluation, not its batch's."""
        try:
            outcome = self.current_engine().handle_batch(batch)
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
        self.after_engine(self.current_engine().advance(now).alerts)
        if now - self._reminders_checked >= self.reminder_period_ms:
            self._reminders_checked = now
            self.check_reminders(now)
        for message in self.delivery.tick(now):
            self.send(message)
        for due in self.escalations.due(now):
            self._escalate(due, now)
        self._store_notifications()
        self.metrics.inbox.set(self.ingest.inbox.qsize())
        self.metrics.store_queue.set(self.writer.depth)
        self.metrics.store_healthy.set(1 if self.writer.healthy else 0)

    def _store_outcome(self, outcome: Outcome) -> None:
        self.recorder.outcome(outcome)
        for r in outcome.rejections:
            self.metrics.rejections.labels(r.reason).inc()
        self.metrics.fixes.inc(len(outcome.fixes))

    # -- alerts -----------------------------------------------------------------------
    def after_engine(self, changes: Sequence[AlertChange]) -> None:
        for change in changes:
            order = self.book.order_of(change.order_id)
            alert = self.alert_book.merge(change, order.risk if order else None)
            if self.recovering:
                continue
            if change.raised:  # the decision of who is told, kept with it as evidence
                alert.setdefault("told", self.delivery.who_is_told(alert, order))
            for message in self.delivery.on_alert(alert, order, now_ms()):
                self.send(message)
            self._record(alert)
            if change.raised:
                self.metrics.alerts.labels(alert["type"]).inc()
        self._store_notifications()

    def hold(self, order_id: str, lo: Millis, hi: Millis, reason: str) -> int:
        """Keep an order's data beyond retention (a case under investigation)."""
        rows = order_holds(self.orders[order_id].order, lo, hi, reason)
        self.recorder.holds(rows)
        return len(rows)

    def check_reminders(self, now: Millis) -> None:
        """Orders about to run out or lapsed: the supervisor and the OM are told
        on ``emon/v1/reminders/{reclassering|om}``, once (stored)."""
        held = {k: r for k, r in self.orders.items() if self.shard.owns_order(r.order)}
        for reminder in self.schedule.due_now(held, now):
            body = json.dumps(reminder)
            for channel in ("reclassering", "om"):
                self.send(Outgoing(topics.reminders(channel), body.encode()))
            self.recorder.reminder(str(reminder["reminder_id"]), reminder["order_id"], body, now)

    def send(self, message: Outgoing) -> None:
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
        shown = self.alert_book.shown(alert["alert_id"])
        order = self._order_of(alert)
        self.recorder.alert(alert, holds_for(shown, order), now_ms())
        self.escalations.track(alert, self.delivery.channels(alert, order), shown.span.detected_at)
        self.alert_book.publish(alert)
        if self.peers is not None:
            self.peers.recorded(shown)

    def _escalate(self, due: Due, now: Millis) -> None:
        """Nobody took it on in time: the supervisor is told (and the console
        shows it unattended), recorded on the alert."""
        alert = self.alert_book.escalate(due, now)
        if alert is not None:
            self.send(Outgoing(topics.alerts(topics.SUPERVISOR), due.message(alert)))
            self._record(alert)

    def shown_elsewhere(self, shown: ShownAlert) -> None:
        """An alert recorded by the worker that holds its partition: shown here too."""
        if shown.alert_id in self.alerts and self.owns_alert(shown.body):
            return  # ours: this worker's record is the one that counts
        self.alert_book.show(shown)
        self.alert_book.publish(self.alerts[shown.alert_id])

    def owns_alert(self, alert: Mapping[str, Any]) -> bool:
        order = self._order_of(alert)
        return self.shard.whole or (order is not None and self.shard.owns_order(order))

    def _store_notifications(self) -> None:
        changed = self.delivery.drain_changed()
        if not changed:
            return
        now = now_ms()
        self.recorder.notifications(changed, now)
        for record in changed:
            escalated = self.alert_book.escalated(record, now)
            if escalated is not None:
                self._record(escalated)

    def act(
        self, alert_id: str, action: str, note: str, actor: str, **extra: Any
    ) -> dict[str, Any]:
        """An operator acknowledges, assigns or resolves an alert (resolving
        needs a note); police dispatch confirms it has taken it on."""
        if self.peers is not None and not self.owns_alert(self.alerts[alert_id]):
            return self.peers.act(alert_id, action, note, actor, extra)
        now = now_ms()
        alert = self.alert_book.act(alert_id, action, note, actor, now, **extra)
        self.recorder.action(alert_id, action, note, actor, now)
        self._record(alert)
        return alert

    # -- recovery -----------------------------------------------------------------------
    def recover(self, window_s: float) -> int:
        """Orders and alerts from storage, and the engine's state from the
        stored messages of the recent past (emon/service/recovery.py)."""
        return recovery.recover(self, window_s, now_ms())

    def audit(self, who: Principal, action: str, subject: str, detail: str = "") -> None:
        """A person read location data (or other protected data): recorded."""
        self.recorder.audit(now_ms(), who.name, who.role, action, subject, detail)
