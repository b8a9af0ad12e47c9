"""Device clocks that are wrong: a little fast, far fast, slow.

A little fast (within the allowed skew) changes nothing; far fast is rejected
and counted, and because such a device then says nothing valid, it is reported
as silent rather than forgotten; slow clocks make late alerts, still alerts.
"""

from __future__ import annotations

import re
import time

from tests.integration.serve import Device, Serve, approach, order_for


def rejections(serve: Serve, reason: str) -> float:
    text = serve.http.get("/metrics").text
    found = re.search(rf'^emon_rejections_total{{reason="{reason}"}} ([0-9.e+]+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def violation(serve: Serve, suffix: str) -> dict | None:
    for alert in serve.http.get("/api/v1/alerts").json():
        if alert["order_id"] == f"OM-{suffix}" and alert["type"] == "zone_violation":
            return alert
    return None


def wait_for(predicate, timeout: float = 15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


def test_skewed_device_clocks(tmp_path):
    serve = Serve(tmp_path).start()
    try:
        for suffix in ("FAST", "WILD", "SLOW"):
            order = order_for(suffix)
            order["max_silence_s"] = 5
            assert serve.http.put(f"/api/v1/orders/OM-{suffix}", json=order).status_code == 200
        device = Device(serve.mqtt_port)
        approach(device, "FAST", [3000, 1400, 900, 600, 500], lead_ms=90_000)  # 90 s fast
        approach(device, "WILD", [3000, 1400, 900, 600, 500], lead_ms=15 * 60_000)  # 15 min fast
        approach(device, "SLOW", [3000, 1400, 900, 600, 500], lead_ms=-10 * 60_000)  # 10 min slow
        device.close()

        fast = wait_for(lambda: violation(serve, "FAST"))
        assert fast is not None and not fast["late"]
        slow = wait_for(lambda: violation(serve, "SLOW"))
        assert slow is not None and slow["late"]  # raised, and marked as found late
        assert wait_for(lambda: rejections(serve, "future_timestamp") >= 5)
        assert violation(serve, "WILD") is None  # nothing believed from a clock 15 min ahead...
        silent = wait_for(
            lambda: [
                a
                for a in serve.http.get("/api/v1/alerts").json()
                if a["order_id"] == "OM-WILD" and a["type"] == "signal_lost"
            ]
        )
        assert silent  # ...but the device is reported, not forgotten  # fmt: skip
    finally:
        serve.stop()
