"""What an attacker or a careless user sends: refused with the field named,
never able to stop enforcement of the other orders, the timers or start-up."""

from __future__ import annotations

import asyncio
import copy
import json
import math

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emon.engine import Message
from emon.service.api import create_app
from emon.service.auth import TokenBook
from emon.service.limits import MAX_BODY_BYTES
from emon.service.review_api import attachment
from emon.service.runtime import Runtime
from emon.storage import SqliteStore, Writer
from simulators.scenarios import ROTTERDAM, base_order

ADMIN = {"Authorization": "Bearer t-admin"}
GOOD = base_order(ROTTERDAM, contact_ban={"distance_m": 1000, "prealert_m": 2000})


def runtime_on(tmp_path) -> Runtime:
    store = SqliteStore(tmp_path / "emon.db")
    store.migrate()
    return Runtime.open(store, Writer(store, tmp_path / "spool.jsonl"))


@pytest.fixture
def api(tmp_path):
    runtime = runtime_on(tmp_path)
    client = TestClient(create_app(runtime, TokenBook("t-admin", None), {"mqtt": True}))
    return client, runtime


def other(order_id: str) -> dict:
    order = copy.deepcopy(GOOD)
    order["order_id"] = order_id
    order["offender"]["device_id"] = f"am-{order_id}"
    order["victims"][0]["device_id"] = f"vd-{order_id}"
    return order


def put_raw(client: TestClient, order_id: str, text: str):
    return client.put(f"/api/v1/orders/{order_id}", content=text.encode(),
                      headers={**ADMIN, "Content-Type": "application/json"})  # fmt: skip


#: (a change to the good order as JSON text, the field the refusal must name)
HOSTILE = [
    ('"max_silence_s": 1e400', "max_silence_s"),  # valid JSON: infinity
    ('"max_silence_s": NaN', "max_silence_s"),
    ('"max_silence_s": 0', "max_silence_s"),
    ('"max_silence_s": -1', "max_silence_s"),
    ('"max_silence_s": "600"', "max_silence_s"),  # no coercion of strings
    ('"max_silence_s": true', "max_silence_s"),
    ('"zones": [{"zone_id": "Z-1", "type": "exclusion", "radius_m": Infinity, '
     '"geometry": {"type": "Point", "coordinates": [4.49, 51.93]}}]', "radius_m"),
    ('"zones": [{"zone_id": "Z-1", "type": "exclusion", "radius_m": 1000, "prealert_m": 1e999, '
     '"geometry": {"type": "Point", "coordinates": [4.49, 51.93]}}]', "prealert_m"),
    ('"contact_ban": {"distance_m": Infinity}', "distance_m"),
    ('"contact_ban": {"distance_m": NaN}', "distance_m"),
    ('"contact_ban": {"distance_m": 1000, "prealert_m": NaN}', "prealert_m"),
    ('"victims": [{"person_id": "V-1", "device_id": "vd-0001", '
     '"address": {"type": "Point", "coordinates": [NaN, 51.93]}}]', "victims[0].address"),
    ('"offender": {"person_id": "P-1", "device_id": "am-0001", '
     '"residence": {"type": "Point", "coordinates": [4.47, NaN]}}', "offender.residence"),
    ('"offender": {"person_id": "P-1", "device_id": "am-#"}', "device_id"),
    ('"case_id": "ZAAK\\r\\nSet-Cookie: x"', "case_id"),
    ('"note": "' + "x" * 100_000 + '"', "note"),
    # 24 kB as UTF-8, 72 kB as the bound counts it (each é escaped to \u00e9)
    ('"note": "' + "\u00e9" * 12_000 + '"', "note"),
]  # fmt: skip


@pytest.mark.parametrize("change, field", HOSTILE)
def test_a_hostile_order_is_refused_naming_the_field_and_enforcement_goes_on(api, change, field):
    client, runtime = api
    assert client.put("/api/v1/orders/OM-ok", json=other("OM-ok"), headers=ADMIN).status_code == 200
    text = json.dumps(GOOD)[:-1] + ", " + change + "}"
    answer = put_raw(client, GOOD["order_id"], text)
    assert answer.status_code == 422, answer.text
    assert field in answer.text
    assert client.get(f"/api/v1/orders/{GOOD['order_id']}", headers=ADMIN).status_code == 404
    # the engine still rebuilds, enforces the good order and ticks
    assert client.put("/api/v1/orders/OM-ok2", json=other("OM-ok2"), headers=ADMIN).json()[
        "registered"
    ]
    runtime.tick(runtime.engine.clock + 1000)
    assert {"am-OM-ok", "am-OM-ok2"} <= set(runtime.current_engine().devices.index)
    assert client.get("/healthz").json()["status"] == "ok"


