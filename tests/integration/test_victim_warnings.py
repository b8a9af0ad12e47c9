"""A whole approach, violation and retreat through a real Mosquitto, to a victim
device that never acknowledges: what she is told never contradicts what is
open, a re-send never brings back an older message, and an ending is never
escalated (issue 17's first complaint, as a new user saw it)."""

from __future__ import annotations

import json
import re
import time

from tests.integration.serve import Broker, Device, Serve, approach, order_for

#: re-send after this many seconds (the default 30 s would make this test long)
RESEND_S = 1.0


def test_a_victim_who_never_answers_is_never_told_something_untrue(tmp_path):
    broker = Broker(tmp_path)
    broker.start()
    serve = Serve(tmp_path, "--mqtt", f"mqtt://127.0.0.1:{broker.port}",
                  env={"EMON_RESEND_AFTER_S": str(RESEND_S)}).start()  # fmt: skip
    suffix = "w1"
    victim = Device(broker.port, f"emon/v1/notify/vd-{suffix}")
    centre = Device(broker.port, "emon/v1/alerts/monitoring")
    offender = Device(broker.port)
    try:
        order = order_for(suffix)
        order.pop("contact_ban")
        assert serve.http.put(f"/api/v1/orders/OM-{suffix}", json=order).json()["registered"]
        # into the pre-alert ring, into the zone, and out again, 10 s of event time a fix
        step = {"step_ms": 10_000}
        approach(offender, suffix, [3000, 1400, 1300, 1200], first_seq=1, lead_ms=-150_000, **step)
        time.sleep(3 * RESEND_S)
        approach(offender, suffix, [700, 600, 500], first_seq=5, lead_ms=-100_000, **step)
        time.sleep(4 * RESEND_S)
        approach(offender, suffix, [1100, 1300, 1400, 1600, 1800, 2000, 2200], first_seq=8, **step)
        time.sleep(5 * RESEND_S)
        alerts = [a for a in serve.http.get("/api/v1/alerts").json()
                  if a["order_id"] == f"OM-{suffix}"]  # fmt: skip
        received = drain(victim)
        escalations = [
            b for _, b in drain(centre) if b.get("type") == "notification_unacknowledged"
        ]
    finally:
        for device in (victim, centre, offender):
            device.close()
        serve.stop()
        broker.stop()
    kinds = {a["type"]: a for a in alerts}
    assert {"zone_prealert", "zone_violation"} <= set(kinds), alerts
    assert all(a["ended_at"] for a in alerts if a["type"].startswith("zone")), alerts
    order_of = []  # notification ids in the order they were first sent
    levels = {}
    for _, body in received:
        if body["notification_id"] not in levels:
            order_of.append(body["notification_id"])
            levels[body["notification_id"]] = body["level"]
        else:  # a re-send: always of the latest message, never an older one
            assert body["notification_id"] == order_of[-1], (body, order_of)
    told = [levels[n] for n in order_of]
    # be alert (the ring), danger (the zone), be alert (the ring again), it has ended: each
    # once, in that order, never "be alert" while in the zone nor "ended" while in the ring
    assert re.fullmatch(r"(prealert )?alert (prealert )?clear", " ".join(told)), told
    assert len(received) > len(order_of)  # she never answered: re-sent
    assert escalations, "a warning nobody confirmed goes to the centre"
    assert all(levels.get(e["notification_id"]) != "clear" for e in escalations), escalations


def drain(device: Device) -> list[tuple[str, dict]]:
    out = []
    while not device.received.empty():
        topic, body = device.received.get()
        out.append((topic, body if isinstance(body, dict) else json.loads(body)))
    return out
