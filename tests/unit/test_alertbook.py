"""The alert book: the engine's changes merged with what operators did."""

from __future__ import annotations

import asyncio

from emon.alerts.book import AlertBook
from emon.alerts.model import AlertChange, AlertSpan, AlertType
from emon.service.alertbook import LiveAlertBook
from emon.timeutil import parse_ts

T = parse_ts("2026-11-28T12:00:00Z")


def change(state, ended=None, alert_id="A-1", detected=T) -> AlertChange:
    return AlertChange(alert_id, AlertType.ZONE_VIOLATION, "high", "O-1", None, "Z-1", "am-1",
                       detected - 5000, detected, ended, state, False, {})  # fmt: skip


def test_an_operators_state_outranks_the_engine_but_an_end_shows():
    book = AlertBook()
    assert book.merge(change("open"), "high")["risk"] == "high"
    book.act("A-1", "ack", "calling", "A. de Vries", 0)
    assert book.merge(change("open"), "high")["state"] == "acknowledged"  # an update keeps it
    assert book.merge(change("ended", T + 60_000), "high")["state"] == "ended"
    assert book.shown("A-1").span == AlertSpan(T - 5000, T, T + 60_000)  # typed, never parsed
    resolved = book.act("A-1", "resolve", "done", "A. de Vries", 1000,
                        classification="true_violation")  # fmt: skip
    assert resolved["state"] == "resolved" and resolved["classification"] == "true_violation"
    assert book.merge(change("ended", T + 60_000), "high")["state"] == "resolved"
    assert [a["action"] for a in resolved["actions"]] == ["ack", "resolve"]


def test_a_stalled_subscriber_is_dropped_not_waited_on():
    book = LiveAlertBook()
    stalled: asyncio.Queue = asyncio.Queue(maxsize=1)
    live: asyncio.Queue = asyncio.Queue()
    book.subscribers |= {stalled, live}
    for k in range(3):
        book.publish({"alert_id": f"A-{k}"})
    assert book.subscribers == {live} and live.qsize() == 3


def test_listed_newest_first_and_by_state():
    book = AlertBook()
    book.merge(change("open"), None)
    book.merge(change("ended", T + 3_700_000, alert_id="A-2", detected=T + 3_600_000), None)
    assert [a["alert_id"] for a in book.listed(None)] == ["A-2", "A-1"]
    assert [a["alert_id"] for a in book.listed("open")] == ["A-1"]
