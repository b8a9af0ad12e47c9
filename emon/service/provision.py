"""Per-device MQTT credentials and ACLs for Mosquitto.

Each device logs in with its own user name (its device id) and password, and
the ACL lets it publish only its own fix, fixes, event and ack topics and
read only its own notifications: a stolen victim device cannot read another
victim's warnings, and nobody can publish as someone else's ankle monitor.
The engine and the agencies get their own users.

An OwnTracks phone (device id ``owntracks/{user}/{device}``) logs in as
``{user}``, the user name its app is set up with; it may publish only under
its own ``owntracks/{user}/{device}`` topics and read only its own ``cmd``
topic, where emon sends its warnings (not other phones' positions).
"""

from __future__ import annotations

import csv
import os
import pwd
import secrets
import shutil
import subprocess
from pathlib import Path

from emon import topics

ACL = """# emon: written by `emon provision`; user name = device id
# devices: their own topics only
pattern write emon/v1/fix/%u
pattern write emon/v1/fixes/%u
pattern write emon/v1/event/%u
pattern write emon/v1/ack/%u
pattern write emon/v1/beacon/%u
pattern read emon/v1/notify/%u
pattern read emon/v1/cmd/%u

user emon-engine
topic read emon/v1/fix/+
topic read emon/v1/fixes/+
topic read emon/v1/event/+
topic read emon/v1/ack/+
topic read emon/v1/beacon/+
topic read owntracks/+/+
topic write emon/v1/notify/+
topic write emon/v1/cmd/+
topic write emon/v1/alerts/+
topic write emon/v1/reminders/+
topic write emon/v1/chain/head
topic write owntracks/+/+/cmd

user police
topic read emon/v1/alerts/police

user reclassering
topic read emon/v1/alerts/reclassering
topic read emon/v1/reminders/reclassering

user monitoring
topic read emon/v1/alerts/monitoring
topic read emon/v1/alerts/supervisor
topic read emon/v1/chain/head

user om
topic read emon/v1/reminders/om
"""

SERVICE_USERS = ("emon-engine", "police", "reclassering", "monitoring", "om")
#: a client id is its user name: a stolen device password cannot take over the
#: engine's session (or another device's) by connecting with its client id
BROKER_SETTINGS = "allow_anonymous false\nuse_username_as_clientid true\n"


#: characters that cannot stand in an MQTT user name or a topic level
_UNUSABLE = set("/#+:") | {chr(c) for c in range(32)}


def mqtt_user(device_id: str) -> str:
    """The user name a device logs in with: its id, or for an OwnTracks phone
    the user part of ``owntracks/{user}/{device}``."""
    parts = device_id.split("/")
    if len(parts) == 3 and parts[0] == "owntracks":
        user, device = parts[1], parts[2]
        if user and device and not (_UNUSABLE & set(user + device)) and user not in SERVICE_USERS:
            return user
        raise ValueError(f"not a usable OwnTracks device id: {device_id!r}")
    if not device_id or _UNUSABLE & set(device_id) or device_id in SERVICE_USERS:
        raise ValueError(
            f"not a usable device id: {device_id!r} (no '/', '#', '+', ':'; "
            "an OwnTracks phone is owntracks/USER/DEVICE)"
        )
    return device_id


def _owntracks_acl(devices: list[str]) -> str:
    lines = []
    for device_id in devices:
        if device_id.startswith(topics.OWNTRACKS):
            lines += [
                f"\nuser {mqtt_user(device_id)}",
                f"topic write {device_id}",
                f"topic write {device_id}/+",
                f"topic read {device_id}/cmd",
            ]
    return "\n".join(lines) + "\n" if lines else ""


def provision(devices: list[str], out: Path) -> Path:
    """Write passwd, acl, credentials.csv and a mosquitto.conf snippet to ``out``.

    Every id is checked before anything is written, so a bad one leaves no
    half-made password file behind."""
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        raise RuntimeError("mosquitto_passwd not found (install the mosquitto package)")
    users = [(user, user) for user in SERVICE_USERS]
    for device_id in dict.fromkeys(devices):  # a repeated id is one device
        users.append((mqtt_user(device_id), device_id))
    names = [user for user, _ in users]
    doubled = sorted({u for u in names if names.count(u) > 1})
    if doubled:
        raise ValueError(f"one device per MQTT user name: {', '.join(doubled)} is used twice")
    out.mkdir(parents=True, exist_ok=True)
    passwd = out / "passwd"
    staged = out / "passwd.new"
    staged.write_text("")
    staged.chmod(0o600)
    rows = []
    try:
        for user, device_id in users:
            password = secrets.token_urlsafe(18)
            subprocess.run([tool, "-b", str(staged), user, password], check=True)
            rows.append((user, password, device_id))
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    staged.replace(passwd)
    credentials = out / "credentials.csv"
    with credentials.open("w", newline="") as handle:
        csv.writer(handle).writerows([("user", "password", "device_id"), *rows])
    credentials.chmod(0o600)
    (out / "acl").write_text(ACL + _owntracks_acl(list(dict.fromkeys(devices))))
    (out / "mosquitto-auth.conf").write_text(
        f"{BROKER_SETTINGS}password_file {passwd}\nacl_file {out / 'acl'}\n"
    )
    _give_to_broker(passwd, out / "acl")
    return credentials


def _give_to_broker(*paths: Path) -> None:
    """Mosquitto started as root drops to its own user, who could not read a
    root-owned 0600 password file and would not start: as root, hand the
    files to that user (still 0600)."""
    if os.geteuid() != 0:
        return
    try:
        broker = pwd.getpwnam("mosquitto")
    except KeyError:
        return
    for path in paths:
        os.chown(path, broker.pw_uid, broker.pw_gid)
