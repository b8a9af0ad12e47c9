"""OwnTracks phones: their payloads in (plain, fractional, encrypted), warnings out."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nacl.secret import SecretBox

from emon.alerts.delivery import Delivery
from emon.ingest import owntracks
from emon.ingest.messages import Decoder, Fix
from emon.ingest.rejections import RejectionLog
from emon.orders import parse_order
from emon.timeutil import parse_ts
from simulators.scenarios import ROTTERDAM, base_order

RECV = parse_ts("2026-11-28T13:45:13Z")
PHONE = "owntracks/jane/phone"
KEY = owntracks.secret_key("s3cret")
#: what the Android app sends (its real field set)
APP = {
    "_type": "location", "BSSID": "b0:be:83:6e:1a:2c", "SSID": "thuis", "acc": 12, "alt": 4,
    "batt": 81, "bs": 1, "conn": "w", "created_at": RECV // 1000, "lat": 51.93, "lon": 4.49,
    "m": 1, "t": "u", "tid": "ph", "tst": RECV // 1000 - 3, "vac": 3, "vel": 0, "cog": 90,
    "topic": PHONE,
}  # fmt: skip


def sealed(payload: dict[str, object], key: bytes = KEY) -> dict[str, str]:
    box = bytes(SecretBox(key).encrypt(json.dumps(payload).encode()))
    return {"_type": "encrypted", "data": base64.b64encode(box).decode()}


def decode(payload: dict[str, object], keys: dict[str, bytes] | None = None):
    log = RejectionLog()
    items = Decoder(log, owntracks_keys=keys).decode(RECV, PHONE, json.dumps(payload).encode())
    return items, log


def test_the_apps_payload_is_a_fix_with_seq_from_tst():
    (fix,), log = decode(APP)
    assert isinstance(fix, Fix) and log.total == 0
    assert (fix.seq, fix.ts, fix.acc, fix.batt) == (APP["tst"], APP["tst"] * 1000, 12, 81)


def test_a_fractional_tst_is_accepted_to_the_millisecond():
    (fix,), log = decode(dict(APP, tst=RECV / 1000 - 2.25))
    assert log.total == 0 and fix.ts == RECV - 2250 and fix.seq == (RECV - 2250) // 1000


def test_an_encrypted_payload_is_opened_with_its_devices_key():
    (fix,), log = decode(sealed(APP), {PHONE: KEY})
    assert log.total == 0 and (fix.lat, fix.lon) == (51.93, 4.49)


@pytest.mark.parametrize(
    "payload, keys, reason",
    [
        (sealed(APP), None, "encrypted_no_key"),
        (sealed(APP, owntracks.secret_key("other")), {PHONE: KEY}, "decryption_failed"),
        ({"_type": "encrypted", "data": "not base64!"}, {PHONE: KEY}, "decryption_failed"),
        ({"_type": "encrypted", "data": 7}, {PHONE: KEY}, "decryption_failed"),
        ({"_type": "encrypted"}, {PHONE: KEY}, "decryption_failed"),
        (sealed(sealed(APP)), {PHONE: KEY}, "invalid_field"),
        (dict(APP, tst=-1), None, "invalid_field"),
    ],
)
def test_what_cannot_be_read_is_a_counted_rejection(payload, keys, reason):
    items, log = decode(payload, keys)
    assert items == [] and log.counts == {reason: 1}


@given(st.text(min_size=1, max_size=40))
def test_the_key_is_the_secret_zero_padded_or_cut_to_32_bytes(secret):
    key = owntracks.secret_key(secret)
    raw = secret.encode()
    assert (
        len(key) == 32 and key.startswith(raw[:32]) and key[len(raw) :] == b"\0" * (32 - len(raw))
    )


def test_keys_from_config_refuse_what_is_not_an_owntracks_device():
    assert owntracks.keys_from_config({"keys": {PHONE: "s3cret"}}) == {PHONE: KEY}
    for bad in ({"keys": {"vd-1": "x"}}, {"keys": {PHONE: ""}}, {"keys": [PHONE]}):
        with pytest.raises(ValueError):
            owntracks.keys_from_config(bad)


ORDER = base_order(ROTTERDAM)
ORDER["victims"][0]["device_id"] = PHONE
PHONE_ORDER = parse_order(ORDER)


def alert(kind: str = "zone_violation", state: str = "open", ended: str | None = None):
    return {"alert_id": f"A-{kind}", "type": kind, "state": state, "severity": "critical",
            "order_id": PHONE_ORDER.order_id, "device_id": "am-0001", "ended_at": ended,
            "details": {}}  # fmt: skip


def test_the_phone_is_warned_once_on_its_cmd_topic_and_the_centre_told_to_phone_her():
    delivery = Delivery(resend_after_s=30, max_attempts=3, owntracks_keys={PHONE: KEY})
    out = delivery.on_alert(alert(), PHONE_ORDER, 1_000)
    (command,) = [m for m in out if m.topic == f"{PHONE}/cmd"]
    inner = json.loads(owntracks.decrypt(KEY, json.loads(command.payload)["data"]))
    assert inner == {"_type": "cmd", "action": "action",
                     "notification": inner["content"], "content": inner["content"]}  # fmt: skip
    # Dutch: the order is in Europe/Amsterdam and names no language
    assert inner["content"].startswith("Gevaar") and not any(c.isdigit() for c in inner["content"])
    (escalation,) = [json.loads(m.payload) for m in out if m.topic == "emon/v1/alerts/monitoring"
                     and b"notification_" in m.payload]  # fmt: skip
    assert escalation["type"] == "notification_unconfirmable"
    # and the contract's notification on emon/v1/notify/{device_id}, as for every device
    (note,) = [json.loads(m.payload) for m in out if m.topic == f"emon/v1/notify/{PHONE}"]
    assert note["level"] == "alert" and note["text"] == inner["content"]
    # nothing waits for a confirmation that cannot come: no re-send, no second escalation
    assert delivery.pending == {}
    for now in (31_000, 61_000, 91_000, 200_000):
        assert delivery.tick(now) == []
    assert not any(m.topic.startswith("emon/v1/notify/") for m in delivery.tick(400_000))
    ended = delivery.on_alert(alert(state="ended", ended="x"), PHONE_ORDER, 300_000)
    assert [m.topic for m in ended if m.topic == f"{PHONE}/cmd"] == [f"{PHONE}/cmd"]
    escalations = [m for m in ended if m.topic == "emon/v1/alerts/monitoring"
                   and json.loads(m.payload).get("type", "").startswith("notification_")]  # fmt: skip
    assert escalations == []  # an ending needs no call


def test_a_phone_without_a_key_gets_its_command_in_the_clear():
    out = Delivery().on_alert(alert("zone_prealert"), PHONE_ORDER, 1_000)
    (command,) = [m for m in out if m.topic == f"{PHONE}/cmd"]
    assert json.loads(command.payload)["content"].startswith("Let op")


def test_after_a_restart_nothing_is_re_sent_to_a_phone():
    delivery = Delivery()
    rows = [("n-1", "A-1", PHONE, "clear", "ended", 1_000, 1, None, False),
            ("n-2", "A-1", "vd-0002", "alert", "Danger", 1_000, 1, None, False)]  # fmt: skip
    delivery.restore(rows, {PHONE, "vd-0002"})
    assert set(delivery.pending) == {"n-2"}
