"""A hash chain over what is stored as evidence, so that a later change shows.

Every received message and every alert change gets the next number in one
chain and a SHA-256 over the previous link's hash and its own content. To
change, insert or delete a stored row unnoticed, one would have to recompute
every later hash, and those are also carried in evidence reports handed out
earlier (and in the head that `emon verify` prints), which no longer match.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

GENESIS = "0" * 64
#: each worker of a cluster keeps a chain of its own (two writers cannot share
#: one hash chain): worker slot k numbers its links from k * CHAIN_BLOCK + 1.
#: One service alone is slot 0, numbered 1, 2, ... as ever.
CHAIN_BLOCK = 10**12
_SEP = b"\x1f"


def canonical(value: Any) -> bytes:
    """One byte form per value, the same after a round trip through the database
    (JSON bodies are compared as parsed JSON, not as stored text)."""
    if value is None:
        return b"\x00"
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, float) and not isinstance(value, bool):
        return repr(float(value)).encode()  # a position to the last bit
    return str(int(value)).encode()


def content_digest(kind: str, fields: Sequence[Any]) -> str:
    """What a row holds. Kept in place of the content when retention removes
    personal data from a row, so that the chain still verifies past it."""
    digest = hashlib.sha256(kind.encode())
    for value in fields:
        digest.update(_SEP + canonical(value))
    return digest.hexdigest()


def link_hash(previous: str, kind: str, fields: Sequence[Any]) -> str:
    return next_hash(previous, content_digest(kind, fields))


def next_hash(previous: str, content: str) -> str:
    return hashlib.sha256(f"{previous}|{content}".encode()).hexdigest()


def chain_slot(seq: int) -> int:
    """The worker slot whose chain a link number belongs to."""
    return (seq - 1) // CHAIN_BLOCK


def chain_start(seq: int) -> int:
    """The number of the first link of the chain that ``seq`` belongs to."""
    return chain_slot(seq) * CHAIN_BLOCK + 1


@dataclass
class Chain:
    """The writer's end of the chain (one per service or worker slot: the
    event loop orders it)."""

    seq: int = 0
    head: str = GENESIS

    @classmethod
    def resume(cls, slot: int, head: tuple[int, str] | None) -> Chain:
        """The chain of a worker slot, from its last stored link (or its start)."""
        return cls(*head) if head else cls(slot * CHAIN_BLOCK)

    def link(self, kind: str, fields: Sequence[Any]) -> tuple[int, str]:
        self.seq += 1
        self.head = link_hash(self.head, kind, fields)
        return self.seq, self.head


@dataclass(frozen=True)
class Link:
    seq: int
    kind: str
    fields: tuple[Any, ...]
    hash: str
    at: int
    #: set when retention removed the content: the digest it had
    pruned: str | None = None


@dataclass
class Verdict:
    checked: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head: str | None = None
    #: links whose content retention removed (verified through their digest)
    pruned: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "checked": self.checked,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "head": self.head,
            "pruned": self.pruned,
            "problems": self.problems,
        }


def verify_period(
    store: Any, start: int, end: int, anchor_problems: Sequence[dict[str, Any]] = ()
) -> Verdict:
    """Verify what a store holds for a period (``store``: see emon/storage):
    the chain's links, the latest-state tables against their last change, and
    (given by the caller, see emon/storage/anchor.py) the heads anchored outside."""
    links = store.chain_links(start, end)
    verdict = verify_chains(links, store.chain_hash)
    verdict.problems += store.latest_state_problems(start, end)
    verdict.problems += anchor_problems
    return verdict


def verify_chains(links: Sequence[Link], hash_at: Callable[[int], str | None]) -> Verdict:
    """Links of one or several chains (a cluster's worker slots), each checked
    from the link before its first here (``hash_at`` finds it) or its start."""
    by_chain: dict[int, list[Link]] = {}
    unchained = [link for link in links if link.seq is None or link.hash is None]
    for link in links:
        if link.seq is not None and link.hash is not None:
            by_chain.setdefault(chain_start(link.seq), []).append(link)
    if not by_chain:
        return verify(unchained, None)
    verdict = Verdict()
    for n, (start, chained) in enumerate(sorted(by_chain.items())):
        first = chained[0].seq
        assert first is not None
        previous = (first - 1, hash_at(first - 1)) if first != start else None
        part = verify(chained + (unchained if n == 0 else []), previous)
        verdict.checked += part.checked
        verdict.pruned += part.pruned
        verdict.problems += part.problems
        verdict.first_seq = part.first_seq if verdict.first_seq is None else verdict.first_seq
        verdict.last_seq, verdict.head = part.last_seq, part.head
    return verdict


def verify(links: Iterable[Link], previous: tuple[int, str | None] | None) -> Verdict:
    """Check links in chain order, starting after ``previous`` (seq, hash), or
    at the start of the chain. Each problem names the link and what is wrong:
    ``altered`` (content or hash changed), ``missing`` (numbers skipped: rows
    deleted), ``unchained`` (a row without a link: inserted by hand). When the
    link before the first is gone, it is reported missing and the first link
    is taken as it stands. One chain: see ``verify_chains`` for several."""
    verdict = Verdict()
    links = list(links)
    first = next((link.seq for link in links if link.seq is not None), 1)
    expected_seq, prev_hash = (
        (previous[0] + 1, previous[1]) if previous else (chain_start(first), GENESIS)
    )
    if previous is not None and prev_hash is None:
        verdict.problems.append({"seq": previous[0], "problem": "missing"})
    for link in links:
        if link.hash is None or link.seq is None:
            verdict.problems.append({"seq": None, "kind": link.kind, "at": link.at,
                                     "problem": "unchained"})  # fmt: skip
            continue
        if verdict.first_seq is None:
            verdict.first_seq = link.seq
        if link.seq != expected_seq:
            verdict.problems.append({"seq": expected_seq, "to_seq": link.seq - 1,
                                     "problem": "missing"})  # fmt: skip
        if link.pruned is not None:
            verdict.pruned += 1
        content = link.pruned or content_digest(link.kind, link.fields)
        if prev_hash is not None and next_hash(prev_hash, content) != link.hash:
            verdict.problems.append({"seq": link.seq, "kind": link.kind, "at": link.at,
                                     "problem": "altered"})  # fmt: skip
        verdict.checked += 1
        verdict.last_seq = link.seq
        verdict.head = prev_hash = link.hash
        expected_seq = link.seq + 1
    return verdict
