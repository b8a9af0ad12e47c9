"""Decode and check device messages against the contract's topics and payloads.

Each check that fails names a reason from ``REASONS``; nothing here raises to
the caller. Payloads are decoded into typed msgspec structs (the fastest
validated JSON decode measured for this workload).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from math import inf as INF
from math import isfinite
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from emon import topics
from emon.ingest import owntracks
from emon.ingest.rejections import RejectionLog
from emon.timeutil import Millis, TimestampError, parse_ts

MAX_MESSAGE_BYTES = 16 * 1024
MAX_BATCH_BYTES = 4 * 1024 * 1024
#: a store-and-forward batch may be weeks old (a device in a drawer); a fix
#: dated further back is a broken clock (1970, year 1), not late data
MAX_FIX_AGE_MS = 30 * 86_400_000
EVENT_TYPES = frozenset({"panic", "tamper", "battery_low", "charging", "shielding", "power_off",
                         "unpaired", "app_degraded"})  # fmt: skip
#: the longest reason an event may give (app_degraded: what the phone switched off)
MAX_REASON_CHARS = 200

REASONS = (
    "oversized",
    "invalid_json",
    "missing_field",
    "invalid_field",
    "invalid_timestamp",
    "future_timestamp",
    "coordinates_out_of_range",
    "non_finite",
    "negative_accuracy",
    "device_mismatch",
    "unknown_device",
    "unknown_topic",
    "unknown_event_type",
    "duplicate",
    "encrypted_no_key",
    "decryption_failed",
    "stale_timestamp",
    "battery_out_of_range",
)


#: a message counter that fits the engine's 64-bit columns
Seq = Annotated[int, msgspec.Meta(ge=-(2**62), le=2**62)]


class _FixPayload(msgspec.Struct):
    seq: Seq
    ts: str
    lat: float
    lon: float
    acc: float | None = None
    batt: float | None = None
    device_id: str | None = None


class _EventPayload(msgspec.Struct):
    seq: Seq
    ts: str
    type: str
    device_id: str | None = None
    reason: str | None = None


class _BeaconPayload(msgspec.Struct):
    seq: Seq
    ts: str
    present: bool
    device_id: str


class _OwnTracksPayload(msgspec.Struct):
    lat: float
    lon: float
    #: epoch seconds; the apps send an integer, some clients a fraction
    tst: Annotated[float, msgspec.Meta(ge=0, le=2**40)]
    acc: float | None = None
    batt: float | None = None


T = TypeVar("T")

_fix_decoder = msgspec.json.Decoder(_FixPayload)
_fixes_decoder = msgspec.json.Decoder(list[msgspec.Raw])
_event_decoder = msgspec.json.Decoder(_EventPayload)
_owntracks_decoder = msgspec.json.Decoder(_OwnTracksPayload)
_beacon_decoder = msgspec.json.Decoder(_BeaconPayload)
_object_decoder = msgspec.json.Decoder(dict[str, Any])


@dataclass(slots=True)
class Fix:
    device_id: str
    seq: int
    ts: Millis
    lat: float
    lon: float
    acc: float | None
    batt: float | None
    buffered: bool  # came in a store-and-forward batch


@dataclass(slots=True)
class Event:
    device_id: str
    seq: int
    ts: Millis
    type: str
    #: why (app_degraded: location permission revoked, notifications off, ...)
    reason: str | None = None


@dataclass(slots=True)
class Beacon:
    """An RF home unit's report: whether it hears the ankle monitor ``device_id``."""

    beacon_id: str
    seq: int
    ts: Millis
    present: bool
    device_id: str


@dataclass(slots=True)
class Ack:
    device_id: str
    notification_id: str
    #: a command's confirmation (then no notification_id)
    command_id: str | None = None


#: what one message is decoded into
Item = Fix | Event | Ack | Beacon


Kind = Literal["fix", "fixes", "event", "ack", "beacon", "owntracks"]


def storable(topic: str, payload: bytes) -> bytes:
    """What is kept of a message: all of it, or for an oversized one (which
    is rejected) only as much as its topic allows, so that a flood of huge
    messages cannot fill the database."""
    limit = MAX_BATCH_BYTES if topic.startswith(topics.FIXES) else MAX_MESSAGE_BYTES
    return payload if len(payload) <= limit else payload[:limit]


def route(topic: str) -> tuple[Kind, str] | None:
    """Topic to (kind, device_id), or None for a topic emon does not take."""
    parts = topic.split("/")
    if len(parts) == 4 and parts[0] == "emon" and parts[1] == "v1" and parts[3]:
        kind = parts[2]
        if kind in ("fix", "fixes", "event", "ack", "beacon"):
            return kind, parts[3]  # type: ignore[return-value]
    if len(parts) == 3 and parts[0] == "owntracks" and parts[1] and parts[2]:
        return "owntracks", topic
    return None


