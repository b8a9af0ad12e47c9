"""Least privilege on every endpoint, and actions recorded under a name."""

from __future__ import annotations

import asyncio

import pytest

from emon.storage.base import shown_alert
from emon.timeutil import now_ms
from simulators.scenarios import ROTTERDAM, base_order
from tests.unit.service_app import TOKENS, service_app


@pytest.fixture
def api(tmp_path):
    client, runtime = service_app(tmp_path)
    show(runtime, {
        "alert_id": "A-1", "type": "panic", "severity": "critical", "state": "open",
        "order_id": ORDER["order_id"], "case_id": ORDER["case_id"], "device_id": "vd-0001",
        "zone_id": None, "started_at": "2026-11-28T12:00:00.000Z",
        "detected_at": "2026-11-28T12:00:00.000Z", "ended_at": None, "late": False, "details": {},
    })  # fmt: skip
    return client, runtime


def show(runtime, alert: dict) -> None:
    """An alert known to the service (as if stored, with its times)."""
    runtime.alert_book.show(shown_alert(alert))


ORDER = base_order(ROTTERDAM)
CALLS = {
    "validate": ("post", "/api/v1/orders/validate", ORDER),
    "put": ("put", f"/api/v1/orders/{ORDER['order_id']}", ORDER),
    "get": ("get", f"/api/v1/orders/{ORDER['order_id']}", None),
    "alerts": ("get", "/api/v1/alerts", None),
    "ack": ("post", "/api/v1/alerts/A-1/ack", {"note": "seen"}),
    "orders": ("get", "/api/v1/orders", None),
    "detail": ("get", "/api/v1/alerts/A-1", None),
    "assign": ("post", "/api/v1/alerts/A-1/assign", {"to": "B. Bakker"}),
    "confirm": ("post", "/api/v1/alerts/A-1/confirm", {}),
    "devices": ("get", "/api/v1/devices/health", None),
    "compliance": (
        "get",
        f"/api/v1/orders/{ORDER['order_id']}/compliance?from=2026-11-01T00:00:00Z",
        None,
    ),
    "closest": (
        "get",
        f"/api/v1/orders/{ORDER['order_id']}/closest-approach?from=2026-11-01T00:00:00Z",
        None,
    ),
    "what-if": (
        "post",
        f"/api/v1/orders/{ORDER['order_id']}/what-if",
        {"from": "2026-11-28T11:00:00Z", "set": {"confirm_fixes": 3}},
    ),
    "evidence": ("get", "/api/v1/alerts/A-1/evidence?format=csv", None),
    "verify": ("get", "/api/v1/evidence/verify", None),
    "hold": (
        "post",
        f"/api/v1/orders/{ORDER['order_id']}/hold",
        {"from": "2026-11-01T00:00:00Z", "reason": "investigation"},
    ),
}
ALLOWED = {
    "admin": set(CALLS),
    "om": {
        "validate",
        "put",
        "get",
        "orders",
        "compliance",
        "closest",
        "what-if",
        "evidence",
        "verify",
        "hold",
        "reminders",
    },
    "reclassering": {
        "validate",
        "get",
        "alerts",
        "orders",
        "detail",
        "devices",
        "compliance",
        "closest",
        "what-if",
        "evidence",
        "verify",
        "hold",
        "reminders",
    },
    "operator": {
        "get",
        "alerts",
        "ack",
        "orders",
        "detail",
        "assign",
        "devices",
        "compliance",
        "closest",
        "what-if",
        "reminders",
    },
    "police": {"alerts", "detail", "confirm"},
}


@pytest.mark.parametrize("role", ALLOWED)
def test_each_role_may_do_exactly_its_part(api, role):
    client, runtime = api
    token = "t-admin" if role == "admin" else TOKENS[role]
    headers = {"Authorization": f"Bearer {token}"}
    # the order exists, so that reading it is a real read
    client.put(CALLS["put"][1], json=ORDER, headers={"Authorization": "Bearer t-admin"})
    asyncio.run(runtime.writer.flush())
    for name, (method, path, body) in CALLS.items():
        response = client.request(method, path, json=body, headers=headers)
        expected_ok = name in ALLOWED[role]
        assert (response.status_code < 400) == expected_ok, (role, name, response.status_code)
        if not expected_ok:
            assert response.status_code == 403


