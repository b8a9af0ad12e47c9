"""Prometheus metrics of the service, in a registry of its own."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.messages = Counter("emon_messages", "MQTT messages received", registry=r)
        self.fixes = Counter("emon_fixes", "fixes accepted", registry=r)
        self.rejections = Counter(
            "emon_rejections", "messages rejected, by reason", ["reason"], registry=r
        )
        self.alerts = Counter("emon_alerts", "alerts raised, by type", ["type"], registry=r)
        self.evaluation = Histogram(
            "emon_batch_seconds", "engine time per micro-batch", registry=r,
            buckets=(0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
        )  # fmt: skip
        self.ack_latency = Histogram(
            "emon_notification_ack_seconds", "notification to device acknowledgement",
            registry=r, buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120),
        )  # fmt: skip
        self.inbox = Gauge("emon_ingest_queue_depth", "messages waiting for the engine", registry=r)
        self.mqtt_queue = Gauge(
            "emon_mqtt_queue_depth", "messages received by the MQTT client, not yet taken",
            registry=r,
        )  # fmt: skip
        self.store_queue = Gauge("emon_store_queue_depth", "rows waiting for storage", registry=r)
        self.behind = Gauge(
            "emon_intake_behind_seconds",
            "how old the messages being judged are while a backlog is read (0: live)", registry=r,
        )  # fmt: skip
        self.stream_backlog = Gauge(
            "emon_stream_backlog", "messages in the NATS stream still to be read", registry=r
        )
        self.store_healthy = Gauge(
            "emon_store_healthy", "1 when the database takes writes", registry=r
        )
        self.engine_errors = Counter(
            "emon_engine_errors", "messages the engine failed on (stored raw)", registry=r
        )
        self.overload = Counter(
            "emon_ingest_overload", "messages refused because the engine queue was full", registry=r
        )
        # how loud the system is, over the last week (emon/review/alert_load.py)
        self.load_per_device_day = Gauge(
            "emon_alerts_per_device_day", "alerts per device-day over the last 7 days, by kind",
            ["type"], registry=r,
        )  # fmt: skip
        self.load_classified = Gauge(
            "emon_alerts_classified_share",
            "share of the last 7 days' resolved alerts, by classification",
            ["classification"], registry=r,
        )  # fmt: skip
        self.load_latency = Gauge(
            "emon_alert_response_seconds",
            "seconds from detection to acknowledgement or police dispatch, last 7 days",
            ["step", "quantile"], registry=r,
        )  # fmt: skip
        self.load_closes = Gauge(
            "emon_alerts_closed_carelessly",
            "alerts of the last 7 days closed in bulk, without a note, or never handled",
            ["how"], registry=r,
        )  # fmt: skip

    def alert_load(self, figures: dict[str, Any]) -> None:
        """The gauges set from one period's figures (``alert_load()['period']``)."""
        self.load_per_device_day.clear()
        for kind, value in figures["per_device_day_by_kind"].items():
            self.load_per_device_day.labels(kind).set(value or 0.0)
        for name, share in figures["classified_share"].items():
            self.load_classified.labels(name).set(float("nan") if share is None else share)
        for step, key in (("ack", "ack_s"), ("dispatch", "dispatch_s")):
            for q in ("p50", "p90"):
                value = figures[key][q]
                self.load_latency.labels(step, q).set(float("nan") if value is None else value)
        for how in ("closed_in_bulk", "closed_without_note", "ended_unhandled"):
            self.load_closes.labels(how).set(figures[how])
