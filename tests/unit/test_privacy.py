"""Where a location can come out, by role: order reads, evidence, what-if, closest approach.

The reclassering and the OM never see a victim's address or position; the
OM not the offender's residence either; every read of a location by a
person is in the audit table."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from emon.review.evidence import for_period
from emon.review.whatif import patched_order
from simulators.scenarios import ROTTERDAM, base_order
from tests.unit.service_app import TOKENS, service_app

ORDER = base_order(ROTTERDAM, contact_ban={"distance_m": 1000, "prealert_m": 2000})
ORDER["offender"]["residence"] = {"type": "Point", "coordinates": [4.40, 51.90]}
ORDER["offender"]["places"] = [{"name": "work", "geometry": {"type": "Point",
                                                             "coordinates": [4.3, 51.9]}}]  # fmt: skip
ADDRESS = ORDER["victims"][0]["address"]["coordinates"]


@pytest.fixture
def api(tmp_path):
    client, runtime = service_app(tmp_path)
    store = runtime.store
    assert client.put(f"/api/v1/orders/{ORDER['order_id']}", json=ORDER,
                      headers={"Authorization": "Bearer t-om"}).status_code == 200  # fmt: skip
    store.write({"orders": runtime.writer.pending["orders"]})  # as the writer would
    return client, runtime


def as_role(client: TestClient, role: str, method: str, path: str, **kw):
    return client.request(method, path, headers={"Authorization": f"Bearer {TOKENS[role]}"}, **kw)


@pytest.mark.parametrize(
    "role, victim, offender",
    [("operator", True, True), ("reclassering", False, True), ("om", False, False)],
)
def test_an_order_read_shows_only_what_the_role_may_see_and_is_audited(api, role, victim, offender):
    client, runtime = api
    runtime.writer.pending["audit"].clear()
    body = as_role(client, role, "get", f"/api/v1/orders/{ORDER['order_id']}").json()
    assert ("address" in body["victims"][0]) is victim
    assert ("residence" in body["offender"]) is offender
    assert ("places" in body["offender"]) is offender
    assert body["zones"] == ORDER["zones"]  # supervising an order means knowing its zones
    # a zone drawn around her home shows where it lies to within its radius: the
    # court imposed it and the reclassering supervises it (see the README)
    text = json.dumps({k: v for k, v in body.items() if k != "zones"})
    assert (str(ADDRESS[0]) in text) is victim
    audited = [row[2:5] for row in runtime.writer.pending["audit"]]
    if victim or offender:
        ((who, action, subject),) = audited
        assert (who, action, subject) == (role, "read_order", ORDER["order_id"])
    else:
        assert audited == []


def test_evidence_holds_no_victim_address_unless_asked_for(api):
    _, runtime = api
    bundle = for_period(runtime.store, [], ORDER["order_id"], 0, 2**40, 2**40)
    assert "address" not in bundle.order["victims"][0]
    assert bundle.order["offender"]["residence"] == ORDER["offender"]["residence"]
    full = for_period(runtime.store, [], ORDER["order_id"], 0, 2**40, 2**40, include_victim=True)
    assert full.order["victims"][0]["address"]["coordinates"] == ADDRESS


@pytest.mark.parametrize(
    "patch",
    [
        {"offender": {"device_id": "vd-0001"}},  # the victim's device as the "offender"
        {"victims": []},
        {"zones": {"Z-1": {"geometry": {"type": "Point", "coordinates": ADDRESS}}}},
        {"zones": {"Z-1": {"radius_m": 50, "geometry": {"type": "Point", "coordinates": [4, 51]}}}},
        {
            "zones": [
                {
                    "zone_id": "Z-9",
                    "type": "exclusion",
                    "radius_m": 50,
                    "geometry": {"type": "Point", "coordinates": ADDRESS},
                }
            ]
        },
        {"contact_ban": {"distance_m": 1500, "victim_device_id": "x"}},
        {"valid_from": "2020-01-01T00:00:00Z"},
    ],
)
def test_what_if_cannot_swap_the_parties_or_move_a_zone(api, patch):
    client, _ = api
    answer = as_role(client, "reclassering", "post", f"/api/v1/orders/{ORDER['order_id']}/what-if",
                     json={"from": "2026-11-01T00:00:00Z", "patch": patch})  # fmt: skip
    assert answer.status_code == 422, answer.text


def test_what_if_changes_thresholds_only_and_is_audited(api):
    client, runtime = api
    patched = patched_order(ORDER, {"zones": {"Z-1": {"radius_m": 1500}, "Z-9": {"radius_m": 9}},
                                    "contact_ban": {"distance_m": 1500}})  # fmt: skip
    assert [z["zone_id"] for z in patched["zones"]] == ["Z-1"]  # no zone added
    assert patched["zones"][0]["radius_m"] == 1500 and patched["contact_ban"]["distance_m"] == 1500
    runtime.writer.pending["audit"].clear()
    answer = as_role(client, "reclassering", "post", f"/api/v1/orders/{ORDER['order_id']}/what-if",
                     json={"from": "2026-11-01T00:00:00Z", "set": {"confirm_fixes": 3},
                           "patch": {"contact_ban": {"distance_m": 1500}}})  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert [row[3] for row in runtime.writer.pending["audit"]] == ["what_if"]
    bad = as_role(client, "reclassering", "post", f"/api/v1/orders/{ORDER['order_id']}/what-if",
                  json={"from": "2026-11-01T00:00:00Z", "set": {"confirm_fixes": "NaN"}})  # fmt: skip
    assert bad.status_code == 422


def test_closest_approach_gives_distances_not_positions_and_is_audited(api):
    client, runtime = api
    runtime.writer.pending["audit"].clear()
    answer = as_role(client, "reclassering", "get",
                     f"/api/v1/orders/{ORDER['order_id']}/closest-approach",
                     params={"from": "2026-11-01T00:00:00Z"})  # fmt: skip
    assert answer.status_code == 200
    assert set(answer.json()["victims"][0]) == {"person_id", "device_id", "closest_m", "at",
                                                 "between_fixes"}  # fmt: skip
    assert [row[3] for row in runtime.writer.pending["audit"]] == ["read_closest_approach"]
