"""Per-device MQTT credentials and ACLs for Mosquitto.

Each device logs in with its own user name (its device id) and password, and
the ACL lets it publish only its own fix, fixes, event and ack topics and
read only its own notifications: a stolen victim device cannot read another
victim's warnings, and nobody can publish as someone else's ankle monitor.
The engine and the agencies get their own users.
"""

from __future__ import annotations

import csv
import secrets
import shutil
import subprocess
from pathlib import Path

ACL = """# emon: written by `emon provision`; user name = device id
# devices: their own topics only
pattern write emon/v1/fix/%u
pattern write emon/v1/fixes/%u
pattern write emon/v1/event/%u
pattern write emon/v1/ack/%u
pattern read emon/v1/notify/%u

user emon-engine
topic read emon/v1/fix/+
topic read emon/v1/fixes/+
topic read emon/v1/event/+
topic read emon/v1/ack/+
topic read owntracks/+/+
topic write emon/v1/notify/+
topic write emon/v1/alerts/+

user police
topic read emon/v1/alerts/police

user reclassering
topic read emon/v1/alerts/reclassering

user monitoring
topic read emon/v1/alerts/monitoring
"""

SERVICE_USERS = ("emon-engine", "police", "reclassering", "monitoring")


def provision(devices: list[str], out: Path) -> Path:
    """Write passwd, acl, credentials.csv and a mosquitto.conf snippet to ``out``."""
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        raise RuntimeError("mosquitto_passwd not found (install the mosquitto package)")
    out.mkdir(parents=True, exist_ok=True)
    passwd = out / "passwd"
    passwd.write_text("")
    passwd.chmod(0o600)
    rows = []
    for user in [*SERVICE_USERS, *devices]:
        if not user or any(c in user for c in "/#+:"):
            raise ValueError(f"not a usable MQTT user name: {user!r}")
        password = secrets.token_urlsafe(18)
        subprocess.run([tool, "-b", str(passwd), user, password], check=True)
        rows.append((user, password))
    credentials = out / "credentials.csv"
    with credentials.open("w", newline="") as handle:
        csv.writer(handle).writerows([("user", "password"), *rows])
    credentials.chmod(0o600)
    (out / "acl").write_text(ACL)
    (out / "mosquitto-auth.conf").write_text(
        f"allow_anonymous false\npassword_file {passwd}\nacl_file {out / 'acl'}\n"
    )
    return credentials
