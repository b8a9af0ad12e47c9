"""The pure, deterministic engine core: device messages in, an ``Outcome``
out (alert changes, the fixes taken, the messages refused), on an injected
clock. What callers use is here; the modules behind it are the engine's own.
"""

from emon.engine.base import Message
from emon.engine.core import Engine
from emon.engine.outcome import AcceptedFix, Outcome
from emon.engine.past_tracks import RecordedTracks, TrackSource
from emon.engine.policy import Policy, policy_from

__all__ = [
    "AcceptedFix",
    "Engine",
    "Message",
    "Outcome",
    "Policy",
    "RecordedTracks",
    "TrackSource",
    "policy_from",
]
