"""What device events leave behind between messages (kept apart from the
rules that read it, so that it carries over to a rebuilt engine whole)."""

from __future__ import annotations

from dataclasses import dataclass, field

from emon.timeutil import Millis

#: event sequence numbers remembered per device, to refuse a repeat
EVENT_SEQ_WINDOW = 4096


@dataclass
class EventMemory:
    """What device events leave behind, by device: the sequence numbers seen
    (a repeat is refused) and when it said it was powering off."""

    seqs: dict[int, set[int]] = field(default_factory=dict)
    power_off: dict[int, Millis] = field(default_factory=dict)

    def first_time(self, dev: int, seq: int) -> bool:
        seqs = self.seqs.setdefault(dev, set())
        if seq in seqs:
            return False
        seqs.add(seq)
        if len(seqs) > EVENT_SEQ_WINDOW:
            seqs.discard(min(seqs))
        return True

    def forget(self, devices: list[int]) -> None:
        """Rows taken fresh or given back (emon/engine/devices.py)."""
        for dev in devices:
            self.seqs.pop(dev, None)
            self.power_off.pop(dev, None)

    def carry(self, new: int, old: EventMemory, before: int) -> None:
        """A device's memory from an engine built for earlier orders."""
        if before in old.seqs:
            self.seqs[new] = old.seqs[before]
        if before in old.power_off:
            self.power_off[new] = old.power_off[before]