def test_a_bad_order_stored_by_an_older_version_is_quarantined_at_start_up(tmp_path):
    store = SqliteStore(tmp_path / "emon.db")
    store.migrate()
    bad = dict(other("OM-old"), max_silence_s=math.inf)  # json writes it as Infinity
    rows = [(o["order_id"], 1, json.dumps(o), 0, None, None, None) for o in (bad, other("OM-fine"))]
    store.write({"orders": rows})
    store.close()
    runtime = runtime_on(tmp_path)
    runtime.recover(3600)  # used to exit: OverflowError, cannot convert float infinity
    assert set(runtime.orders) == {"OM-fine"} and "OM-old" in runtime.quarantined
    assert "am-OM-fine" in runtime.engine.devices.index
    client = TestClient(create_app(runtime, TokenBook("t-admin", None), {"mqtt": True}))
    health = client.get("/healthz").json()
    assert health["status"] == "degraded"
    assert "order OM-old" in health["problems"] and "loaded" in health["problems"]["order OM-old"]

    # registering it again, correctly, lifts the quarantine
    fixed = client.put("/api/v1/orders/OM-old", json=other("OM-old"), headers=ADMIN)
    assert fixed.status_code == 200 and client.get("/healthz").json()["status"] == "ok"


def test_a_stored_order_the_engine_cannot_compile_is_quarantined_at_start_up(tmp_path):
    """Stored orders are compiled once, by the engine's build (not each alone
    first, which doubled a restart's compiling): one that fails there is set
    aside and the others are enforced."""
    store = SqliteStore(tmp_path / "emon.db")
    store.migrate()
    flat = [[[5.0, 52.0], [5.0, 52.0], [5.0, 52.0], [5.0, 52.0]]]
    bad = other("OM-flat")
    bad["zones"] = [{"zone_id": "Z-flat", "type": "exclusion",
                     "geometry": {"type": "Polygon", "coordinates": flat}}]  # fmt: skip
    stored = [dict(o, _warnings=[]) for o in (bad, other("OM-fine"))]
    rows = [(o["order_id"], 1, json.dumps(o), 0, None, None, None) for o in stored]
    store.write({"orders": rows})
    store.close()
    runtime = runtime_on(tmp_path)
    runtime.recover(3600)
    assert set(runtime.orders) == {"OM-fine"} and "built" in runtime.quarantined["OM-flat"]
    assert set(runtime.engine.devices.index) >= {"am-OM-fine"}
    assert "am-OM-flat" not in runtime.engine.devices.index


def test_a_failing_tick_is_shown_and_the_timers_keep_running(tmp_path):
    runtime = runtime_on(tmp_path)
    calls = []

    def tick(now: int) -> None:
        calls.append(now)
        if len(calls) <= 2:
            raise RuntimeError("boom")

    runtime.tick = tick  # type: ignore[method-assign]
    seen: list[dict[str, str]] = []

    async def watch() -> None:
        timers = asyncio.create_task(runtime.run_timers(period_s=0.01))
        for _ in range(40):
            await asyncio.sleep(0.01)
            seen.append(dict(runtime.problems))
        timers.cancel()

    asyncio.run(watch())
    assert len(calls) > 5  # it went on after the failures
    assert any("timers" in p and "boom" in p["timers"] for p in seen)
    assert "timers" not in runtime.problems  # and the next good tick cleared it


def test_a_body_over_the_limit_is_refused_before_it_is_parsed(api):
    client, _ = api
    huge = b'{"order_id": "OM-big", "zones": [' + b"1," * (MAX_BODY_BYTES // 2) + b"1]}"
    answer = client.put("/api/v1/orders/OM-big", content=huge,
                        headers={**ADMIN, "Content-Type": "application/json"})  # fmt: skip
    assert answer.status_code == 413

    def chunks():
        yield b'{"order_id": "OM-big", "note": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    chunked = client.put("/api/v1/orders/OM-big", content=chunks(),
                         headers={**ADMIN, "Content-Type": "application/json"})  # fmt: skip
    assert chunked.status_code == 413


