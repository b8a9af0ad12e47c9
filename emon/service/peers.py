"""What the workers of a cluster tell and ask each other over NATS: the
runtime's ``Peers``.

- **orders** registered on any worker reach every worker (the KV bucket
  ``emon-orders``, a version per order);
- **alert changes** are shown by every worker (``emon.cluster.alerts``, with
  their times as they are, in ms);
- an operator's **action**, and an alert's **case view**, are taken and made by
  the worker that holds the alert (requests on ``emon.cluster.act`` and
  ``emon.cluster.case``); the **device board** gathers every worker's rows
  (``emon.cluster.board``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emon.alerts.model import AlertSpan, ShownAlert
from emon.service import views
from emon.service.auth import Principal
from emon.service.elsewhere import ElsewhereUnavailable
from emon.service.runtime import Runtime

log = logging.getLogger("emon.cluster")

ALERTS_SUBJECT = "emon.cluster.alerts"
ACT_SUBJECT = "emon.cluster.act"
#: the worker holding an alert answers with its case view
CASE_SUBJECT = "emon.cluster.case"
#: every worker answers with the device board's rows of the devices it holds
BOARD_SUBJECT = "emon.cluster.board"
#: an operator's action waits this long for the worker holding the alert
ACT_TIMEOUT_S = 5.0
#: the device board waits this long for the other workers' rows
BOARD_TIMEOUT_S = 2.0
#: after a failed watch of the orders bucket, the next try waits this long
WATCH_RETRY_S = 1.0


def _order_key(order_id: str) -> str:
    """KV keys take few characters; order ids may hold any printable one."""
    return "o." + base64.urlsafe_b64encode(order_id.encode()).decode().rstrip("=")


@dataclass
class NatsPeers:
    client: Any
    runtime: Runtime
    #: this worker's name (its own messages are not taken as another's)
    name: str
    #: the KV bucket of orders
    orders: Any
    loop: asyncio.AbstractEventLoop
    #: the live workers, as the last step of the membership found them
    workers_seen: list[str] = field(default_factory=list)

    async def listen(self) -> None:
        await self.client.subscribe(ALERTS_SUBJECT, cb=self._alert_elsewhere)
        await self.client.subscribe(ACT_SUBJECT, cb=self._act_here)
        await self.client.subscribe(BOARD_SUBJECT, cb=self._board_here)
        await self.client.subscribe(CASE_SUBJECT, cb=self._case_here)

    def _soon(self, job: Callable[[], Any]) -> None:
        """From the event loop or an API thread alike."""
        self.loop.call_soon_threadsafe(lambda: self.loop.create_task(job()))

    def order_changed(self, order_id: str, record: dict[str, Any] | None, version: int) -> None:
        value = json.dumps({"order_id": order_id, "record": record, "version": version}).encode()
        self._soon(lambda: self.orders.put(_order_key(order_id), value))

    async def watch_orders(self) -> None:
        while True:
            try:
                watcher = await self.orders.watchall()
                async for entry in watcher:
                    if entry is None or not entry.value:
                        continue  # the end of what was there before, or a deletion
                    data = json.loads(entry.value)
                    self.runtime.order_elsewhere(data["order_id"], data["record"],
                                                 int(data["version"]))  # fmt: skip
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("watching orders failed (%s); again", exc)
                await asyncio.sleep(WATCH_RETRY_S)

    def recorded(self, shown: ShownAlert) -> None:
        value = json.dumps({"from": self.name, **_shown_json(shown)}).encode()
        self._soon(lambda: self.client.publish(ALERTS_SUBJECT, value))

    async def _alert_elsewhere(self, message: Any) -> None:
        data = json.loads(message.data)
        if data["from"] != self.name:
            self.runtime.shown_elsewhere(_shown_from(data))

    def act(
        self, alert_id: str, action: str, note: str, actor: str, extra: dict[str, Any]
    ) -> dict[str, Any]:
        body = {"alert_id": alert_id, "action": action, "note": note, "actor": actor,
                "extra": extra}  # fmt: skip
        shown = _shown_from(self._ask_holder(ACT_SUBJECT, body))
        self.runtime.shown_elsewhere(shown)
        return dict(shown.body)

    def case(self, alert_id: str, who: Principal) -> dict[str, Any]:
        """The holder makes the case view (with its notifications' timers, and
        auditing the read of any location in it) for the same person."""
        return self._ask_holder(CASE_SUBJECT, {"alert_id": alert_id, "name": who.name,
                                               "role": who.role})  # fmt: skip

    def _ask_holder(self, subject: str, body: dict[str, Any]) -> dict[str, Any]:
        """Called in an API thread: a request to the worker holding the alert
        ``body`` names, sent on the event loop; 503 if it does not answer."""
        request = self.client.request(subject, json.dumps(body).encode(), timeout=ACT_TIMEOUT_S)
        try:
            reply = asyncio.run_coroutine_threadsafe(request, self.loop).result(ACT_TIMEOUT_S + 1)
        except Exception as exc:
            raise ElsewhereUnavailable(
                f"the worker holding alert {body['alert_id']} did not answer: try again shortly"
            ) from exc
        answer: dict[str, Any] = json.loads(reply.data)
        return answer

    async def _case_here(self, message: Any) -> None:
        data = json.loads(message.data)
        alert = self.runtime.alerts.get(data["alert_id"])
        if alert is None or not self.runtime.owns_alert(alert):
            return  # the holder answers
        case = views.case(self.runtime, data["alert_id"], Principal(data["name"], data["role"]))
        await message.respond(json.dumps(case).encode())

    def boards(self) -> tuple[list[dict[str, Any]], list[str]]:
        """Called in an API thread: every other live worker's rows, gathered
        on the event loop (a request with as many answers as workers)."""
        others = [w for w in self.workers_seen if w != self.name]
        if not others:
            return [], []
        gathering = asyncio.run_coroutine_threadsafe(self._gather_boards(others), self.loop)
        try:
            boards = gathering.result(BOARD_TIMEOUT_S + 1)
        except Exception:  # NATS away: every other worker's devices are missing
            log.warning("the other workers' device boards could not be asked for")
            return [], others
        rows = [row for board in boards.values() for row in board]
        return rows, [w for w in others if w not in boards]

    async def _gather_boards(self, others: list[str]) -> dict[str, list[dict[str, Any]]]:
        inbox = self.client.new_inbox()
        answers = await self.client.subscribe(inbox)
        boards: dict[str, list[dict[str, Any]]] = {}
        try:
            await self.client.publish(BOARD_SUBJECT, self.name.encode(), reply=inbox)
            deadline = self.loop.time() + BOARD_TIMEOUT_S
            while len(boards) < len(others):
                left = deadline - self.loop.time()
                if left <= 0:
                    break
                try:
                    answer = await answers.next_msg(timeout=left)
                except TimeoutError:
                    break
                data = json.loads(answer.data)
                boards[data["from"]] = data["rows"]
        finally:
            await answers.unsubscribe()
        return boards

    async def _board_here(self, message: Any) -> None:
        if message.data.decode() == self.name or not message.reply:
            return  # its own question
        rows = views.device_rows(self.runtime)
        await message.respond(json.dumps({"from": self.name, "rows": rows}).encode())

    async def _act_here(self, message: Any) -> None:
        data = json.loads(message.data)
        alert = self.runtime.alerts.get(data["alert_id"])
        if alert is None or not self.runtime.owns_alert(alert):
            return  # the holder answers
        self.runtime.act(data["alert_id"], data["action"], data["note"], data["actor"],
                         **data["extra"])  # fmt: skip
        done = self.runtime.alert_book.shown(data["alert_id"])
        await message.respond(json.dumps(_shown_json(done)).encode())


def _shown_json(shown: ShownAlert) -> dict[str, Any]:
    """An alert between workers: its JSON, and its times as they are (ms)."""
    return {"alert": shown.body, "span": shown.span.to_list()}


def _shown_from(data: dict[str, Any]) -> ShownAlert:
    """Also from a worker of the version before (a rolling upgrade): the alert
    alone, its times read back from its JSON."""
    alert = data.get("alert", data)
    span = data.get("span")
    return ShownAlert(alert, AlertSpan(*span) if span else AlertSpan.from_json(alert))
