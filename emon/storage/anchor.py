"""The chain's head anchored outside the database.

A chain proves that nothing inside it changed, but not that nothing was cut
off its end: deleting the last rows leaves a shorter chain that verifies. So
every minute (and at shutdown) the service appends the stored head to an
append-only file, each line signed with HMAC-SHA256, and publishes it on
``emon/v1/chain/head`` for whoever keeps a copy elsewhere (the monitoring
centre's log, a notary). `emon verify` compares the database with the
latest anchor and with every anchor of the period it checks: a head behind
an anchor is a truncation, a different hash at an anchored number a rewrite.
The key lives in ``EMON_ANCHOR_KEY`` or ``emon-anchor-key`` (0600) beside the
database; whoever can rewrite both the database and the key file can forge
anchors too, which is why the published copy matters.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emon import topics
from emon.storage.chain import CHAIN_BLOCK, chain_slot

ANCHORS_FILE = "emon-chain-anchors.jsonl"
KEY_FILE = "emon-anchor-key"
#: how often the stored head is anchored (seconds)
ANCHOR_EVERY_S = 60.0
#: where it is published for a copy outside (QoS 1, retained)
ANCHOR_TOPIC = topics.CHAIN_HEAD


@dataclass(frozen=True)
class Anchor:
    at: int
    seq: int
    head: str
    mac: str

    def signed_by(self, key: bytes) -> bool:
        return hmac.compare_digest(self.mac, _mac(key, self.at, self.seq, self.head))


def _mac(key: bytes, at: int, seq: int, head: str) -> str:
    return hmac.new(key, f"{at}|{seq}|{head}".encode(), hashlib.sha256).hexdigest()


def anchor_key(workdir: Path, given: str | None, create: bool = True) -> bytes | None:
    """The key given (EMON_ANCHOR_KEY), or the one kept in the working
    directory (made once)."""
    if given:
        return given.encode()
    path = workdir / KEY_FILE
    if path.is_file():
        return path.read_text().strip().encode()
    if not create:
        return None
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(secrets.token_hex(32) + "\n")
    return path.read_text().strip().encode()


class AnchorLog:
    """The append-only file of anchors."""

    def __init__(self, path: Path, key: bytes | None) -> None:
        self.path = path
        self.key = key
        self.last: tuple[int, str] | None = None

    def append(self, seq: int, head: str, at: int) -> Anchor | None:
        """Anchor this head unless it is the one anchored last."""
        if self.key is None or self.last == (seq, head):
            return None
        anchor = Anchor(at, seq, head, _mac(self.key, at, seq, head))
        with self.path.open("a") as handle:
            handle.write(json.dumps(anchor.__dict__) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.last = (seq, head)
        return anchor

    def read(self) -> tuple[list[Anchor], list[dict[str, Any]]]:
        """The anchors, and problems with lines that are not (unsigned, unreadable)."""
        anchors: list[Anchor] = []
        problems: list[dict[str, Any]] = []
        if not self.path.is_file():
            return anchors, problems
        for number, line in enumerate(self.path.read_text().splitlines(), 1):
            try:
                data = json.loads(line)
                anchor = Anchor(int(data["at"]), int(data["seq"]), str(data["head"]),
                                str(data["mac"]))  # fmt: skip
            except (ValueError, KeyError, TypeError):
                problems.append({"anchor_line": number, "problem": "unreadable_anchor"})
                continue
            if self.key is not None and not anchor.signed_by(self.key):
                problems.append({"anchor_line": number, "problem": "forged_anchor"})
                continue
            anchors.append(anchor)
        return anchors, problems


def anchor_problems(
    store: Any, anchors: list[Anchor], start: int, end: int
) -> list[dict[str, Any]]:
    """The latest anchor and those of the period, against what the store holds."""
    if not anchors:
        return []
    problems: list[dict[str, Any]] = []
    for slot in sorted({chain_slot(a.seq) for a in anchors}):  # each chain on its own
        problems += _slot_problems(store, slot, [a for a in anchors if chain_slot(a.seq) == slot],
                                   start, end)  # fmt: skip
    return problems


def _slot_problems(
    store: Any, slot: int, anchors: list[Anchor], start: int, end: int
) -> list[dict[str, Any]]:
    chosen = {a.seq: a for a in anchors if start <= a.at <= end}
    latest = max(anchors, key=lambda a: a.seq)
    chosen[latest.seq] = latest
    problems: list[dict[str, Any]] = []
    head = store.chain_head(slot)
    stored_seq = head[0] if head else slot * CHAIN_BLOCK
    if stored_seq < latest.seq:
        problems.append({"seq": stored_seq + 1, "to_seq": latest.seq, "problem": "truncated",
                         "anchored_at": latest.at})  # fmt: skip
    for anchor in sorted(chosen.values(), key=lambda a: a.seq):
        if anchor.seq > stored_seq:
            continue  # reported as truncated
        stored = store.chain_hash(anchor.seq)
        if stored != anchor.head:
            problems.append({"seq": anchor.seq, "problem": "missing" if stored is None else
                             "altered", "anchored_at": anchor.at})  # fmt: skip
    return problems


def checked_against(
    store: Any, log: AnchorLog | None, start: int, end: int
) -> list[dict[str, Any]]:
    """Every problem the anchors show: lines that are not genuine, and the
    store's chain against the genuine ones."""
    if log is None:
        return []
    anchors, problems = log.read()
    return problems + anchor_problems(store, anchors, start, end)


async def run_anchoring(
    store: Any,
    log: AnchorLog,
    publish: Callable[[bytes], None],
    now: Callable[[], int],
    period_s: float = ANCHOR_EVERY_S,
    slot: int = 0,
) -> None:
    """Forever: anchor the stored head (what the database holds, not what the
    writer still queues) of this service's chain (its worker slot) and publish it."""
    while True:
        await asyncio.sleep(period_s)
        head = await asyncio.to_thread(store.chain_head, slot)
        anchor_once(head, log, publish, now())


def anchor_once(
    head: tuple[int, str] | None, log: AnchorLog, publish: Callable[[bytes], None], at: int
) -> None:
    if head is None:
        return
    anchor = log.append(head[0], head[1], at)
    if anchor is not None:
        publish(json.dumps({"at": anchor.at, "seq": anchor.seq, "head": anchor.head,
                            "mac": anchor.mac}).encode())  # fmt: skip
