"""Every rejected message is counted by reason and kept for inspection."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

from emon.timeutil import Millis


@dataclass(frozen=True, slots=True)
class Rejection:
    recv: Millis
    topic: str
    reason: str
    detail: str
    payload: bytes


class RejectionLog:
    """Counts by reason, plus the most recent rejections verbatim.

    The engine keeps only a bounded sample in memory; the service stores every
    rejected message with its reason (storage is the evidence, not this log).
    """

    def __init__(self, keep: int = 1000) -> None:
        self.counts: Counter[str] = Counter()
        self.recent: deque[Rejection] = deque(maxlen=keep)
        #: every rejection since the last ``drain`` (the engine drains it into
        #: each call's outcome, so it holds one call's at most)
        self.unsaved: list[Rejection] = []

    def reject(self, recv: Millis, topic: str, reason: str, detail: str, payload: bytes) -> None:
        self.counts[reason] += 1
        record = Rejection(recv, topic, reason, detail, payload[:4096])
        self.recent.append(record)
        self.unsaved.append(record)

    def drain(self) -> tuple[Rejection, ...]:
        out = tuple(self.unsaved)
        self.unsaved.clear()
        return out

    @property
    def total(self) -> int:
        return sum(self.counts.values())
