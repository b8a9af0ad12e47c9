"""Every MQTT topic of the contract (``../shared/CONTRACT.md``), named once.

Devices publish under ``emon/v1/{fix,fixes,event,ack}/{device_id}`` (an
OwnTracks phone under ``owntracks/{user}/{device}``); emon publishes
notifications to devices, alerts and reminders to the agencies, and the
evidence chain's head.
"""

from __future__ import annotations

PREFIX = "emon/v1/"
FIX = PREFIX + "fix/"
FIXES = PREFIX + "fixes/"
EVENT = PREFIX + "event/"
ACK = PREFIX + "ack/"
#: an RF home unit: whether it hears the ankle monitor in the residence
BEACON = PREFIX + "beacon/"
NOTIFY = PREFIX + "notify/"
COMMAND = PREFIX + "cmd/"
ALERTS = PREFIX + "alerts/"
REMINDERS = PREFIX + "reminders/"
#: the channel of the monitoring centre's supervisor: alerts nobody took on
SUPERVISOR = "supervisor"
#: the evidence chain's head, signed (emon/storage/anchor.py)
CHAIN_HEAD = PREFIX + "chain/head"
OWNTRACKS = "owntracks/"

#: what the engine subscribes to (QoS 1)
SUBSCRIPTIONS = (FIX + "+", FIXES + "+", EVENT + "+", ACK + "+", BEACON + "+", OWNTRACKS + "+/+")
#: what a device itself publishes (and evidence reports show)
DEVICE_PUBLISHES = (FIX, FIXES, EVENT)


def fix(device_id: str) -> str:
    return FIX + device_id


def fixes(device_id: str) -> str:
    return FIXES + device_id


def event(device_id: str) -> str:
    return EVENT + device_id


def ack(device_id: str) -> str:
    return ACK + device_id


def command(device_id: str) -> str:
    return COMMAND + device_id


def notify(device_id: str) -> str:
    return NOTIFY + device_id


def alerts(channel: str) -> str:
    """``police``, ``reclassering`` or ``monitoring``."""
    return ALERTS + channel


def reminders(channel: str) -> str:
    """``reclassering`` or ``om``."""
    return REMINDERS + channel


def device_topics(device_id: str) -> list[str]:
    """The topics a device publishes its own data on."""
    return [prefix + device_id for prefix in DEVICE_PUBLISHES]