class Decoder:
    """Turns (topic, payload) into Fix/Event/Ack objects, rejecting with reasons."""

    def __init__(
        self,
        rejections: RejectionLog,
        future_skew_ms: Millis = 120_000,
        owntracks_keys: Mapping[str, bytes] | None = None,
    ) -> None:
        self.rejections = rejections
        self.future_skew_ms = future_skew_ms
        #: device id -> secret-box key, for OwnTracks phones that encrypt
        self.owntracks_keys: Mapping[str, bytes] = owntracks_keys or {}

    def decode(self, recv: Millis, topic: str, payload: bytes) -> list[Item]:
        routed = route(topic)
        if routed is None:
            self._reject(recv, topic, "unknown_topic", "not an emon or OwnTracks topic", payload)
            return []
        kind, device_id = routed
        limit = MAX_BATCH_BYTES if kind == "fixes" else MAX_MESSAGE_BYTES
        if len(payload) > limit:
            self._reject(recv, topic, "oversized", f"{len(payload)} bytes > {limit}", payload)
            return []
        if kind == "fix":
            fix = self._fix(recv, topic, device_id, payload, buffered=False)
            return [fix] if fix else []
        if kind == "fixes":
            return self._fixes(recv, topic, device_id, payload)
        if kind == "event":
            event = self._event(recv, topic, device_id, payload)
            return [event] if event else []
        if kind == "ack":
            return self._ack(recv, topic, device_id, payload)
        if kind == "beacon":
            beacon = self._beacon(recv, topic, device_id, payload)
            return [beacon] if beacon else []
        return self._owntracks(recv, topic, device_id, payload)

    def _beacon(self, recv: Millis, topic: str, beacon_id: str, payload: bytes) -> Beacon | None:
        raw = self._typed(_beacon_decoder, recv, topic, payload)
        if raw is None:
            return None
        ts = self._timestamp(recv, topic, raw.ts, payload)
        if ts is None:
            return None
        return Beacon(beacon_id, raw.seq, ts, raw.present, raw.device_id)

    def _typed(
        self, decoder: msgspec.json.Decoder[T], recv: Millis, topic: str, payload: bytes
    ) -> T | None:
        """Decode against a schema; a failure is a counted rejection, not an error."""
        try:
            return decoder.decode(payload)
        except msgspec.ValidationError as exc:
            self._reject_schema(recv, topic, exc, payload)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # bad UTF-8 in a string
            self._reject(recv, topic, "invalid_json", str(exc), payload)
        return None

    def _fix(
        self, recv: Millis, topic: str, device_id: str, payload: bytes, buffered: bool
    ) -> Fix | None:
        raw = self._typed(_fix_decoder, recv, topic, payload)
        if raw is None:
            return None
        if raw.device_id is not None and raw.device_id != device_id:
            self._reject(recv, topic, "device_mismatch", raw.device_id, payload)
            return None
        ts = self._timestamp(recv, topic, raw.ts, payload)
        if ts is None:
            return None
        if not self._position_ok(recv, topic, raw.lat, raw.lon, raw.acc, payload):
            return None
        if not self._battery_ok(recv, topic, raw.batt, payload):
            return None
        return Fix(device_id, raw.seq, ts, raw.lat, raw.lon, raw.acc, raw.batt, buffered)

    def _fixes(self, recv: Millis, topic: str, device_id: str, payload: bytes) -> list[Item]:
        items = self._typed(_fixes_decoder, recv, topic, payload)
        out: list[Item] = []
        for item in items or []:
            fix = self._fix(recv, topic, device_id, bytes(item), buffered=True)
            if fix is not None:
                out.append(fix)
        return out

    def _event(self, recv: Millis, topic: str, device_id: str, payload: bytes) -> Event | None:
        raw = self._typed(_event_decoder, recv, topic, payload)
        if raw is None:
            return None
        if raw.device_id is not None and raw.device_id != device_id:
            self._reject(recv, topic, "device_mismatch", raw.device_id, payload)
            return None
        if raw.type not in EVENT_TYPES:
            self._reject(recv, topic, "unknown_event_type", raw.type, payload)
            return None
        ts = self._timestamp(recv, topic, raw.ts, payload)
        if ts is None:
            return None
        reason = None if raw.reason is None else raw.reason[:MAX_REASON_CHARS]
        return Event(device_id, raw.seq, ts, raw.type, reason)

    def _ack(self, recv: Millis, topic: str, device_id: str, payload: bytes) -> list[Item]:
        data = self._typed(_object_decoder, recv, topic, payload)
        if data is None:
            return []
        notification_id = data.get("notification_id")
        command_id = data.get("command_id")
        if isinstance(command_id, str) and notification_id is None:
            return [Ack(device_id, "", command_id)]  # a command confirmed
        if not isinstance(notification_id, str):
            self._reject(recv, topic, "missing_field", "notification_id", payload)
            return []
        return [Ack(device_id, notification_id)]

    def _owntracks(self, recv: Millis, topic: str, device_id: str, payload: bytes) -> list[Item]:
        data = self._typed(_object_decoder, recv, topic, payload)
        if data is not None and data.get("_type") == "encrypted":
            data = self._decrypted(recv, topic, device_id, data, payload)
        if data is None:
            return []
        if data.get("_type") not in (None, "location"):
            return []  # waypoints, transitions, cards, lwt: not positions, not errors
        try:
            raw = msgspec.convert(data, _OwnTracksPayload)
        except msgspec.ValidationError as exc:
            self._reject_schema(recv, topic, exc, payload)
            return []
        ts = round(raw.tst * 1000)
        if ts > recv + self.future_skew_ms:
            self._reject(recv, topic, "future_timestamp", str(raw.tst), payload)
            return []
        if ts < recv - MAX_FIX_AGE_MS:
            self._reject(recv, topic, "stale_timestamp", str(raw.tst), payload)
            return []
        if not self._position_ok(recv, topic, raw.lat, raw.lon, raw.acc, payload):
            return []
        if not self._battery_ok(recv, topic, raw.batt, payload):
            return []
        seq = int(raw.tst)  # the contract: an OwnTracks seq is derived from tst
        return [Fix(device_id, seq, ts, raw.lat, raw.lon, raw.acc, raw.batt, False)]

    def _decrypted(
        self, recv: Millis, topic: str, device_id: str, data: dict[str, Any], payload: bytes
    ) -> dict[str, Any] | None:
        """An encrypted OwnTracks payload opened with its device's key (the
        inner payload may not be encrypted again)."""
        key = self.owntracks_keys.get(device_id)
        if key is None:
            self._reject(recv, topic, "encrypted_no_key", "no key configured", payload)
            return None
        try:
            inner = owntracks.decrypt(key, data.get("data"))
        except owntracks.DecryptionError as exc:
            self._reject(recv, topic, "decryption_failed", str(exc), payload)
            return None
        opened = self._typed(_object_decoder, recv, topic, inner)
        if opened is not None and opened.get("_type") == "encrypted":
            self._reject(recv, topic, "invalid_field", "encrypted twice", payload)
            return None
        return opened

    def _timestamp(self, recv: Millis, topic: str, text: str, payload: bytes) -> Millis | None:
        try:
            ts = parse_ts(text)
        except TimestampError as exc:
            self._reject(recv, topic, "invalid_timestamp", str(exc), payload)
            return None
        if ts > recv + self.future_skew_ms:
            self._reject(recv, topic, "future_timestamp", text, payload)
            return None
        if ts < recv - MAX_FIX_AGE_MS:
            self._reject(recv, topic, "stale_timestamp", text, payload)
            return None
        return ts

    def _battery_ok(self, recv: Millis, topic: str, batt: float | None, payload: bytes) -> bool:
        if batt is None or 0.0 <= batt <= 100.0:  # a percentage; NaN fails this
            return True
        self._reject(recv, topic, "battery_out_of_range", f"batt={batt} (0-100)", payload)
        return False

    def _position_ok(
        self, recv: Millis, topic: str, lat: float, lon: float, acc: float | None, payload: bytes
    ) -> bool:
        if -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0 and (acc is None or 0.0 <= acc < INF):
            return True  # NaN fails every comparison, so it lands below
        if not (isfinite(lat) and isfinite(lon) and (acc is None or isfinite(acc))):
            self._reject(recv, topic, "non_finite", f"lat={lat} lon={lon} acc={acc}", payload)
        elif acc is not None and acc < 0:
            self._reject(recv, topic, "negative_accuracy", str(acc), payload)
        else:
            self._reject(recv, topic, "coordinates_out_of_range", f"lat={lat} lon={lon}", payload)
        return False

    def _reject_schema(
        self, recv: Millis, topic: str, exc: msgspec.ValidationError, payload: bytes
    ) -> None:
        text = str(exc)
        reason = "missing_field" if "missing required field" in text else "invalid_field"
        self._reject(recv, topic, reason, text, payload)

    def _reject(self, recv: Millis, topic: str, reason: str, detail: str, payload: bytes) -> None:
        self.rejections.reject(recv, topic, reason, detail, payload)
