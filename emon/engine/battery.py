"""Batteries that will die before their wearer charges them.

SCRAM predicts "depleted within 1-2 h"; charging is a supervision condition
in itself. Each device's discharge run starts at its first reading, or when
the battery rises (it was charged); from the run's start to a reading, the
drop per second gives when it will be empty. Empty within
``Policy.battery_critical_horizon_s`` (the next charge cannot be counted on
sooner) raises ``battery_critical`` with ``details.empty_at``; a charge ends it.

One rule, written once for a scalar and for arrays (the fast path asks it
of a whole batch, so that a fix that would raise it takes the sequential path).
"""

from __future__ import annotations

from typing import Any, overload

import numpy as np
from numpy.typing import NDArray

from emon.engine.policy import Policy

#: a rise of at least this many points is a charge (a reading's jitter is not)
CHARGE_STEP_PCT = 2.0
#: a trend needs this long a run and this much of a drop before it says anything
TREND_MIN_S = 1800.0
TREND_MIN_DROP_PCT = 3.0

FloatArray = NDArray[np.float64]


@overload
def dies_soon(policy: Policy, run_ts: float, run_pct: float, ts: float, batt: float) -> bool: ...
@overload
def dies_soon(
    policy: Policy, run_ts: FloatArray, run_pct: FloatArray, ts: FloatArray, batt: FloatArray
) -> NDArray[np.bool_]: ...
def dies_soon(policy: Policy, run_ts: Any, run_pct: Any, ts: Any, batt: Any) -> Any:
    """Whether, going on as since the run began, it is empty within the
    horizon: ``batt / rate < horizon`` with rate = drop / elapsed, multiplied out
    (no division: the same answer for a number and for an array)."""
    elapsed = ts - run_ts
    drop = run_pct - batt
    horizon_ms = policy.battery_critical_horizon_s * 1000
    return (
        (elapsed >= TREND_MIN_S * 1000)
        & (drop >= TREND_MIN_DROP_PCT)
        & (batt * elapsed < horizon_ms * drop)
    )


def empty_at(run_ts: float, run_pct: float, ts: float, batt: float) -> int:
    """When it will be empty (ms), going on as since the run began."""
    return int(ts + batt * (ts - run_ts) / max(run_pct - batt, 1e-9))
