"""The dwell-and-hysteresis state machine: one alert per episode, no flapping."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from emon.engine import Policy
from emon.engine.episode import Change, Episode, Evidence

POLICY = Policy()
B, C, U = Evidence.BREACH, Evidence.CLEAR, Evidence.UNSURE


def run(evidence, interval_ms=30_000, sources=None):
    episode = Episode()
    changes = []
    for i, e in enumerate(evidence):
        source = 0 if sources is None else sources[i]
        changes.append(episode.step(e, i * interval_ms, i * interval_ms, POLICY, source))
    return changes


def test_a_lone_breach_raises_nothing():
    assert Change.RAISE not in run([C, B, C, C, C])


def test_two_breaches_raise_and_two_clears_end():
    changes = run([C, B, B, B, C, C])
    assert changes.index(Change.RAISE) == 2 and changes.index(Change.END) == 5


def test_confirmation_needs_a_time_span_too():
    assert Change.RAISE not in run([B, B], interval_ms=1_000)
    assert run([B] * 12, interval_ms=1_000).index(Change.RAISE) == 10


def test_unsure_evidence_neither_raises_nor_ends():
    changes = run([B, U, B, U, U, C, U, U, B, C, U, C])
    assert changes.count(Change.RAISE) == 1 and changes.count(Change.END) == 1


def test_evidence_counts_per_device():
    """A victim's outlier (source 1) cannot be confirmed by the offender's
    next fix (source 0) measured against it."""
    assert Change.RAISE not in run([B, B], sources=[1, 0])
    assert Change.RAISE in run([B, B, B], sources=[1, 0, 0])


@given(
    st.lists(st.sampled_from([B, C, U]), max_size=80),
    st.integers(1_000, 120_000),
)
def test_raises_and_ends_alternate(evidence, interval):
    """Whatever the jitter, alerts open and close strictly in turn."""
    changes = [c for c in run(evidence, interval) if c != Change.NONE]
    assert all(a != b for a, b in itertools.pairwise(changes))
    if changes:
        assert changes[0] == Change.RAISE


@given(st.lists(st.sampled_from([B, U]), min_size=1, max_size=60))
def test_one_alert_per_episode_under_jitter(noise):
    """A true violation seen through noise (breach or unsure, never clear)
    raises exactly one alert once two breaches span the confirmation time."""
    evidence = [C, *noise, B, B, C, C]
    changes = run(evidence)
    assert changes.count(Change.RAISE) == 1
    assert changes.count(Change.END) == 1