def test_a_token_in_the_url_is_taken_only_by_the_live_stream(api):
    client, _ = api
    assert client.get("/api/v1/alerts?token=t-admin").status_code == 401
    assert client.put("/api/v1/orders/OM-x?token=t-admin", json=other("OM-x")).status_code == 401
    assert client.get("/api/v1/alerts", headers=ADMIN).status_code == 200


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                                    "1969-12-31T23:59:59Z", "2026-13-01T00:00:00Z"])  # fmt: skip
def test_extreme_times_in_a_query_are_422_not_500(api, moment):
    client, _ = api
    answer = client.get("/api/v1/evidence/verify", params={"from": moment}, headers=ADMIN)
    assert answer.status_code == 422, answer.text


def test_an_id_cannot_break_out_of_the_download_header():
    header = attachment('evidence-OM"; filename="evil.exe\r\nX-Injected: 1.pdf')
    assert "\r" not in header and "\n" not in header
    assert header.count('"') == 2 and header.startswith('attachment; filename="evidence-OM__')
    assert "filename*=UTF-8''evidence-OM%22%3B" in header


#: values a careless or hostile client puts anywhere (as JSON text: NaN and
#: Infinity are what Python's own json writes for non-finite numbers)
WILD = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e308", "-0.0",
                        "0", "-1", "9007199254740993", '"1000"', "true", "null", "[]", "{}",
                        '"\\u0000"', '"' + "x" * 300 + '"'])  # fmt: skip
PATHS = [("max_silence_s",), ("zones", 0, "radius_m"), ("zones", 0, "prealert_m"),
         ("zones", 0, "geometry", "coordinates", 0), ("zones", 0, "geometry", "coordinates"),
         ("contact_ban", "distance_m"), ("contact_ban", "prealert_m"), ("risk",),
         ("victims", 0, "address", "coordinates", 1), ("offender", "residence"),
         ("offender", "device_id"), ("order_id",), ("valid_from",), ("timezone",),
         ("zones", 0, "schedule"), ("victims", 0, "device_id")]  # fmt: skip


def _with(order: dict, path: tuple, marker: str) -> dict:
    """The order with ``marker`` at ``path`` (unchanged where an earlier change
    already replaced a parent of it)."""
    out = copy.deepcopy(order)
    target = out
    try:
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = marker
    except (KeyError, IndexError, TypeError):
        return order
    return out


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.sampled_from(PATHS), WILD), min_size=1, max_size=3))
def test_fuzzed_orders_through_the_api_never_break_enforcement(tmp_path_factory, changes):
    runtime = runtime_on(tmp_path_factory.mktemp("fuzz"))
    client = TestClient(create_app(runtime, TokenBook("t-admin", None), {"mqtt": True}))
    order = copy.deepcopy(GOOD)
    order["offender"]["residence"] = {"type": "Point", "coordinates": [4.40, 51.90]}
    text_for = {}
    for k, (path, value) in enumerate(changes):
        marker = f"@@{k}@@"
        order = _with(order, path, marker)
        text_for[f'"{marker}"'] = value
    text = json.dumps(order)
    for marker, value in text_for.items():
        text = text.replace(marker, value)
    answer = put_raw(client, "OM-fuzz", text)
    assert answer.status_code in (200, 422), answer.text
    client.put("/api/v1/orders/OM-ok", json=other("OM-ok"), headers=ADMIN)
    engine = runtime.current_engine()  # never fails to build
    runtime.tick(engine.clock + 1000)
    assert "am-OM-ok" in engine.devices.index and not runtime.problems


QUERY_TIMES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59.999-14:00",
            "NaN",
            "1970-01-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "+275760-09-13T00:00:00Z",
            "2026-11-28T13:45:12.123456789Z",
        ]
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(QUERY_TIMES, st.one_of(st.none(), QUERY_TIMES))
def test_fuzzed_query_times_are_never_a_server_error(api, start, end):
    client, _ = api
    params = {"from": start} if end is None else {"from": start, "to": end}
    for path in ("/api/v1/evidence/verify", "/api/v1/orders/OM-t/compliance",
                 "/api/v1/orders/OM-t/closest-approach", "/api/v1/orders/OM-t/evidence"):  # fmt: skip
        assert client.get(path, params=params, headers=ADMIN).status_code < 500


def test_healthz_says_when_the_service_is_behind(api):
    client, runtime = api
    assert client.get("/healthz").json()["backlog"] == 0
    runtime.ingest.queue_limit = 10
    for k in range(6):
        runtime.ingest.inbox.put_nowait(Message(k, "emon/v1/fix/am-1", b"{}"))
    health = client.get("/healthz").json()
    assert health["status"] == "degraded" and health["backlog"] == 6
    assert "backlog" in health["problems"]
