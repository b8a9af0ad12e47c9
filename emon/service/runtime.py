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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emon import topics
from emon.engine.base import Message
from emon.engine.core import Engine
from emon.engine.policy import Policy
from emon.geofence.validation import Report
from emon.ingest.messages import route, storable
from emon.orders import Order
from emon.review.reminders import ReminderPolicy
from emon.service.alertbook import AlertBook
from emon.service.auth import Principal
from emon.service.casefile import Sight, alert_case
from emon.service.delivery import Delivery, Outgoing
from emon.service.health import device_health
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

    def __post_init__(self) -> None:
        #: the parts, each its own module: orders in, alerts shown, reminders due
        self.book = OrderBook(self.store)
        self.alert_book = AlertBook()
        self.schedule = ReminderSchedule(
            self.reminders, {r["reminder_id"]: r for r in self.store.reminders()}
        )
        self.engine = self._engine(now_ms())
        self.inbox: asyncio.Queue[Message] = asyncio.Queue(self.queue_limit)
        self.outbox: asyncio.Queue[Outgoing] = asyncio.Queue()
        self.recovering = False
        #: what keeps the service from being whole, by subject ("timers", ...):
        #: shown by /healthz as degraded, with the reason (beside the quarantined orders)
        self.problems: dict[str, str] = {}
        self._stale = False
        #: broker acknowledgements waiting for their message to be stored
        self._acks: dict[int, Callable[[], object]] = {}
        self._reminders_checked: Millis = 0
        head = self.store.chain_head()
        self.chain = Chain(*head) if head else Chain()

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

    def _engine(self, start: Millis) -> Engine:
        engine = Engine(
            [r.order for r in self.orders.values()],
            policy=self.policy,
            start=start,
            owntracks_keys=self.owntracks_keys,
        )
        engine.rejections.unsaved = []
        engine.accepted = []
        return engine

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
        return report, True

    def revoke_order(self, order_id: str) -> bool:
        revoked = self.book.revoke(order_id)
        if revoked is None:
            return False
        registered, version = revoked
        row = (order_id, version, registered.body, now_ms(), now_ms())
        self._add_chained("orders", "order", [row])
        self._rebuild()
        return True

    def _rebuild(self) -> None:
        """Orders changed: the engine is rebuilt before the next message or
        tick, so that a burst of registrations costs one rebuild."""
        self._stale = True

    def _current_engine(self) -> Engine:
        if self._stale:
            self._stale = False
            old = self.engine
            self.engine = self._engine_without_bad_orders(old.clock)
            self._after_engine(self.engine.carry_over(old))
        return self.engine

    def _engine_without_bad_orders(self, start: Millis) -> Engine:
        """The engine for every registered order; should one fail to build,
        it is set aside and the rest are enforced."""
        try:
            return self._engine(start)
        except Exception:
            log.exception("the engine could not be built: looking for the order that fails")
        self.book.find_unbuildable()
        return self._engine(start)

    # -- ingest ---------------------------------------------------------------------
    async def submit(
        self, topic: str, payload: bytes, ack: Callable[[], object] | None = None
    ) -> None:
        """Called by the MQTT client for each message. When the engine falls
        behind, this waits (back-pressure to the broker, which holds QoS 1
        messages for our persistent session) rather than dropping anything."""
        message = Message(now_ms(), topic, payload)
        if self.inbox.full():
            self.metrics.overload.inc()
        await self.inbox.put(message)
        if ack is not None:
            self._acks[id(message)] = ack

    async def run_ingest(self) -> None:
        while True:
            batch = [await self.inbox.get()]
            deadline = asyncio.get_running_loop().time() + self.batch_wait_s
            while len(batch) < self.batch_max:
                timeout = deadline - asyncio.get_running_loop().time()
                if timeout <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self.inbox.get(), timeout))
                except TimeoutError:
                    break
            self.process(batch)

    def process(self, batch: list[Message]) -> None:
        started = time.perf_counter()
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

    def _evaluate(self, batch: list[Message]) -> None:
        """Through the engine. Should it fail on something no check foresaw,
        the batch is evaluated again message by message, so that one poison
        message (stored raw already) costs its own evaluation, not its batch's."""
        try:
            changes = self._current_engine().handle_batch(batch)
        except Exception:
            if len(batch) == 1:
                log.exception("the engine failed on a message on %s", batch[0].topic)
                self.metrics.engine_errors.inc()
                return
            for message in batch:
                self._evaluate([message])
            return
        self._store_engine_output()
        self._after_engine(changes)

    async def run_timers(self, period_s: float = 1.0) -> None:
        """Silence, re-sends, escalations, reminders, every second. A tick
        that fails is logged, counted and shown on /healthz; the next runs."""
        while True:
            await asyncio.sleep(period_s)
            try:
                self.tick(now_ms())
            except Exception as exc:
                log.exception("a timer tick failed")
                self.metrics.engine_errors.inc()
                self.problems["timers"] = f"a tick failed: {type(exc).__name__}: {exc}"
            else:
                self.problems.pop("timers", None)

    def tick(self, now: Millis) -> None:
        self._after_engine(self._current_engine().advance(now))
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

    def _store_engine_output(self) -> None:
        rejected = self.engine.rejections.drain()
        if rejected:
            self.writer.add(
                "rejections", [(r.recv, r.topic, r.reason, r.detail, r.payload) for r in rejected]
            )
            for r in rejected:
                self.metrics.rejections.labels(r.reason).inc()
        fixes = self.engine.drain_accepted()
        if fixes:
            self._add_chained("fixes", "fix", fixes)
            self.metrics.fixes.inc(len(fixes))

    # -- alerts -----------------------------------------------------------------------
    def _after_engine(self, changes: list[dict[str, Any]]) -> None:
        for change in changes:
            alert = self._merge(change)
            if self.recovering:
                continue
            order = self._order_of(alert)
            for message in self.delivery.on_alert(alert, order, now_ms()):
                self._send(message)
            self._record(alert)
            if change["state"] == "open" and change["ended_at"] is None:
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
        for reminder in self.schedule.due_now(self.orders, now):
            payload = json.dumps(reminder).encode()
            for channel in ("reclassering", "om"):
                self._send(Outgoing(topics.reminders(channel), payload))
            row = (str(reminder["reminder_id"]), reminder["order_id"], payload.decode(), now)
            self.writer.add("reminders", [row])

    def _send(self, message: Outgoing) -> None:
        self.outbox.put_nowait(message)
        if self.webhooks is not None and message.topic.startswith(topics.ALERTS):
            self.webhooks.submit(message.topic.rsplit("/", 1)[1], message.payload)

    def _merge(self, change: dict[str, Any]) -> dict[str, Any]:
        order = self._order_of(change)
        return self.alert_book.merge(change, order.risk if order else None)

    def _order_of(self, alert: dict[str, Any]) -> Order | None:
        return self.book.order_of(alert["order_id"])

    def _record(self, alert: dict[str, Any]) -> None:
        body = json.dumps(alert)
        now = now_ms()
        self.writer.add("alerts", [(alert["alert_id"], body, now)])
        holds = holds_for(alert, self._order_of(alert))
        if holds:
            self.writer.add("holds", holds)
        self._add_chained("alert_changes", "alert_change", [(alert["alert_id"], now, alert)])
        self.alert_book.publish(alert)

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
        now = now_ms()
        alert = self.alert_book.act(alert_id, action, note, actor, now, **extra)
        self._add_chained("actions", "action", [(alert_id, action, note, actor, now)])
        self._record(alert)
        return alert

    # -- recovery -----------------------------------------------------------------------
    def recover(self, window_s: float) -> int:
        """Orders from storage, then the stored messages of the recent past
        replayed through the engine (deterministic, so it comes back to the
        state it had), with alerts merged from storage and nothing re-sent."""
        for stored in self.store.orders():
            self.book.load(stored)  # one that no longer loads is quarantined, not fatal
        for alert in self.store.alerts():
            self.alerts[alert["alert_id"]] = alert
        since = now_ms() - int(window_s * 1000)
        self.recovering = True
        replayed = 0
        try:
            batch: list[Message] = []
            first = True
            for recv, topic, payload in self.store.messages_since(since):
                if first:
                    self.engine = self._engine(recv)
                    first = False
                batch.append(Message(recv, topic, payload))
                if len(batch) >= 5000:
                    replayed += self._replay(batch)
                    batch = []
            replayed += self._replay(batch)
            if first:
                self.engine = self._engine(now_ms())
        finally:
            self.recovering = False
        self.engine.rejections.drain()
        self.engine.drain_accepted()
        victims = {
            v.device_id for r in self.orders.values() for v in r.order.victims if v.device_id
        }
        self.delivery.restore(self.store.unacknowledged(), {d for d in victims if d})
        self.delivery.drain_changed()
        log.info(
            "recovered %d orders, %d alerts, %d messages",
            len(self.orders),
            len(self.alerts),
            replayed,
        )
        return replayed

    def _replay(self, batch: list[Message]) -> int:
        if batch:
            self._after_engine(self.engine.handle_batch(batch))
        return len(batch)

    def audit(self, who: Principal, action: str, subject: str, detail: str = "") -> None:
        """A person read location data (or other protected data): recorded."""
        self.writer.add("audit", [(now_ms(), who.name, who.role, action, subject, detail)])

    # -- reads ---------------------------------------------------------------------------
    def case(self, alert_id: str, who: Principal) -> dict[str, Any]:
        alert = self.alerts[alert_id]
        sight = Sight(who.may("locations:offender"), who.may("locations:victim"))
        notifications = self.delivery.by_alert.get(alert_id, [])
        order = self._order_of(alert)
        case = alert_case(alert, order, self.store, notifications, self.engine.policy, sight,
                          now_ms())  # fmt: skip
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
        return device_health(self._current_engine(), self.alerts.values(), now_ms())

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
