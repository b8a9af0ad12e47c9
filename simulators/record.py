"""Write a scenario as files for `emon replay`: orders.json, stream.jsonl, truth.json.

python -m simulators.record car_approach --out examples/ [--salted]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from simulators import scenarios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.record", description=__doc__)
    parser.add_argument("scenario", choices=sorted(scenarios.ALL))
    parser.add_argument("--out", type=Path, default=Path("."))
    parser.add_argument(
        "--salted", action="store_true", help="mix in malformed, duplicate and out-of-order lines"
    )
    args = parser.parse_args(argv)
    scenario = scenarios.ALL[args.scenario]()
    if args.salted:
        scenario = scenarios.salted(scenario)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "orders.json").write_text(json.dumps(scenario.orders, indent=2) + "\n")
    scenario.recording.write(args.out / "stream.jsonl")
    truth = [asdict(t) for t in scenario.truth]
    (args.out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    print(f"wrote {scenario.name} to {args.out}/ (orders.json, stream.jsonl, truth.json)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
