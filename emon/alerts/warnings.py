"""One warning per device, derived from everything open for it.

A victim protected by several orders, or warned of a pre-alert and a
violation at once, must never be told "be alert" while a violation of hers is
open, nor "it has ended" while anything of hers still is. So a device is not
told each alert's news: it is told what the whole of its open conditions
says, and only when that changes. A re-send repeats the latest message, never
an older one (see emon/alerts/delivery.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

#: what a device shows with nothing open for it
CLEAR = "clear"

#: from the keys of a device's open conditions, what it is told (a text key)
Summary = Callable[[Iterable[str]], str]


def victim_summary(open_keys: Iterable[str]) -> str:
    """Danger while any violation of hers is open (her own panic alone: that
    help is coming), else be alert while any pre-alert is, else clear."""
    keys = set(open_keys)
    for key in ("alert", "panic", "prealert"):
        if key in keys:
            return key
    return CLEAR


def offender_summary(open_keys: Iterable[str]) -> str:
    """Turn back: from a person before an area (the nearer danger), else clear."""
    keys = set(open_keys)
    for key in ("contact_prealert", "zone_prealert"):
        if key in keys:
            return key
    return CLEAR


#: the contract's notification ``level`` of each text key
LEVELS = {
    "alert": "alert",
    "panic": "alert",
    "prealert": "prealert",
    "zone_prealert": "prealert",
    "contact_prealert": "prealert",
    CLEAR: "clear",
}


@dataclass
class WarningBoard:
    summary: Summary
    #: device -> alert id -> text key, for the conditions open for it
    open: dict[str, dict[str, str]] = field(default_factory=dict)
    #: device -> the text key it was last told
    told: dict[str, str] = field(default_factory=dict)

    def now_says(self, device: str) -> str:
        return self.summary(self.open.get(device, {}).values())

    def update(self, device: str, alert_id: str, key: str | None) -> str | None:
        """A condition opened (its key) or ended (None) for a device: what it
        is to be told now, or None when that has not changed."""
        conditions = self.open.setdefault(device, {})
        if key is None:
            conditions.pop(alert_id, None)
        else:
            conditions[alert_id] = key
        if not conditions:
            del self.open[device]
        says = self.now_says(device)
        if says == self.told.get(device, CLEAR):
            return None
        self.told[device] = says
        return says

    def is_open(self, device: str, alert_id: str) -> bool:
        return alert_id in self.open.get(device, {})

    def assume_told(self) -> None:
        """After a restart: what is open was told before it (the notifications
        still waiting are restored beside it)."""
        self.told = {device: self.now_says(device) for device in self.open}
