"""Which stored rows an evidence hold keeps (``holds``: a device over a time
span), as SQL conditions on a row of ``messages`` or ``fixes``: one test for
row pruning and for dropping whole months."""

from __future__ import annotations

from emon import topics

#: a message held: on a topic a held device publishes on, within the hold
_DEVICE_TOPICS = ", ".join(f"'{prefix}' || h.device_id" for prefix in topics.DEVICE_PUBLISHES)
HELD_MESSAGE = (
    "EXISTS (SELECT 1 FROM holds h WHERE messages.recv BETWEEN h.lo AND h.hi AND messages.topic"
    f" IN ({_DEVICE_TOPICS}))"
)
HELD_FIX = (
    "EXISTS (SELECT 1 FROM holds h WHERE h.device_id = fixes.device_id"
    " AND fixes.ts BETWEEN h.lo AND h.hi)"
)
