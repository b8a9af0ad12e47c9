"""`emon serve` end to end: embedded defaults, and Mosquitto with PostgreSQL.

Orders in through the API, fixes in over MQTT, notifications and agency
alerts out, alerts in the API and the database, a restart in the middle.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid

import httpx
import psycopg
import pytest

from emon.engine import Message
from emon.service.runtime import Runtime
from emon.storage import PostgresStore, Writer, ledger
from emon.storage.chain import verify_period
from emon.timeutil import format_ts
from tests.integration.serve import (
    TOKEN,
    Device,
    Serve,
    approach,
    need_service,
    order_for,
    scratch_database,
)


def journey(serve: Serve, suffix: str) -> dict:
    """Register an order, drive into the zone, check everything that follows."""
    response = serve.http.put(f"/api/v1/orders/OM-{suffix}", json=order_for(suffix))
    assert response.status_code == 200 and response.json()["registered"] is True
    assert serve.http.get(f"/api/v1/orders/OM-{suffix}").json()["version"] == 1
    victim = Device(serve.mqtt_port, f"emon/v1/notify/vd-{suffix}")
    offender = Device(serve.mqtt_port, f"emon/v1/notify/am-{suffix}")
    police = Device(serve.mqtt_port, "emon/v1/alerts/police")
    try:
        approach(offender, suffix, [3000, 1600, 900, 600, 500])
        _, note = victim.expect(lambda t, b: b["level"] == "alert")
        assert set(note) == {"notification_id", "alert_id", "ts", "level", "text"}
        assert not any(c.isdigit() for c in note["text"])  # no position, no distance
        _, warning = offender.expect(lambda t, b: b["level"] == "prealert")
        assert "Keer nu om" in warning["text"] and not any(c.isdigit() for c in warning["text"])
        _, dispatched = police.expect(lambda t, b: b.get("order_id") == f"OM-{suffix}")
        assert dispatched["type"] == "zone_violation" and dispatched["severity"] == "critical"
        victim.publish(f"emon/v1/ack/vd-{suffix}", {"notification_id": note["notification_id"]})
    finally:
        for device in (victim, offender, police):
            device.close()
    alerts = serve.http.get("/api/v1/alerts", params={"state": "open"}).json()
    (violation,) = [
        a for a in alerts if a["order_id"] == f"OM-{suffix}" and a["type"] == "zone_violation"
    ]
    return violation


def operator_actions(serve: Serve, alert_id: str) -> None:
    """Ack (an open alert becomes acknowledged, an ended one stays ended), then
    resolve, which needs a note."""
    before = next(a for a in serve.http.get("/api/v1/alerts").json() if a["alert_id"] == alert_id)
    acked = serve.http.post(
        f"/api/v1/alerts/{alert_id}/ack", json={"note": "calling victim"}
    ).json()
    assert acked["state"] == ("acknowledged" if before["state"] == "open" else before["state"])
    assert acked["actions"][-1]["note"] == "calling victim"
    assert serve.http.post(f"/api/v1/alerts/{alert_id}/resolve", json={}).status_code == 422
    resolved = serve.http.post(
        f"/api/v1/alerts/{alert_id}/resolve",
        json={"note": "police on site", "classification": "true_violation"},
    )
    assert resolved.json()["state"] == "resolved"


def test_embedded_defaults_end_to_end_with_a_restart(tmp_path):
    suffix = uuid.uuid4().hex[:6]
    serve = Serve(tmp_path).start()
    try:
        assert httpx.get(f"http://127.0.0.1:{serve.http_port}/api/v1/alerts").status_code == 401
        assert serve.http.get("/healthz").json()["database"] is True
        violation = journey(serve, suffix)
        metrics = serve.http.get("/metrics").text
        assert 'emon_alerts_total{type="zone_violation"} 1.0' in metrics
    finally:
        serve.stop()
    # a restart: orders and alerts come back from storage; the episode is not raised again
    again = Serve(tmp_path, client_id=serve.client_id).start()
    try:
        assert again.http.get(f"/api/v1/orders/OM-{suffix}").status_code == 200
        alerts = again.http.get("/api/v1/alerts").json()
        assert [a["alert_id"] for a in alerts if a["type"] == "zone_violation"] == [
            violation["alert_id"]
        ]
        police = Device(again.mqtt_port, "emon/v1/alerts/police")
        offender = Device(again.mqtt_port)
        approach(offender, suffix, [450, 400], first_seq=6, step_ms=6_000)  # still inside
        time.sleep(2)
        raised = [b for _, b in list(police.received.queue) if b.get("state") == "open"]
        assert raised == []
        police.close()
        offender.close()
        operator_actions(again, violation["alert_id"])
    finally:
        again.stop()
    assert (tmp_path / "emon.db").exists()


SECRET = "pw-that-must-never-be-logged"
#: trust authentication here accepts any password: one is given to prove it is never logged
POSTGRES = f"postgresql://postgres:{SECRET}@127.0.0.1:5432/"


@pytest.fixture
def database():
    with scratch_database(POSTGRES, "emon_test") as url:
        yield url


def test_mosquitto_and_postgresql_with_messages_sent_while_down(tmp_path, database):
    need_service("Mosquitto", "127.0.0.1", 1883)
    suffix = uuid.uuid4().hex[:6]
    args = ("--mqtt", "mqtt://127.0.0.1:1883", "--database", database)
    serve = Serve(tmp_path, *args).start()
    try:
        violation = journey(serve, suffix)
    finally:
        serve.stop()
    # while emon is down, the broker holds QoS 1 messages for its persistent session
    offender = Device(1883)
    approach(offender, suffix, [900, 1200, 1400], first_seq=6, step_ms=10_000, lead_ms=30_000)
    offender.close()
    again = Serve(tmp_path, *args, client_id=serve.client_id).start()
    try:
        deadline = time.time() + 15
        while time.time() < deadline:
            current = {a["alert_id"]: a for a in again.http.get("/api/v1/alerts").json()}
            if current[violation["alert_id"]]["ended_at"]:
                break
            time.sleep(0.3)
        assert current[violation["alert_id"]]["state"] == "ended"
        operator_actions(again, violation["alert_id"])
    finally:
        again.stop()
    logs = serve.log.read_text() + again.log.read_text()
    assert SECRET not in logs and TOKEN not in logs and "postgresql://***@" in logs
    with psycopg.connect(database) as db:
        fixes = db.execute(
            "SELECT count(*) FROM fixes WHERE device_id = %s", (f"am-{suffix}",)
        ).fetchone()[0]
        messages = db.execute("SELECT count(*) FROM messages").fetchone()[0]
        changes = db.execute(
            "SELECT count(*) FROM alert_changes WHERE alert_id = %s", (violation["alert_id"],)
        ).fetchone()[0]
        actions = db.execute("SELECT action FROM actions ORDER BY at").fetchall()
        partitions = db.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'fixes'::regclass"
        ).fetchone()[0]
    assert fixes == 8 and messages >= 9  # every fix stored exactly once, the ack too
    # raised, ended, acknowledged, resolved: the last writes before a stop are kept too
    assert changes == 4 and [a for (a,) in actions] == ["ack", "resolve"]
    assert partitions >= 4
    # the evidence chain runs on across the restart, and the review commands read PostgreSQL
    review = ("--database", database)
    verified = subprocess.run([sys.executable, "-m", "emon", "verify", *review],
                              capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["checked"] == chained_total(database)
    evidence = subprocess.run(
        [sys.executable, "-m", "emon", "evidence", "--alert", violation["alert_id"], *review,
         "--out", str(tmp_path / "ev")], capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert evidence.returncode == 0, evidence.stderr
    assert "zone_violation" in (tmp_path / "ev" / "report.html").read_text()
    with psycopg.connect(database, autocommit=True) as db:
        moved = [seq for (seq,) in db.execute("SELECT chain_seq FROM fixes WHERE acc <> 1")]
        (second,) = db.execute(
            "SELECT chain_seq FROM messages ORDER BY chain_seq OFFSET 1 LIMIT 1"
        ).fetchone()
        db.execute("UPDATE fixes SET acc = 1")  # fixes are chained too
        db.execute("UPDATE messages SET payload = 'x'::bytea WHERE chain_seq = %s", (second,))
    altered = subprocess.run([sys.executable, "-m", "emon", "verify", *review],
                             capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert altered.returncode == 1
    found = sorted(p["seq"] for p in json.loads(altered.stdout)["problems"])
    assert moved and found == sorted([second, *moved])


def chained_total(database: str) -> int:
    """Every row the evidence chain covers (see emon/service/ledger.py)."""
    with psycopg.connect(database) as db:
        return sum(
            int(db.execute(f"SELECT count(*) FROM {spec.table}").fetchone()[0])
            for spec in ledger.CHAINED
        )


def test_chained_fixes_verify_on_postgresql_as_stored(tmp_path, database):
    """REAL is a 4-byte float in PostgreSQL (8.3 reads back as 8.300000190734863):
    fixes must verify as they come back, and a moved fix must still show."""
    store = PostgresStore(database)
    store.migrate()
    rt = Runtime.open(store, Writer(store, tmp_path / "spool.jsonl"))
    rt.put_order(order_for("pg"))
    now = int(time.time() * 1000)
    for k in range(3):
        fix = {"seq": k + 1, "ts": format_ts(now + k * 1000), "lat": 51.8 + k * 1e-7,
               "lon": 4.3, "acc": 8.3, "batt": 77.7}  # fmt: skip
        rt.process([Message(now + k * 1000, "emon/v1/fix/am-pg", json.dumps(fix).encode())])
    asyncio.run(rt.writer.flush())
    assert verify_period(store, now - 10_000, now + 10_000).intact
    store.db.execute("UPDATE fixes SET lat = lat + 1e-7 WHERE seq = 2")
    (problem,) = verify_period(store, now - 10_000, now + 10_000).problems
    assert problem["kind"] == "fix" and problem["problem"] == "altered"
    store.close()


def test_unusable_orders_are_refused_and_guideline_errors_kept_as_warnings(tmp_path):
    serve = Serve(tmp_path).start()
    try:
        classic = order_for("x1")
        classic["zones"][0]["radius_m"] = 500
        response = serve.http.put("/api/v1/orders/OM-x1", json=classic)
        assert response.status_code == 200 and response.json()["enforceable"] is False
        assert (
            serve.http.get("/api/v1/orders/OM-x1").json()["warnings"][0]["code"]
            == "protected_margin"
        )
        broken = order_for("x2")
        broken["valid_until"] = "2020-01-01T00:00:00Z"
        assert serve.http.put("/api/v1/orders/OM-x2", json=broken).status_code == 422
        report = serve.http.post("/api/v1/orders/validate", json=classic).json()
        assert report["findings"][0]["code"] == "protected_margin"
        assert serve.http.delete("/api/v1/orders/OM-x1").json()["revoked"] is True
        assert serve.http.get("/api/v1/orders/OM-x1").status_code == 404
    finally:
        serve.stop()


def test_sse_stream_delivers_live_alerts(tmp_path):
    suffix = uuid.uuid4().hex[:6]
    serve = Serve(tmp_path).start()
    try:
        serve.http.put(f"/api/v1/orders/OM-{suffix}", json=order_for(suffix))
        url = f"http://127.0.0.1:{serve.http_port}/api/v1/alerts/stream"
        with httpx.stream("GET", url, params={"token": TOKEN}, timeout=15) as stream:
            device = Device(serve.mqtt_port)
            approach(device, suffix, [3000, 1600, 900, 600, 500])
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    alert = json.loads(line[5:])
                    assert alert["order_id"] == f"OM-{suffix}"
                    break
            device.close()
    finally:
        serve.stop()


def test_serve_help_says_how_to_use_it():
    out = subprocess.run(
        [sys.executable, "-m", "emon", "serve", "--help"], capture_output=True, text=True
    ).stdout
    assert "--mqtt" in out and "EMON_ADMIN_TOKEN" in out


#: how long the database is away (s): a minute with EMON_TEST_DB_OUTAGE_S=60
OUTAGE_S = int(os.environ.get("EMON_TEST_DB_OUTAGE_S", "10"))


def test_database_outage_delays_no_alert_and_loses_nothing(tmp_path, database):
    """The database connection dies mid-run: alerts still go out, writes are
    spooled and land once the database answers again."""
    suffix = uuid.uuid4().hex[:6]
    serve = Serve(tmp_path, "--database", database).start()
    name = database.rsplit("/", 1)[1]
    try:
        serve.http.put(f"/api/v1/orders/OM-{suffix}", json=order_for(suffix))
        time.sleep(0.5)
        with psycopg.connect(POSTGRES + "postgres", autocommit=True) as admin:
            admin.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false")
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
            )
        police = Device(serve.mqtt_port, "emon/v1/alerts/police")
        offender = Device(serve.mqtt_port)
        approach(offender, suffix, [3000, 1600, 900, 600, 500])
        police.expect(lambda t, b: b.get("order_id") == f"OM-{suffix}")  # delivered all the same
        # a while without the database, the devices going on as ever
        for k in range(OUTAGE_S):
            approach(offender, suffix, [400], first_seq=6 + k, lead_ms=0)
            time.sleep(1.0)
        deadline = time.time() + 10
        while serve.http.get("/healthz").json()["database"] and time.time() < deadline:
            time.sleep(0.2)
        assert serve.http.get("/healthz").json()["database"] is False
        assert (tmp_path / "emon-spool.jsonl").exists()
        with psycopg.connect(POSTGRES + "postgres", autocommit=True) as admin:
            admin.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true")
        deadline = time.time() + 15
        while not serve.http.get("/healthz").json()["database"] and time.time() < deadline:
            time.sleep(0.2)
        assert serve.http.get("/healthz").json()["database"] is True
        police.close()
        offender.close()
    finally:
        serve.stop()
    with psycopg.connect(database) as db:
        fixes = db.execute(
            "SELECT count(*) FROM fixes WHERE device_id = %s", (f"am-{suffix}",)
        ).fetchone()[0]
        alerts = db.execute(
            "SELECT count(*) FROM alerts WHERE body->>'order_id' = %s", (f"OM-{suffix}",)
        ).fetchone()[0]
    assert fixes == 5 + OUTAGE_S and alerts >= 1
    assert not (tmp_path / "emon-spool.jsonl").exists()


def test_webhooks_receive_alerts_with_retries_and_signatures(tmp_path):
    import hashlib
    import hmac
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[tuple[bytes, str]] = []
    calls = {"n": 0}

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            calls["n"] += 1
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if calls["n"] == 1:
                self.send_response(503)  # the first try fails
            else:
                received.append((body, self.headers["X-Emon-Signature"]))
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = tmp_path / "emon.json"
    config.write_text(
        json.dumps(
            {
                "webhooks": [
                    {
                        "url": f"http://127.0.0.1:{server.server_port}/hook",
                        "channels": ["police"],
                        "secret": "s3",
                    }
                ],
            }
        )
    )
    suffix = uuid.uuid4().hex[:6]
    serve = Serve(tmp_path, "--config", str(config)).start()
    try:
        serve.http.put(f"/api/v1/orders/OM-{suffix}", json=order_for(suffix))
        device = Device(serve.mqtt_port)
        approach(device, suffix, [3000, 1600, 900, 600, 500])
        device.close()
        deadline = time.time() + 15
        while not received and time.time() < deadline:
            time.sleep(0.2)
    finally:
        serve.stop()
        server.shutdown()
    body, signature = received[0]
    assert json.loads(body)["type"] == "zone_violation"
    assert signature == "sha256=" + hmac.new(b"s3", body, hashlib.sha256).hexdigest()
    assert calls["n"] >= 2
