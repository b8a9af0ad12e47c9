"""What workers send each other about an alert: its JSON and its times as they are."""

from __future__ import annotations

import json

from emon.alerts.model import AlertSpan, ShownAlert
from emon.service.peers import _shown_from, _shown_json
from emon.timeutil import format_ts

T = 1_764_331_200_123


def test_an_alert_goes_between_workers_with_its_times_unparsed():
    body = {"alert_id": "A-1", "order_id": "OM-1", "type": "panic", "started_at": "x"}
    shown = ShownAlert(body, AlertSpan(T, T + 5, None))
    assert _shown_from(json.loads(json.dumps(_shown_json(shown)))) == shown


def test_a_worker_of_the_version_before_is_understood():
    body = {"alert_id": "A-1", "order_id": "OM-1", "type": "panic",
            "started_at": format_ts(T), "detected_at": format_ts(T + 5), "ended_at": None}  # fmt: skip
    announced = _shown_from({"from": "old-worker", "alert": body})
    replied = _shown_from(body)  # its answer to an action: the alert alone
    assert announced.span == replied.span == AlertSpan(T, T + 5, None)
