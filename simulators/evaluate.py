"""Score the engine's alerts against a scenario's ground truth.

The bar (issue 2): every true violation that lasts 90 s or more and goes 100 m
or more deep is found, within one reporting interval plus 10 s of the first
fix that shows it; no violation alert without a true violation behind it.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emon.replay import replay
from emon.timeutil import Millis, parse_ts
from simulators.scenarios import Scenario, TruthEpisode

VIOLATIONS = ("zone_violation", "contact_violation")
MIN_DURATION_MS = 90_000
MIN_DEPTH_M = 100.0


@dataclass
class Score:
    scenario: str
    must_find: int = 0
    found: int = 0
    false_alerts: list[dict[str, Any]] = field(default_factory=list)
    delays_s: list[float] = field(default_factory=list)
    late_delays_s: list[float] = field(default_factory=list)
    missed: list[TruthEpisode] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return 1.0 if self.must_find == 0 else self.found / self.must_find

    def line(self) -> str:
        worst = max(self.delays_s, default=0.0)
        return (
            f"{self.scenario}: recall {self.found}/{self.must_find}, "
            f"false alerts {len(self.false_alerts)}, worst detection delay {worst:.1f} s"
        )


def run(scenario: Scenario, workdir: Path | None = None) -> list[dict[str, Any]]:
    """Replay a scenario through ``emon replay`` and return the final state of each alert."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = workdir or Path(tmp)
        orders = folder / "orders.json"
        orders.write_text(json.dumps(scenario.orders))
        stream = scenario.recording.write(folder / "stream.jsonl")
        alerts = folder / "alerts.jsonl"
        replay(orders, stream, alerts, scenario.until)
        records = [json.loads(line) for line in alerts.read_text().splitlines()]
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        latest[record["alert_id"]] = record
    return list(latest.values())


def score(scenario: Scenario, alerts: list[dict[str, Any]]) -> Score:
    result = Score(scenario.name, alerts=alerts)
    violations = [a for a in alerts if a["type"] in VIOLATIONS]
    for truth in scenario.truth:
        matched = [a for a in violations if overlaps(a, truth)]
        serious = truth.end - truth.start >= MIN_DURATION_MS and truth.depth_m >= MIN_DEPTH_M
        if serious:
            result.must_find += 1
            if matched:
                result.found += 1
                first = _first_fix_showing(scenario, truth)
                delay = (parse_ts(matched[0]["detected_at"]) - first) / 1000
                (result.late_delays_s if matched[0]["late"] else result.delays_s).append(delay)
            else:
                result.missed.append(truth)
    for alert in violations:
        if not any(overlaps(alert, t, slack_ms=60_000) for t in scenario.truth):
            result.false_alerts.append(alert)
    return result


def overlaps(alert: dict[str, Any], truth: TruthEpisode, slack_ms: Millis = 0) -> bool:
    if alert["type"] != truth.type:
        return False
    start = parse_ts(alert["started_at"])
    end = parse_ts(alert["ended_at"]) if alert["ended_at"] else 2**62
    return start <= truth.end + slack_ms and end >= truth.start - slack_ms


def _first_fix_showing(scenario: Scenario, truth: TruthEpisode) -> Millis:
    """The first fix, of any device involved, sent once the true position lay
    deeper than ordinary GPS error: the first fix that can show it."""
    times = [t for _, t, _, _ in scenario.sent if t >= truth.shown_from]
    return min(times) if times else truth.shown_from
