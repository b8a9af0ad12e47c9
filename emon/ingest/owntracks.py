"""The OwnTracks phone app as a victim device: its topics, its commands, its encryption.

A phone running OwnTracks publishes ``_type: location`` to
``owntracks/{user}/{device}`` (its emon device id) and, with remote commands
on, reads ``owntracks/{user}/{device}/cmd``. It has no way to acknowledge
what it is sent, so emon must not wait for a confirmation it will never get
(see ``emon/alerts/delivery.py``).

With a secret configured, the app encrypts every payload with libsodium's
secret box (XSalsa20-Poly1305): ``{"_type": "encrypted", "data":
base64(nonce + box)}``, the key being the secret's UTF-8 bytes padded with
zeros to 32 bytes. It decrypts what it receives with the same key, so emon
encrypts its commands to such a phone as well.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from nacl.exceptions import CryptoError
from nacl.secret import SecretBox

from emon import topics

PREFIX = topics.OWNTRACKS
#: libsodium's crypto_secretbox key size; the apps take a secret of up to 32 characters
KEY_BYTES = SecretBox.KEY_SIZE


class DecryptionError(ValueError):
    """The payload is not a secret box made with this device's key."""


def is_owntracks(device_id: str) -> bool:
    return device_id.startswith(PREFIX)


def command_topic(device_id: str) -> str:
    """Where the app reads remote commands (``owntracks/{user}/{device}/cmd``)."""
    return f"{device_id}/cmd"


def secret_key(secret: str) -> bytes:
    """The app's key: the secret's UTF-8 bytes, cut or zero-padded to 32."""
    raw = secret.encode("utf-8")[:KEY_BYTES]
    return raw + b"\0" * (KEY_BYTES - len(raw))


def keys_from_config(config: Mapping[str, Any]) -> dict[str, bytes]:
    """``{"keys": {"owntracks/jane/phone": "secret", ...}}`` to device keys."""
    keys = config.get("keys", {})
    if not isinstance(keys, dict):
        raise ValueError('owntracks.keys: expected {"owntracks/user/device": "secret"}')
    out: dict[str, bytes] = {}
    for device_id, secret in keys.items():
        if not is_owntracks(str(device_id)) or not isinstance(secret, str) or not secret:
            raise ValueError(f"owntracks.keys: {device_id!r} needs a non-empty secret string")
        out[str(device_id)] = secret_key(secret)
    return out


def decrypt(key: bytes, data: object) -> bytes:
    if not isinstance(data, str):
        raise DecryptionError("'data' is not a string")
    try:
        return SecretBox(key).decrypt(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError, CryptoError) as exc:
        raise DecryptionError(str(exc) or type(exc).__name__) from exc


def encrypt(key: bytes, payload: bytes) -> bytes:
    box = SecretBox(key).encrypt(payload)  # a fresh random nonce, prepended
    return json.dumps(
        {"_type": "encrypted", "data": base64.b64encode(bytes(box)).decode()}
    ).encode()


def warning_command(text: str) -> bytes:
    """A remote command the app shows its user: on iOS ``notification`` pops
    up and ``content`` fills the app's Featured Content tab (the latest
    warning stays readable there). Android does not act on ``action``
    commands (see the README): a victim on Android needs emon's own device
    or a phone call from the centre."""
    return json.dumps(
        {"_type": "cmd", "action": "action", "notification": text, "content": text}
    ).encode()
