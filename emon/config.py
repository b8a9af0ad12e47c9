"""Every setting emon reads, declared once: its name, type, default and meaning.

Environment variables are read only through ``Config`` (an injectable
environment, so tests and embedders pass their own), and the sections of the
JSON configuration file are listed in ``SECTIONS``. The README's
configuration table is checked against this module by a test.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _text(value: str) -> str:
    return value


def _port(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ValueError("not a port number (1-65535)")
    return int(value)


def _count(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise ValueError("not a whole number of 1 or more")
    return int(value)


def _positive(below: float, expected: str) -> Callable[[str], float]:
    """A parser of a number more than 0 and under ``below`` (NaN and infinity refused)."""

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not 0 < number < below:
            raise ValueError(expected)
        return number

    return parse


_seconds = _positive(86_400, "expected seconds, more than 0 and under a day")
_days = _positive(36_500, "expected days, more than 0 and under a century")


def _auto_or_off(value: str) -> str:
    if value not in ("auto", "off"):
        raise ValueError("expected auto or off")
    return value


def _path(value: str) -> Path:
    return Path(value)


@dataclass(frozen=True)
class Key:
    name: str
    #: how the README names its type
    kind: str
    #: the value when unset (None: nothing, the documented behaviour applies)
    default: str | None
    doc: str
    parse: Callable[[str], Any] = _text


KEYS: tuple[Key, ...] = (
    Key("EMON_MQTT_URL", "URL", None, "broker URL (`mqtt://` or `mqtts://`, credentials in it); unset: the embedded broker"),
    Key("EMON_NATS_URL", "URLs", None, "`nats://host:port[,nats://...]`: take device messages from NATS JetStream (a worker)"),
    Key("EMON_NATS_MQTT_URL", "URLs", None, "with NATS: its MQTT listeners (comma-separated, tried in turn), where emon sends at QoS 1; unset: every NATS host, port 1883"),
    Key("EMON_PARTITIONS", "count", "32", "with NATS: partitions the protection groups are spread over; the same on every worker", _count),
    Key("EMON_NATS_REPLICAS", "count", "1", "with NATS: copies of the stream and buckets (3 on a three-node cluster)", _count),
    Key("EMON_DATABASE_URL", "URL", None, "`postgresql://...` or `sqlite:///path`; unset: `./emon.db`"),
    Key("EMON_TIMESCALEDB", "auto or off", "auto", "PostgreSQL: fixes and messages of a new database as TimescaleDB hypertables where the extension is preloaded; `off`: native monthly partitions", _auto_or_off),
    Key("EMON_COMPRESS_AFTER_DAYS", "days", "7", "TimescaleDB: compress chunks older than this", _days),
    Key("EMON_HTTP", "HOST:PORT", "127.0.0.1:8080", "where the API and the console listen"),
    Key("EMON_BROKER_PORT", "port", None, "the embedded broker's port; unset: 1883 or the next free one up to 1899", _port),
    Key("EMON_CONFIG", "path", None, "the JSON configuration file (sections below)", _path),
    Key("EMON_ADMIN_TOKEN", "secret", None, "the admin bearer token; unset: the one kept in `./emon-admin-token`"),
    Key("EMON_TOKENS", "path", None, "JSON token book: `{\"tokens\": [{\"token\", \"role\", \"name\"}]}`", _path),
    Key("EMON_MQTT_CLIENT_ID", "text", "emon-engine", "the engine's MQTT client id (its persistent session)"),
    Key("EMON_MQTT_CA", "path", None, "CA certificate for `mqtts://`"),
    Key("EMON_MQTT_CERT", "path", None, "client certificate for mutual TLS"),
    Key("EMON_MQTT_KEY", "path", None, "client key for mutual TLS"),
    Key("EMON_HTTP_CERT", "path", None, "serve HTTPS with this certificate"),
    Key("EMON_HTTP_KEY", "path", None, "the HTTPS certificate's key"),
    Key("EMON_OIDC_ISSUER", "URL", None, "accept OpenID Connect access tokens of this issuer"),
    Key("EMON_OIDC_JWKS", "URL or path", None, "the issuer's key set (JWKS)"),
    Key("EMON_OIDC_AUDIENCE", "text", "emon", "the audience OIDC tokens must name"),
    Key("EMON_OIDC_ROLE_CLAIM", "text", "emon_role", "the claim holding the role (else `roles`, `realm_access.roles`)"),
    Key("EMON_QUEUE_LIMIT", "count", "100000", "messages waiting for the engine before MQTT intake pauses", _count),
    Key("EMON_RESEND_AFTER_S", "seconds", "30", "re-send an unacknowledged victim notification after this long", _seconds),
    Key("EMON_ANCHOR_KEY", "secret", None, "HMAC key of the anchored chain heads; unset: `./emon-anchor-key`"),
    Key("EMON_TILES", "URL", "PDOK BRT", "the console's XYZ tile URL (empty: no tiles)"),
    Key("EMON_LANG", "nl or en", "nl", "the console's language before a user chooses"),
    Key("EMON_NODE_MODULES", "path", None, "where a checkout's `node_modules` is (the map library)", _path),
)  # fmt: skip
BY_NAME = {key.name: key for key in KEYS}

#: the sections of the JSON configuration file (``--config`` or EMON_CONFIG)
SECTIONS: dict[str, str] = {
    "routing": "who is told of each alert type by risk: `{\"zone_violation\": {\"low\": [\"monitoring\"], ...}}`",
    "first_told": "seconds a victim's device waits at a pre-alert while the offender is told to turn back first, by risk: `{\"zone_prealert\": {\"low\": 60, \"medium\": 60, \"high\": 0}}` (these are the defaults, for `contact_prealert` too)",
    "escalation": "seconds before an alert nobody took on goes to the supervisor (`emon/v1/alerts/supervisor`, webhooks, the console's unattended state): `{\"unacknowledged_s\": {\"critical\": 120, \"high\": 300}, \"police_confirm_s\": 300}` (the defaults; `null` turns a rung off)",
    "devices": "`{\"language\": \"nl\"}`: the language of device texts where the order and the person name none (default: by the order's time zone, Dutch for `Europe/Amsterdam`, else English)",
    "webhooks": "`[{\"url\", \"channels\", \"secret\"}]`: alerts as signed JSON POSTs",
    "retention": "days kept per kind: `messages_days`, `fixes_days`, `rejections_days`, `notifications_days`, `audit_days`",
    "reminders": "`{\"days\": [28, 14, 3], \"hour\": 9}`: when the reclassering and the OM are reminded",
    "console": "`{\"tiles\", \"attribution\", \"lang\"}` for the console's map and language",
    "owntracks": "`{\"keys\": {\"owntracks/USER/DEVICE\": \"secret\"}}`: phones that encrypt",
    "policy": "the engine's thresholds (`emon/engine/policy.py`), e.g. `{\"confirm_fixes\": 3}`",
}  # fmt: skip


class Config:
    """Settings from an environment (``os.environ`` unless one is given)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env: Mapping[str, str] = os.environ if env is None else env

    def get(self, name: str) -> Any:
        """The parsed value, the default when unset or empty; a bad value is a
        ValueError that names the variable."""
        key = BY_NAME[name]
        text = self.env.get(name) or None
        if text is None:
            return None if key.default is None or key.kind == "URL" else key.parse(key.default)
        try:
            return key.parse(text)
        except ValueError as exc:
            raise ValueError(f"{name}={text!r}: {exc}") from exc

    def raw(self, name: str) -> str | None:
        """The text as set (for values passed on as they are, such as secrets)."""
        assert name in BY_NAME, name
        return self.env.get(name) or None


def load_file(path: Path | None) -> dict[str, Any]:
    """The configuration file's sections (none without a file); an unknown
    section is an error, not silently ignored."""
    if path is None:
        return {}
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    unknown = set(data) - set(SECTIONS)
    if unknown:
        raise ValueError(f"{path}: unknown sections {sorted(unknown)}; known {sorted(SECTIONS)}")
    return data
