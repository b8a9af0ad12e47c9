"""The alert-load figures: how loud the system is (issue 21)."""

from __future__ import annotations

import pytest

from emon.alerts.model import AlertSpan, ShownAlert
from emon.review.alert_load import BULK_MIN, DAY_MS, Watched, alert_load
from emon.timeutil import format_ts, parse_ts
from tests.unit.test_contacts import api, headers  # noqa: F401 (the fixture)

T0 = parse_ts("2026-11-02T00:00:00Z")
FLEET = [Watched("OM-a", "high", 2, T0 - DAY_MS, T0 + 10 * DAY_MS),
         Watched("OM-b", "low", 2, T0 - DAY_MS, T0 + 10 * DAY_MS)]  # fmt: skip


def alert(n: int, kind: str, order: str, at: int, *actions: tuple[str, int, str], **body):
    fields = {"alert_id": f"A-{n}", "type": kind, "order_id": order, "state": "open",
              "started_at": format_ts(at), "detected_at": format_ts(at), "ended_at": None,
              "actions": [{"action": a, "at": format_ts(t), "actor": who, "note": "seen"}
                          for a, t, who in actions], **body}  # fmt: skip
    return ShownAlert(fields, AlertSpan.from_json(fields))


def test_alerts_per_device_day_by_kind_and_by_risk():
    alerts = [alert(1, "battery_low", "OM-a", T0 + 1000), alert(2, "battery_low", "OM-a", T0 + 2000),
              alert(3, "zone_violation", "OM-b", T0 + 3000)]  # fmt: skip
    day = alert_load(alerts, FLEET, T0, T0 + DAY_MS)["period"]
    assert day["device_days"] == 4.0 and day["per_device_day"] == 0.75
    assert day["per_device_day_by_kind"] == {"battery_low": 0.5, "zone_violation": 0.25}
    assert day["per_device_day_by_risk"] == {"high": 1.0, "low": 0.5}  # 2 device-days each


def test_classification_shares_and_response_times():
    alerts = [
        alert(1, "zone_violation", "OM-a", T0, ("ack", T0 + 30_000, "op"),
              ("resolve", T0 + 90_000, "op"), state="resolved", classification="technical"),
        alert(2, "zone_violation", "OM-a", T0, ("ack", T0 + 60_000, "op"),
              ("confirm", T0 + 120_000, "police"), ("resolve", T0 + 600_000, "op"),
              state="resolved", classification="true_violation"),
        alert(3, "battery_low", "OM-b", T0, state="ended"),
    ]  # fmt: skip
    day = alert_load(alerts, FLEET, T0, T0 + DAY_MS)["period"]
    assert day["classified_share"]["technical"] == 0.5 and day["resolved"] == 2
    assert day["ack_s"] == {"p50": 45.0, "p90": 57.0, "n": 2}
    assert day["dispatch_s"] == {"p50": 120.0, "p90": 120.0, "n": 1}
    assert day["ended_unhandled"] == 1 and day["closed_without_note"] == 0


@pytest.mark.parametrize("spacing_s, bulk", [(5, BULK_MIN), (30, 0)])
def test_closes_in_quick_succession_by_one_operator_count_as_bulk(spacing_s, bulk):
    alerts = [alert(k, "battery_low", "OM-a", T0, ("resolve", T0 + k * spacing_s * 1000, "op"),
                    state="resolved") for k in range(BULK_MIN)]  # fmt: skip
    assert alert_load(alerts, FLEET, T0, T0 + DAY_MS)["period"]["closed_in_bulk"] == bulk


def test_the_days_of_a_week_add_up_to_it():
    alerts = [alert(k, "battery_low", "OM-a", T0 + k * DAY_MS // 2) for k in range(14)]
    load = alert_load(alerts, FLEET, T0, T0 + 7 * DAY_MS)
    assert [b["alerts"] for b in load["buckets"]] == [2] * 7
    assert load["period"]["alerts"] == 14 and load["period"]["device_days"] == 28.0


def test_the_api_and_metrics_give_the_figures(api):  # noqa: F811
    client, _, _ = api
    week = client.get("/api/v1/review/alert-load", headers=headers("reclassering"),
                      params={"from": format_ts(T0), "by": "week"})  # fmt: skip
    assert week.status_code == 200 and week.json()["period"]["device_days"] > 0
    bad = client.get("/api/v1/review/alert-load", headers=headers("reclassering"),
                     params={"from": format_ts(T0), "by": "month"})  # fmt: skip
    assert bad.status_code == 422
    long = client.get("/api/v1/review/alert-load", headers=headers("operator"),
                      params={"from": "2020-01-01T00:00:00Z"})  # fmt: skip
    assert long.status_code == 422 and "from/to" in long.text
    assert client.get("/api/v1/review/alert-load", params={"from": format_ts(T0)},
                      headers=headers("police")).status_code == 403  # fmt: skip
    metrics = client.get("/metrics").text  # the last 7 days (the fixture's alerts lie ahead)
    assert "# TYPE emon_alerts_per_device_day gauge" in metrics
    assert 'emon_alert_response_seconds{quantile="p50",step="ack"} NaN' in metrics
    assert 'emon_alerts_closed_carelessly{how="ended_unhandled"} 0.0' in metrics
