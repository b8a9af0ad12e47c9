"""Service settings from flags and the environment (declared in emon/config.py)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from emon.config import Config, load_file


@dataclass
class Settings:
    #: None: start an embedded broker
    mqtt_url: str | None = None
    #: NATS servers to take device messages from (JetStream); empty: MQTT intake
    nats_urls: list[str] = field(default_factory=list)
    #: None: an embedded SQLite database in the working directory
    database_url: str | None = None
    #: PostgreSQL: hypertables where TimescaleDB is preloaded ("auto"), or not ("off")
    timescaledb: str = "auto"
    compress_after_days: float = 7.0
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
    #: with NATS: the partitions protection groups are spread over (the same on
    #: every worker of a cluster), and the copies NATS keeps of the stream
    partitions: int = 32
    nats_replicas: int = 1
    #: the MQTT client id was chosen (else a worker takes one per slot)
    mqtt_client_id_set: bool = False
    #: the JSON configuration file (its sections: emon/config.py)
    config_path: Path | None = None
    #: where every other setting comes from (an injectable environment)
    env: Config = field(default_factory=Config)

    @classmethod
    def from_args(
        cls,
        mqtt: str | None,
        database: str | None,
        http: str | None,
        config: str | None = None,
        broker_port: int | None = None,
        env: Config | None = None,
        nats: str | None = None,
    ) -> Settings:
        """Flags first, then the environment, then the defaults; a bad value
        is a ValueError naming the variable."""
        env = env or Config()
        config_path = Path(config) if config else env.get("EMON_CONFIG")
        nats_urls = [u.strip() for u in (nats or env.get("EMON_NATS_URL") or "").split(",")]
        nats_urls = [u for u in nats_urls if u]
        mqtt_url = mqtt or env.get("EMON_MQTT_URL")
        if nats_urls and not mqtt_url:
            # what emon sends goes out through the NATS server's MQTT listener
            mqtt_url = env.get("EMON_NATS_MQTT_URL") or ",".join(map(nats_mqtt_url, nats_urls))
        return cls(
            mqtt_url=mqtt_url,
            nats_urls=nats_urls,
            database_url=database or env.get("EMON_DATABASE_URL"),
            timescaledb=env.get("EMON_TIMESCALEDB"),
            compress_after_days=env.get("EMON_COMPRESS_AFTER_DAYS"),
            http=http or env.get("EMON_HTTP"),
            broker_port=broker_port or env.get("EMON_BROKER_PORT"),
            admin_token=env.raw("EMON_ADMIN_TOKEN") or "",
            mqtt_client_id=env.get("EMON_MQTT_CLIENT_ID"),
            mqtt_client_id_set=env.raw("EMON_MQTT_CLIENT_ID") is not None,
            partitions=env.get("EMON_PARTITIONS"),
            nats_replicas=env.get("EMON_NATS_REPLICAS"),
            queue_limit=env.get("EMON_QUEUE_LIMIT"),
            resend_after_s=env.get("EMON_RESEND_AFTER_S"),
            config_path=config_path,
            env=env,
        )

    def service_config(self) -> dict[str, Any]:
        return load_file(self.config_path)

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


def nats_mqtt_url(nats_url: str) -> str:
    """A NATS server's MQTT listener, by default: the same host, port 1883."""
    parsed = urlparse(nats_url)
    if parsed.scheme not in ("nats", "tls") or not parsed.hostname:
        raise ValueError(f"--nats {nats_url!r}: expected nats://HOST:PORT")
    return f"mqtt://{parsed.hostname}:1883"


@dataclass(frozen=True)
class MqttEndpoint:
    host: str
    port: int
    username: str | None
    password: str | None
    #: mqtts:// (TLS); the CA, and a client certificate for mutual TLS, from
    #: EMON_MQTT_CA, EMON_MQTT_CERT and EMON_MQTT_KEY
    tls: bool

    def client_options(self, env: Config | None = None) -> dict[str, Any]:
        """Keyword arguments for aiomqtt.Client."""
        import aiomqtt

        env = env or Config()
        options: dict[str, Any] = {"username": self.username, "password": self.password}
        if self.tls:
            options["tls_params"] = aiomqtt.TLSParameters(
                ca_certs=env.raw("EMON_MQTT_CA"),
                certfile=env.raw("EMON_MQTT_CERT"),
                keyfile=env.raw("EMON_MQTT_KEY"),
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
