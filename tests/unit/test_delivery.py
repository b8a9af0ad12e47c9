"""Routing, device notifications (privacy), acknowledgements and escalation."""

from __future__ import annotations

import json

import pytest

from emon.alerts.delivery import Delivery
from emon.alerts.routing import routing_from_config
from emon.orders import parse_order
from simulators.scenarios import ROTTERDAM, base_order

ORDER = parse_order(base_order(ROTTERDAM, contact_ban={"distance_m": 1000, "prealert_m": 2000}))


def alert(kind="zone_violation", state="open", ended=None, **details):
    return {
        "alert_id": f"A-{kind}",  # one alert: its end is the same alert
        "type": kind,
        "state": state,
        "severity": "critical",
        "order_id": ORDER.order_id,
        "device_id": "am-0001",
        "ended_at": ended,
        "details": {"depth_m": 500, **details},
    }


def by_topic(out):
    return {m.topic: json.loads(m.payload) for m in out}


def test_violation_goes_to_agencies_and_warns_the_victim_without_positions():
    out = by_topic(Delivery().on_alert(alert(), ORDER, 1000))
    assert {
        "emon/v1/alerts/police",
        "emon/v1/alerts/reclassering",
        "emon/v1/alerts/monitoring",
    } <= set(out)
    note = out["emon/v1/notify/vd-0001"]
    assert set(note) == {"notification_id", "alert_id", "ts", "level", "text"}
    assert note["level"] == "alert" and not any(c.isdigit() for c in note["text"])
    assert "emon/v1/notify/am-0001" not in out  # the offender is not told about the victim


def test_prealert_warns_the_offender_to_turn_back_and_ends_with_a_clear():
    d = Delivery()
    out = by_topic(d.on_alert(alert("zone_prealert"), ORDER, 1000))
    assert out["emon/v1/notify/am-0001"]["level"] == "prealert"
    assert "emon/v1/alerts/police" not in out
    ended = by_topic(d.on_alert(alert("zone_prealert", "ended", "x"), ORDER, 2000))
    assert ended["emon/v1/notify/am-0001"]["level"] == "clear"
    assert ended["emon/v1/notify/vd-0001"]["level"] == "clear"


def test_contact_alerts_reach_only_that_victim():
    out = by_topic(
        Delivery().on_alert(alert("contact_violation", victim_device_id="vd-0001"), ORDER, 1)
    )
    assert out["emon/v1/notify/vd-0001"]["level"] == "alert"


@pytest.mark.parametrize("risk, police", [("low", False), ("medium", True), ("high", True)])
def test_routing_follows_risk(risk, police):
    order = parse_order(base_order(ROTTERDAM, risk=risk))
    out = by_topic(Delivery().on_alert(alert(), order, 1))
    assert ("emon/v1/alerts/police" in out) == police


def test_unacknowledged_victim_notification_is_resent_then_escalated():
    d = Delivery(resend_after_s=30, max_attempts=3)
    note = by_topic(d.on_alert(alert(), ORDER, 0))["emon/v1/notify/vd-0001"]
    assert d.tick(29_000) == []
    assert [m.topic for m in d.tick(30_000)] == ["emon/v1/notify/vd-0001"]
    assert [m.topic for m in d.tick(60_000)] == ["emon/v1/notify/vd-0001"]
    (escalation,) = d.tick(90_000)
    assert escalation.topic == "emon/v1/alerts/monitoring"
    body = json.loads(escalation.payload)
    assert (
        body["type"] == "notification_unacknowledged"
        and body["notification_id"] == note["notification_id"]
    )
    assert d.tick(200_000) == []


def test_acknowledged_notification_is_not_resent():
    d = Delivery()
    note = by_topic(d.on_alert(alert(), ORDER, 0))["emon/v1/notify/vd-0001"]
    assert d.acknowledge("am-0001", note["notification_id"], 500) is None  # not that device's
    assert d.acknowledge("vd-0001", note["notification_id"], 500).acked_at == 500
    assert d.tick(120_000) == []


def test_routing_from_configuration():
    table = routing_from_config({"zone_violation": {"low": ["police", "monitoring"]}})
    assert table["zone_violation"][0] == ("police", "monitoring")
    with pytest.raises(ValueError):
        routing_from_config({"panic": {"high": ["fire brigade"]}})
