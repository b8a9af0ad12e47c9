"""Service settings from flags and the environment, with embedded defaults."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse


@dataclass
class Settings:
    #: None: start an embedded broker
    mqtt_url: str | None = None
    #: None: an embedded SQLite database in the working directory
    database_url: str | None = None
    http: str = "127.0.0.1:8080"
    admin_token: str = ""
    workdir: Path = field(default_factory=Path.cwd)
    mqtt_client_id: str = "emon-engine"
    #: how far back a restart replays stored messages to rebuild live state
    recovery_window_s: float = 6 * 3600
    batch_max: int = 2000
    #: messages waiting for the engine before MQTT intake pauses (back-pressure)
    queue_limit: int = 100_000
    batch_wait_s: float = 0.02
    resend_after_s: float = 30.0
    max_attempts: int = 3
    #: JSON file with "routing" overrides and "webhooks" (see the README)
    config_path: Path | None = None

    @classmethod
    def from_args(
        cls, mqtt: str | None, database: str | None, http: str | None, config: str | None = None
    ) -> Settings:
        settings = cls(
            mqtt_url=mqtt or os.environ.get("EMON_MQTT_URL") or None,
            database_url=database or os.environ.get("EMON_DATABASE_URL") or None,
            http=http or os.environ.get("EMON_HTTP") or "127.0.0.1:8080",
        )
        settings.admin_token = os.environ.get("EMON_ADMIN_TOKEN") or ""
        settings.mqtt_client_id = os.environ.get("EMON_MQTT_CLIENT_ID") or settings.mqtt_client_id
        settings.queue_limit = int(os.environ.get("EMON_QUEUE_LIMIT") or settings.queue_limit)
        config_path = config or os.environ.get("EMON_CONFIG")
        settings.config_path = Path(config_path) if config_path else None
        return settings

    def service_config(self) -> dict[str, Any]:
        if self.config_path is None:
            return {}
        data = json.loads(self.config_path.read_text())
        if not isinstance(data, dict):
            raise ValueError(f"{self.config_path}: expected a JSON object")
        return data

    def ensure_admin_token(self) -> bool:
        """Without EMON_ADMIN_TOKEN a random token is made (never an open API);
        returns True when it was made here."""
        if self.admin_token:
            return False
        self.admin_token = secrets.token_urlsafe(24)
        path = self.workdir / "emon-admin-token"
        path.write_text(self.admin_token + "\n")
        path.chmod(0o600)
        return True

    @property
    def http_host_port(self) -> tuple[str, int]:
        host, _, port = self.http.rpartition(":")
        return host or "127.0.0.1", int(port)


@dataclass(frozen=True)
class MqttEndpoint:
    host: str
    port: int
    username: str | None
    password: str | None
    #: mqtts:// (TLS); the CA, and a client certificate for mutual TLS, from
    #: EMON_MQTT_CA, EMON_MQTT_CERT and EMON_MQTT_KEY
    tls: bool

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for aiomqtt.Client."""
        import aiomqtt

        options: dict[str, Any] = {"username": self.username, "password": self.password}
        if self.tls:
            options["tls_params"] = aiomqtt.TLSParameters(
                ca_certs=os.environ.get("EMON_MQTT_CA") or None,
                certfile=os.environ.get("EMON_MQTT_CERT") or None,
                keyfile=os.environ.get("EMON_MQTT_KEY") or None,
            )
        return options


def mqtt_endpoint(url: str) -> MqttEndpoint:
    parsed = urlparse(url)
    if parsed.scheme not in ("mqtt", "tcp", "", "mqtts", "ssl"):
        raise ValueError(
            f"unsupported MQTT URL scheme {parsed.scheme!r} (mqtt://host:port or mqtts://host:port)"
        )
    tls = parsed.scheme in ("mqtts", "ssl")
    return MqttEndpoint(
        parsed.hostname or "127.0.0.1",
        parsed.port or (8883 if tls else 1883),
        parsed.username,
        parsed.password,
        tls,
    )
