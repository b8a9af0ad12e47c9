"""Asking devices for more: at a pre-alert, and by operators; confirmed by command id."""

from __future__ import annotations

import json

import pytest

from emon.alerts.commands import CommandError, Commands
from emon.alerts.delivery import Delivery
from emon.orders import parse_order
from emon.timeutil import parse_ts
from simulators.scenarios import ROTTERDAM, base_order
from tests.unit.service_app import service_app

ORDER = parse_order(base_order(ROTTERDAM, contact_ban={"distance_m": 1000, "prealert_m": 2000}))
NOW = parse_ts("2026-11-28T12:00:00Z")


def alert(kind, state="open"):
    return {"alert_id": f"A-{kind}", "type": kind, "state": state, "order_id": ORDER.order_id,
            "device_id": "am-0001", "ended_at": None,
            "details": {"victim_device_id": "vd-0001"}}  # fmt: skip


def commands_in(out):
    return {m.topic: json.loads(m.payload) for m in out if m.topic.startswith("emon/v1/cmd/")}


def test_a_contact_prealert_asks_both_parties_to_report_every_five_seconds_once():
    d = Delivery()
    sent = commands_in(d.on_alert(alert("contact_prealert"), ORDER, NOW))
    assert set(sent) == {"emon/v1/cmd/am-0001", "emon/v1/cmd/vd-0001"}
    body = sent["emon/v1/cmd/am-0001"]
    assert body["command"] == "report_interval" and body["interval_s"] == 5
    assert parse_ts(body["until"]) == NOW + 600_000 and {"command_id", "ts"} <= set(body)
    assert commands_in(d.on_alert(alert("contact_prealert"), ORDER, NOW + 5000)) == {}  # an update
    assert commands_in(d.on_alert(alert("zone_violation"), ORDER, NOW)) == {}
    # the device confirms with the command id
    ack = json.dumps({"command_id": body["command_id"]}).encode()
    assert d.acknowledged("am-0001", ack, NOW + 1000) is None  # not a notification
    assert d.commands.sent[body["command_id"]].acked_at == NOW + 1000


def test_a_zone_prealert_asks_only_the_offender():
    sent = commands_in(Delivery().on_alert(alert("zone_prealert"), ORDER, NOW))
    assert set(sent) == {"emon/v1/cmd/am-0001"}


@pytest.mark.parametrize("request_, field", [
    ({"command": "report_interval", "interval_s": 0, "until": NOW + 60_000}, "interval_s"),
    ({"command": "report_interval", "interval_s": 5, "until": NOW - 1}, "until"),
    ({"command": "report_interval", "interval_s": 5, "until": NOW + 2 * 86_400_000}, "until"),
    ({"command": "report_interval", "interval_s": True, "until": NOW + 60_000}, "interval_s"),
    ({"command": "self_destruct"}, "command"),
])  # fmt: skip
def test_an_operators_command_that_cannot_be_sent_names_the_field(request_, field):
    with pytest.raises(CommandError, match=field):
        Commands().ask("am-0001", request_, NOW)


def test_operators_command_a_device_through_the_api(tmp_path):
    client, runtime = service_app(tmp_path)
    body = base_order(ROTTERDAM)
    assert client.put(f"/api/v1/orders/{body['order_id']}", json=body,
                      headers={"Authorization": "Bearer t-admin"}).status_code == 200  # fmt: skip
    operator = {"Authorization": "Bearer t-op"}
    path = "/api/v1/devices/am-0001/commands"
    assert client.post(path, json={"command": "report_now"},
                       headers={"Authorization": "Bearer t-po"}).status_code == 403  # fmt: skip
    assert client.post("/api/v1/devices/am-9/commands", json={"command": "report_now"},
                       headers=operator).status_code == 404  # fmt: skip
    bad = client.post(path, json={"command": "report_interval", "interval_s": 5,
                                  "until": "not a time"}, headers=operator)  # fmt: skip
    assert bad.status_code == 422 and "until" in bad.json()["detail"]
    done = client.post(path, json={"command": "report_now"}, headers=operator)
    assert done.status_code == 200 and done.json()["command"] == "report_now"
    sent = [runtime.outbox.get_nowait() for _ in range(runtime.outbox.qsize())]
    (cmd,) = [m for m in sent if m.topic == "emon/v1/cmd/am-0001"]
    assert json.loads(cmd.payload)["command_id"] == done.json()["command_id"]
