"""What the live service stores, in one place: every row it hands the writer,
each chained as evidence where the ledger says it must be.

The runtime decides what happened; this says how it is kept (raw messages
with their links, fixes, order versions, alert changes, operator actions,
notification changes, holds, reminders, audit). No row waits for the
database: the writer flushes in the background.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from emon.alerts.delivery import Pending
from emon.engine import Message, Outcome
from emon.ingest.messages import storable
from emon.storage import Writer
from emon.storage.chain import Chain
from emon.storage.ledger import link_fields, notification_body
from emon.timeutil import Millis


class NotOpened(RuntimeError):
    """Rows were to be chained before the chain was resumed from storage."""


def _json_text(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """JSON columns are written as text (SQLite TEXT, PostgreSQL JSONB)."""
    return tuple(json.dumps(v) if isinstance(v, dict | list) else v for v in row)


@dataclass
class Recorder:
    writer: Writer
    #: the evidence chain this worker continues (resumed from storage at the
    #: start, or when a worker takes a slot); None until then
    chain: Chain | None = None

    def _link(self) -> Chain:
        if self.chain is None:
            raise NotOpened("the evidence chain was not resumed: build the runtime with open()")
        return self.chain

    def chained(self, table: str, kind: str, rows: list[tuple[Any, ...]]) -> None:
        """Rows with their links in the evidence chain, each linked on its
        content as it will read back (see emon/storage/ledger.py)."""
        link = self._link().link
        self.writer.add(table, [(*_json_text(row), *link(kind, link_fields(kind, row)))
                                for row in rows])  # fmt: skip

    def messages(self, batch: list[Message]) -> None:
        """Raw, as received (so that a replay of them gives the same alerts)."""
        link = self._link().link
        kept = [(m.recv, m.topic, storable(m.topic, m.payload)) for m in batch]
        self.writer.add("messages", [(*row, *link("message", row)) for row in kept])

    def marks(self, marks: dict[int, int]) -> None:
        """How far each partition's messages are stored: in the same write."""
        self.writer.add("partition_marks", sorted(marks.items()))

    def outcome(self, outcome: Outcome) -> None:
        """The fixes the engine took and the messages it refused."""
        if outcome.rejections:
            self.writer.add("rejections", [(r.recv, r.topic, r.reason, r.detail, r.payload)
                                           for r in outcome.rejections])  # fmt: skip
        if outcome.fixes:
            self.chained("fixes", "fix", list(outcome.fixes))

    def order_version(self, order_id: str, version: int, body: dict[str, Any],
                      registered: Millis, revoked: Millis | None) -> None:  # fmt: skip
        self.chained("orders", "order", [(order_id, version, body, registered, revoked)])

    def alert(self, alert: dict[str, Any], holds: list[tuple[Any, ...]], now: Millis) -> None:
        """The alert as shown now, its change chained, the evidence it holds."""
        self.writer.add("alerts", [(alert["alert_id"], json.dumps(alert), now)])
        if holds:
            self.writer.add("holds", holds)
        self.chained("alert_changes", "alert_change", [(alert["alert_id"], now, alert)])

    def action(self, alert_id: str, action: str, note: str, actor: str, now: Millis) -> None:
        self.chained("actions", "action", [(alert_id, action, note, actor, now)])

    def notifications(self, changed: list[Pending], now: Millis) -> None:
        self.writer.add("notifications", [p.row() for p in changed])
        states = [(p.notification_id, now, notification_body(p.row())) for p in changed]
        self.chained("notification_changes", "notification", states)

    def holds(self, rows: list[tuple[Any, ...]]) -> None:
        self.writer.add("holds", rows)

    def reminder(self, reminder_id: str, order_id: str, body: str, now: Millis) -> None:
        self.writer.add("reminders", [(reminder_id, order_id, body, now)])

    def audit(self, at: Millis, name: str, role: str, action: str, subject: str,
              detail: str) -> None:  # fmt: skip
        """A person read location data (or other protected data)."""
        self.writer.add("audit", [(at, name, role, action, subject, detail)])