def test_no_token_or_a_wrong_one_is_refused(api):
    client, _ = api
    assert client.get("/api/v1/alerts").status_code == 401
    assert client.get("/api/v1/alerts", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/healthz").status_code == 200  # health needs no token


def test_actions_are_recorded_under_the_persons_name(api):
    client, runtime = api
    client.post(
        "/api/v1/alerts/A-1/ack", json={"note": "calling"}, headers={"Authorization": "Bearer t-op"}
    )
    assert runtime.alerts["A-1"]["actions"][-1]["actor"] == "operator person"


def test_resolving_takes_a_known_classification(api):
    client, runtime = api
    headers = {"Authorization": "Bearer t-op"}
    bad = client.post("/api/v1/alerts/A-1/resolve", json={"note": "x", "classification": "meh"},
                      headers=headers)  # fmt: skip
    assert bad.status_code == 422 and runtime.alerts["A-1"]["state"] == "open"
    body = {"note": "false alarm, pressed by a child", "classification": "permitted_exception"}
    assert client.post("/api/v1/alerts/A-1/resolve", json=body, headers=headers).status_code == 200
    assert runtime.alerts["A-1"]["classification"] == "permitted_exception"


def test_whoami_lists_what_the_role_may_do(api):
    client, _ = api
    me = client.get("/api/v1/whoami", headers={"Authorization": "Bearer t-po"}).json()
    assert me["role"] == "police" and "locations:victim" in me["permissions"]
    assert "alerts:act" not in me["permissions"]


def test_police_see_only_what_is_routed_to_the_police(api):
    client, runtime = api
    show(runtime, dict(runtime.alerts["A-1"], alert_id="B-1", type="battery_low", severity="low"))
    police = {"Authorization": "Bearer t-po"}
    assert [a["alert_id"] for a in client.get("/api/v1/alerts", headers=police).json()] == ["A-1"]
    assert client.get("/api/v1/alerts/B-1", headers=police).status_code == 404
    # nor take on what it may not read (it could confirm a flat battery before)
    assert client.post("/api/v1/alerts/B-1/confirm", json={}, headers=police).status_code == 404
    assert "dispatch_confirmed" not in runtime.alerts["B-1"]
    assert client.post("/api/v1/alerts/A-1/confirm", json={}, headers=police).status_code == 200
    operator = {"Authorization": "Bearer t-op"}
    assert len(client.get("/api/v1/alerts", headers=operator).json()) == 2


def test_review_questions_that_cannot_be_answered_are_not_server_errors(api):
    client, runtime = api
    admin = {"Authorization": "Bearer t-admin"}
    order = dict(ORDER, order_id="OM-NODEV", offender={"person_id": "P-9"})
    assert client.put("/api/v1/orders/OM-NODEV", json=order, headers=admin).status_code == 200
    asyncio.run(runtime.writer.flush())
    closest = client.get("/api/v1/orders/OM-NODEV/closest-approach?from=2026-11-01T00:00:00Z",
                         headers=admin)  # fmt: skip
    assert closest.status_code == 422 and "offender device" in closest.json()["detail"]
    show(runtime, dict(runtime.alerts["A-1"], alert_id="C-1", order_id="OM-UNSTORED"))
    assert client.get("/api/v1/alerts/C-1/evidence", headers=admin).status_code == 404


def test_a_worker_catching_up_on_a_backlog_says_so(api):
    """While the intake reads a backlog (the engine's clock held at the
    messages' time), /healthz and /metrics say how far behind it is."""
    client, runtime = api
    assert client.get("/healthz").json()["behind_s"] == 0
    now = now_ms()
    runtime.clock_hold = lambda: now - 90_000
    runtime.stream_backlog = 40_000
    body = client.get("/healthz").json()
    assert body["status"] == "degraded" and 89 <= body["behind_s"] <= 95
    assert body["stream_backlog"] == 40_000 and "40000 still to read" in body["problems"]["behind"]
    runtime.tick(now)
    metrics = client.get("/metrics").text
    assert "emon_stream_backlog 40000.0" in metrics
    behind = next(line for line in metrics.splitlines() if line.startswith("emon_intake_behind"))
    assert 89 <= float(behind.split()[1]) <= 95
    runtime.clock_hold = lambda: None  # caught up
    assert "behind" not in client.get("/healthz").json()["problems"]


class OtherWorkers:
    """The other workers of a cluster, as far as the device board asks them."""

    def __init__(self, boards):
        self._boards = boards

    def boards(self):
        return self._boards


def test_the_device_board_gathers_the_rows_other_workers_hold(api):
    """On a cluster the board merges every worker's rows, the worst first, and
    names a worker that did not answer."""
    client, runtime = api
    headers = {"Authorization": "Bearer t-op"}
    client.put(f"/api/v1/orders/{ORDER['order_id']}", json=ORDER,
               headers={"Authorization": "Bearer t-admin"})  # fmt: skip
    here = client.get("/api/v1/devices/health", headers=headers).json()
    assert len(here) == 2  # this worker's: the offender's and the victim's device
    elsewhere = [{"device_id": "am-far", "score": 10_000, "last_fix_age_s": 5.0}]
    runtime.peers = OtherWorkers((elsewhere, ["worker-b"]))
    board = client.get("/api/v1/devices/health", headers=headers)
    rows = [(r["device_id"], r["score"]) for r in board.json()]  # ages move on between reads
    assert rows == [(r["device_id"], r["score"]) for r in elsewhere + here]  # heaviest first
    assert board.headers["X-Emon-Unanswered"] == "worker-b"
    runtime.peers = OtherWorkers(([], []))
    assert "X-Emon-Unanswered" not in client.get("/api/v1/devices/health", headers=headers).headers
