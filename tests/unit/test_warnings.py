"""One warning level per victim device: what she is told never disagrees
with what is open for her, over any interleaving of conditions."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from emon.alerts.delivery import Delivery
from emon.alerts.warnings import WarningBoard, victim_summary
from emon.orders import parse_order
from simulators.scenarios import ROTTERDAM, base_order

VICTIM = "vd-0001"
KINDS = ("zone_violation", "zone_prealert", "contact_violation", "contact_prealert", "panic")
DANGER = {"zone_violation", "contact_violation", "panic"}


def order(risk):
    return parse_order(base_order(ROTTERDAM, risk=risk,
                                  contact_ban={"distance_m": 1000, "prealert_m": 2000}))  # fmt: skip


def alert(n, kind, state="open", ended=None):
    device = VICTIM if kind == "panic" else "am-0001"
    return {"alert_id": f"A-{n}", "type": kind, "state": state, "order_id": "O",
            "device_id": device, "ended_at": ended, "details": {"victim_device_id": VICTIM}}  # fmt: skip


def test_the_board_says_the_gravest_open_thing_and_only_on_a_change():
    board = WarningBoard(victim_summary)
    assert board.update(VICTIM, "P", "prealert") == "prealert"
    assert board.update(VICTIM, "V", "alert") == "alert"
    assert board.update(VICTIM, "P", "prealert") is None  # an update: nothing new
    assert board.update(VICTIM, "P", None) is None  # the pre-alert ended under a violation
    assert board.update(VICTIM, "V", None) == "clear"


def test_be_alert_never_follows_danger_while_the_violation_is_open():
    d = Delivery(resend_after_s=30, max_attempts=3)
    high = order("high")
    told = [json.loads(m.payload)["level"] for m in d.on_alert(alert(1, "contact_prealert"), high, 0)
            if m.topic == f"emon/v1/notify/{VICTIM}"]  # fmt: skip
    told += [json.loads(m.payload)["level"] for m in d.on_alert(alert(2, "contact_violation"), high, 1000)
             if m.topic == f"emon/v1/notify/{VICTIM}"]  # fmt: skip
    resent = [json.loads(m.payload)["level"] for t in (31_000, 61_000) for m in d.tick(t)
              if m.topic == f"emon/v1/notify/{VICTIM}"]  # fmt: skip
    ended = d.on_alert(alert(1, "contact_prealert", "ended", "x"), high, 62_000)
    assert told == ["prealert", "alert"] and resent == ["alert", "alert"]
    assert not [m for m in ended if m.topic == f"emon/v1/notify/{VICTIM}"]  # danger still open


def test_at_a_prealert_the_offender_is_told_first_and_she_only_if_he_goes_on():
    d = Delivery()
    medium = order("medium")
    first = {m.topic for m in d.on_alert(alert(1, "zone_prealert"), medium, 0)}
    assert "emon/v1/notify/am-0001" in first and f"emon/v1/notify/{VICTIM}" not in first
    assert not [m for m in d.tick(59_000) if m.topic == f"emon/v1/notify/{VICTIM}"]
    (late,) = [m for m in d.tick(60_000) if m.topic == f"emon/v1/notify/{VICTIM}"]
    assert json.loads(late.payload)["level"] == "prealert"
    # he turned back in time: she is never told, so never told it ended
    d2 = Delivery()
    d2.on_alert(alert(1, "zone_prealert"), medium, 0)
    ended = d2.on_alert(alert(1, "zone_prealert", "ended", "x"), medium, 30_000)
    assert not [m for m in ended + d2.tick(90_000) if m.topic == f"emon/v1/notify/{VICTIM}"]


def test_a_held_back_prealert_keeps_her_clear_waiting():
    """Told of a violation while a pre-alert was held back: when the violation
    ends she is told to be alert, not that it is over."""
    d = Delivery()
    medium = order("medium")
    told = []
    for change, at in ((alert(1, "zone_prealert"), 0), (alert(2, "zone_violation"), 1000),
                       (alert(2, "zone_violation", "ended", "x"), 2000)):  # fmt: skip
        told += [json.loads(m.payload)["level"] for m in d.on_alert(change, medium, at)
                 if m.topic == f"emon/v1/notify/{VICTIM}"]  # fmt: skip
    assert told == ["alert", "prealert"]


def test_dutch_where_the_order_says_so():
    body = base_order(ROTTERDAM, risk="high")
    body["language"] = "nl"
    d = Delivery()
    (note,) = [m for m in d.on_alert(alert(1, "zone_violation"), parse_order(body), 0)
               if m.topic == f"emon/v1/notify/{VICTIM}"]  # fmt: skip
    assert json.loads(note.payload)["text"].startswith("Gevaar")


step = st.one_of(
    st.tuples(st.just("open"), st.integers(0, 5), st.sampled_from(KINDS)),
    st.tuples(st.just("end"), st.integers(0, 5), st.none()),
    st.tuples(st.just("ack"), st.integers(0, 5), st.none()),
    st.tuples(st.just("tick"), st.integers(1, 90_000), st.none()),
    st.tuples(st.just("device_acks"), st.just(0), st.none()),
)


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(["low", "medium", "high"]), st.lists(step, max_size=40))
def test_what_she_is_told_never_disagrees_with_what_is_open(risk, steps):
    d = Delivery(resend_after_s=30, max_attempts=3)
    the_order = order(risk)
    now = 0
    open_kinds: dict[int, str] = {}  # alert n -> kind, for those open
    episode: dict[int, int] = {}  # a new id each time n opens again
    latest_sent = "clear"
    for action, n, kind in steps:
        out = []
        key = n * 100 + episode.get(n, 0)
        if action == "open" and n not in open_kinds:
            open_kinds[n] = kind
            out = d.on_alert(alert(key, kind), the_order, now)
        elif action == "ack" and n in open_kinds:
            out = d.on_alert(alert(key, open_kinds[n], "acknowledged"), the_order, now)
        elif action == "end" and n in open_kinds:
            out = d.on_alert(alert(key, open_kinds.pop(n), "ended", "x"), the_order, now)
            episode[n] = episode.get(n, 0) + 1
        elif action == "tick":
            now += n
            out = d.tick(now)
        elif action == "device_acks" and d.latest.get(VICTIM) in d.pending:
            d.acknowledge(VICTIM, d.latest[VICTIM], now)
        for m in out:
            body = json.loads(m.payload)
            if m.topic == "emon/v1/alerts/monitoring" and body.get("type", "").startswith("notif"):
                assert d.pending.get(body["notification_id"]) is None
                assert body["notification_id"] != "clear"
            if m.topic != f"emon/v1/notify/{VICTIM}":
                continue
            kinds = set(open_kinds.values())
            if body["level"] == "alert":
                assert kinds & DANGER, (body, kinds)
            elif body["level"] == "prealert":
                assert not kinds & DANGER and kinds, (body, kinds)
            else:
                assert not kinds, (body, kinds)  # never "it has ended" while anything is open
            latest_sent = body["level"]
        if set(open_kinds.values()) & DANGER:
            assert latest_sent == "alert"  # danger is told at once, and stays told
        escalated = [json.loads(m.payload) for m in out if m.topic == "emon/v1/alerts/monitoring"
                     and json.loads(m.payload).get("type") == "notification_unacknowledged"]  # fmt: skip
        for body in escalated:
            record = next(r for rs in d.by_alert.values() for r in rs
                          if r.notification_id == body["notification_id"])  # fmt: skip
            assert record.level != "clear"  # an ending is never escalated
