"""The ``emon`` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emon.timeutil import TimestampError, parse_ts


def _timestamp(text: str) -> int:
    try:
        return parse_ts(text)
    except TimestampError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emon",
        description="Electronic monitoring and protection-order enforcement.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    replay = commands.add_parser(
        "replay",
        help="replay a recorded MQTT stream through the engine",
        description=(
            "Replay a recorded MQTT stream (one JSON line a message: recv, topic, payload) "
            "through the same engine as `emon serve`, with the engine's clock at each line's "
            "recv. Writes every alert when raised and at every change, one JSON object a line. "
            "Bad lines and rejected messages are counted on stderr; the exit status is 0 "
            "whenever the stream was replayed."
        ),
    )
    replay.add_argument("--orders", type=Path, required=True, help="JSON array of orders")
    replay.add_argument("--stream", type=Path, required=True, help="recorded stream (JSONL)")
    replay.add_argument("--alerts", type=Path, required=True, help="where to write alerts (JSONL)")
    replay.add_argument(
        "--until",
        type=_timestamp,
        help="run the clock on to this RFC 3339 time after the last line, firing timers",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "replay":
        from emon.replay import UsageError, print_summary, replay

        try:
            engine, report = replay(args.orders, args.stream, args.alerts, args.until)
        except UsageError as exc:
            print(f"emon replay: {exc}", file=sys.stderr)
            return 2
        print_summary(engine, report)
        return 0
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
