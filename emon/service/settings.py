"""Service settings from flags and the environment, with embedded defaults."""

from __future__ import annotations

import json
import math
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
    #: the embedded broker's port; None: 1883, or the next free one up to 1899
    broker_port: int | None = None
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
        cls,
        mqtt: str | None,
        database: str | None,
        http: str | None,
        config: str | None = None,
        broker_port: int | None = None,
    ) -> Settings:
        settings = cls(
            mqtt_url=mqtt or os.environ.get("EMON_MQTT_URL") or None,
            database_url=database or os.environ.get("EMON_DATABASE_URL") or None,
            http=http or os.environ.get("EMON_HTTP") or "127.0.0.1:8080",
            broker_port=broker_port or port_from_env("EMON_BROKER_PORT"),
        )
        settings.admin_token = os.environ.get("EMON_ADMIN_TOKEN") or ""
        settings.mqtt_client_id = os.environ.get("EMON_MQTT_CLIENT_ID") or settings.mqtt_client_id
        settings.queue_limit = int(os.environ.get("EMON_QUEUE_LIMIT") or settings.queue_limit)
        settings.resend_after_s = seconds_from_env("EMON_RESEND_AFTER_S", settings.resend_after_s)
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

    @property
    def admin_token_file(self) -> Path:
        return self.workdir / ADMIN_TOKEN_FILE

    def ensure_admin_token(self) -> str:
        """Without EMON_ADMIN_TOKEN the API is never open: the token kept in
        ``emon-admin-token`` (mode 0600) is used, or a random one is made and
        kept there, so that consoles and automation survive a restart.
        Returns how the token came: "environment", "kept" or "made"."""
        if self.admin_token:
            return "environment"
        path = self.admin_token_file
        kept = path.read_text().strip() if path.is_file() else ""
        if kept:
            self.admin_token = kept
            path.chmod(0o600)
            return "kept"
        self.admin_token = secrets.token_urlsafe(24)
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(self.admin_token + "\n")
        return "made"

    @property
    def http_host_port(self) -> tuple[str, int]:
        host, _, port = self.http.rpartition(":")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"--http {self.http!r}: expected HOST:PORT with a port of 1-65535")
        return host.strip("[]") or "127.0.0.1", int(port)


ADMIN_TOKEN_FILE = "emon-admin-token"


def port_from_env(name: str) -> int | None:
    text = os.environ.get(name)
    if not text:
        return None
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{name}={text!r} is not a port number (1-65535)")
    return int(text)


def seconds_from_env(name: str, default: float) -> float:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < 86_400:
        raise ValueError(f"{name}={text!r}: expected seconds, more than 0 and under a day")
    return value


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
