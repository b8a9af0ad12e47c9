"""Phone numbers on orders: for those who call (operator, police), audited,
and a call logged with its outcome (issue 21: from the alert to the number
to the logged outcome without leaving the page)."""

from __future__ import annotations

import copy

import pytest

from emon.timeutil import now_ms
from simulators.scenarios import ROTTERDAM, base_order
from tests.unit.service_app import TOKENS, service_app

ORDER = base_order(ROTTERDAM)
ORDER["victims"][0]["phone"] = "+31 6 1234 5678"
ORDER["offender"]["phone"] = "010-555 0199"


def headers(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


@pytest.fixture
def api(tmp_path):
    client, runtime = service_app(tmp_path)
    put = client.put(f"/api/v1/orders/{ORDER['order_id']}", json=ORDER, headers=headers("om"))
    assert put.status_code == 200, put.text
    runtime.tick(now_ms() + 3 * 3600_000)  # both devices silent for hours: alerts open
    alert = next(a for a in runtime.alerts.values() if a["device_id"] == "vd-0001")
    runtime.writer.pending["audit"].clear()
    return client, runtime, alert["alert_id"]


@pytest.mark.parametrize("role, sees", [("operator", True), ("reclassering", False),
                                         ("om", False)])  # fmt: skip
def test_numbers_are_shown_only_to_those_who_call_and_every_display_is_audited(api, role, sees):
    client, runtime, _ = api
    body = client.get(f"/api/v1/orders/{ORDER['order_id']}", headers=headers(role)).json()
    assert ("phone" in body["victims"][0]) is sees and ("phone" in body["offender"]) is sees
    details = [row[5] for row in runtime.writer.pending["audit"]]
    assert any("victim_phones" in d and "offender_phone" in d for d in details) is sees


def test_the_case_view_gives_the_operator_both_numbers_victim_first(api):
    client, runtime, alert_id = api
    case = client.get(f"/api/v1/alerts/{alert_id}", headers=headers("operator")).json()
    assert [(c["party"], c["phone"]) for c in case["contacts"]] == [
        ("victim", "+31 6 1234 5678"), ("offender", "010-555 0199")]  # fmt: skip
    audited = [row[3:6] for row in runtime.writer.pending["audit"]]
    assert ("read_contacts", alert_id, "victim,offender") in audited
    other = client.get(f"/api/v1/alerts/{alert_id}", headers=headers("reclassering")).json()
    assert "contacts" not in other


def test_a_call_is_logged_with_its_outcome_and_without_the_number(api):
    client, runtime, alert_id = api
    made = client.post(f"/api/v1/alerts/{alert_id}/call", headers=headers("operator"),
                       json={"party": "victim", "outcome": "no_answer", "note": "twice"})  # fmt: skip
    assert made.status_code == 200, made.text
    (action,) = [a for a in made.json()["actions"] if a["action"] == "call"]
    assert action["outcome"] == "no_answer" and action["party"] == "victim"
    assert "1234" not in str(action)  # the alert is read by roles that may not see numbers
    assert action["note"] == "twice" and action["actor"] == "operator person"
    assert runtime.alerts[alert_id]["actions"][-1] == action


@pytest.mark.parametrize("body, field", [({"party": "neighbour", "outcome": "reached"}, "party"),
                                         ({"party": "victim", "outcome": "fine"}, "outcome"),
                                         (None, "party")])  # fmt: skip
def test_a_call_without_a_party_or_a_known_outcome_is_refused_naming_it(api, body, field):
    client, _, alert_id = api
    made = client.post(f"/api/v1/alerts/{alert_id}/call", headers=headers("operator"), json=body)
    assert made.status_code == 422 and field in made.text


def test_only_the_centre_logs_calls(api):
    client, _, alert_id = api
    made = client.post(f"/api/v1/alerts/{alert_id}/call", headers=headers("reclassering"),
                       json={"party": "victim", "outcome": "reached"})  # fmt: skip
    assert made.status_code == 403


@pytest.mark.parametrize("phone", ["call me", "+31\n6", "1" * 40, ""])
def test_a_number_that_cannot_be_dialled_is_refused_at_registration(api, phone):
    client, _, _ = api
    order = copy.deepcopy(ORDER)
    order["victims"][0]["phone"] = phone
    put = client.put(f"/api/v1/orders/{ORDER['order_id']}", json=order, headers=headers("om"))
    assert put.status_code == 422 and "phone" in put.text


def test_the_case_says_why_it_shows_no_victim_position(api):
    """A panic without her position on the map: her device sent none, or the
    reader's role does not see it (issue 21), said rather than left blank."""
    client, _, alert_id = api
    operator = client.get(f"/api/v1/alerts/{alert_id}", headers=headers("operator")).json()
    assert operator["victim_position"] == "none_sent"  # no fix from her device at all
    reclassering = client.get(f"/api/v1/alerts/{alert_id}", headers=headers("reclassering"))
    assert reclassering.json()["victim_position"] == "hidden"


def test_no_word_about_her_position_when_it_is_on_the_map(api):
    client, runtime, alert_id = api
    now = now_ms()  # within the case's window (the alert began ahead of the clock)
    runtime.store.write({"fixes": [("vd-0001", 9, now, now, 51.92, 4.47, 8.0, None, None,
                                    None)]})  # fmt: skip
    case = client.get(f"/api/v1/alerts/{alert_id}", headers=headers("operator")).json()
    assert case["victim_tracks"]["vd-0001"] and "victim_position" not in case
