"""`emon verify`, `emon evidence`, `emon compliance`, `emon closest`, `emon what-if`.

They read what `emon serve` stored (the same ``--database`` URL, or the
embedded ``emon.db`` in the working directory) and never write to it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from emon.config import Config
from emon.timeutil import Millis

COMMANDS = ("verify", "evidence", "compliance", "closest", "what-if", "export-person")


def add_commands(commands: Any, timestamp: Any) -> None:
    def database(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--database",
            help="postgresql://... or sqlite:///path (default: $EMON_DATABASE_URL, else ./emon.db)",
        )

    def period(parser: argparse.ArgumentParser, required: bool = False) -> None:
        parser.add_argument("--from", dest="start", type=timestamp, required=required,
                            help="start of the period (RFC 3339)")  # fmt: skip
        parser.add_argument("--to", dest="end", type=timestamp,
                            help="end of the period (RFC 3339; default now)")  # fmt: skip

    verify = commands.add_parser(
        "verify",
        help="check the evidence chain of stored messages and alerts",
        description=(
            "Recompute the hash chain over what is stored for a period (received messages, "
            "fixes, order versions, alert changes, operator actions, notification changes; "
            "alerts and notifications against their last change) and report any row that was "
            "altered, deleted or inserted afterwards, and rows cut off the chain's end since "
            "the service anchored its head. "
            "Prints JSON with the chain head (compare it with the head in an evidence report "
            "handed out earlier). Exit status: 0 intact, 1 not intact, 2 unusable arguments."
        ),
    )
    database(verify)
    period(verify)
    verify.add_argument(
        "--anchors",
        help=f"the service's anchored chain heads (default ./{'emon-chain-anchors.jsonl'} when "
        "present): finds rows cut off the end of the chain",
    )

    evidence = commands.add_parser(
        "evidence",
        help="write an evidence report for a violation or a period",
        description=(
            "Build the evidence for one alert (--alert) or an order over a period (--order, "
            "--from, --to): map, timeline, raw fixes with accuracy, the rule and thresholds "
            "behind each alert, the order as it stood then, and the chain hashes. Writes "
            "report.html (self-contained), report.pdf, fixes.geojson, zones.geojson, "
            "evidence.gpkg and fixes.csv to --out."
        ),
    )
    database(evidence)
    evidence.add_argument("--alert", help="an alert id")
    evidence.add_argument("--order", help="an order id (with --from and --to)")
    period(evidence)
    evidence.add_argument("--out", type=Path, default=Path("evidence"), help="output folder")
    evidence.add_argument(
        "--include-victim", action="store_true", help="also the victim device's positions"
    )
    evidence.add_argument("--lang", choices=("en", "nl"), default="en",
                          help="the report's language (default en)")  # fmt: skip

    figures = commands.add_parser(
        "compliance",
        help="violation history and compliance figures of an order",
        description=(
            "Violations and device events of an order over a period, with their classification, "
            "hours in violation and without signal, tamper events, violations per week, the "
            "weekly trend. Prints JSON."
        ),
    )
    database(figures)
    figures.add_argument("--order", required=True, help="an order id")
    period(figures, required=True)

    closest = commands.add_parser(
        "closest",
        help="closest approach between an offender and the victims over a period",
        description=(
            "The smallest distance between the offender's and each victim device's track over a "
            "period, between fixes as well as at them (both moving straight between fixes; "
            "nothing assumed across gaps longer than --max-gap). Prints JSON."
        ),
    )
    database(closest)
    closest.add_argument("--order", required=True, help="an order id")
    period(closest, required=True)
    closest.add_argument("--max-gap", type=float, default=300.0, help="seconds (default 300)")

    what_if = commands.add_parser(
        "what-if",
        help="replay a stored period with other thresholds and compare the alerts",
        description=(
            "Replay the stored messages of a period twice, as configured and with changes, and "
            "list the alerts only one of them raises. --set changes an engine threshold "
            "(e.g. confirm_fixes=3, exit_hysteresis_m=40); --patch changes the orders with a "
            'JSON merge patch, zones by id (e.g. \'{"contact_ban": {"distance_m": 1500}}\' or '
            '\'{"zones": {"Z-1": {"radius_m": 1500}}}\').'
        ),
    )
    database(what_if)
    period(what_if, required=True)
    what_if.add_argument("--order", help="only this order")
    what_if.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    what_if.add_argument("--patch", default="{}", help="JSON merge patch for the orders")

    export = commands.add_parser(
        "export-person",
        help="everything stored about one person (AVG/GDPR right of access)",
        description=(
            "Write, as JSON, the orders naming the person (every version), their devices' "
            "fixes, the alerts of those orders, the notifications sent to their devices and "
            "who read data about their cases. A victim's export shows nothing of where the "
            "offender was, and the reverse."
        ),
    )
    database(export)
    export.add_argument("person_id", help="the person_id in the orders")
    export.add_argument("--out", type=Path, help="file to write (default: standard output)")


def run(args: argparse.Namespace) -> int:
    from emon.storage import open_store

    url = args.database or Config().get("EMON_DATABASE_URL")
    if url is None and not (Path.cwd() / "emon.db").exists():
        print(f"emon {args.command}: no emon.db here; give --database", file=sys.stderr)
        return 2
    store = open_store(url, Path.cwd())
    now = int(time.time() * 1000)
    end: Millis = args.end if getattr(args, "end", None) is not None else now
    try:
        return _COMMANDS[args.command](store, args, end, now)
    except (LookupError, ValueError) as exc:
        print(f"emon {args.command}: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()


def _verify(store: Any, args: argparse.Namespace, end: Millis, now: Millis) -> int:
    from emon.storage.chain import verify_period

    start = args.start or 0
    verdict = verify_period(store, start, end, _anchor_problems(store, args, start, end))
    _print(verdict.to_json())
    return 0 if verdict.intact else 1


def _anchor_problems(
    store: Any, args: argparse.Namespace, start: Millis, end: Millis
) -> list[dict[str, Any]]:
    """Against the heads the service anchored outside the database (its
    append-only file; the key beside it or in EMON_ANCHOR_KEY)."""
    from emon.storage.anchor import ANCHORS_FILE, AnchorLog, anchor_key, checked_against

    path = Path(args.anchors) if args.anchors else Path.cwd() / ANCHORS_FILE
    if not path.is_file():
        if args.anchors:
            raise ValueError(f"no anchors file {path}")
        return []
    log = AnchorLog(path, anchor_key(path.parent, Config().raw("EMON_ANCHOR_KEY"), create=False))
    return checked_against(store, log, start, end)


def _evidence(store: Any, args: argparse.Namespace, end: Millis, now: Millis) -> int:
    from emon.review import evidence, render

    options = {"include_victim": args.include_victim}
    if args.alert:
        bundle = evidence.for_alert(store, store.alerts(), args.alert, now, **options)
    elif args.order and args.start is not None:
        bundle = evidence.for_period(
            store, store.alerts(), args.order, args.start, end, now, **options
        )
    else:
        raise ValueError("give --alert ID, or --order ID with --from (and --to)")
    for path in render.write(bundle, args.out, lang=args.lang):
        print(path)
    return 0 if bundle.chain["intact"] else 1


def _compliance(store: Any, args: argparse.Namespace, end: Millis, now: Millis) -> int:
    from emon.review.compliance import compliance

    _print(compliance(args.order, store.alerts(), args.start, end, now))
    return 0


def _closest(store: Any, args: argparse.Namespace, end: Millis, now: Millis) -> int:
    from emon.review.reports import closest_report

    _print(closest_report(store, args.order, args.start, end, args.max_gap))
    return 0


def _what_if(store: Any, args: argparse.Namespace, end: Millis, now: Millis) -> int:
    from emon.review.reports import what_if_report

    _print(what_if_report(store, args.start, end, _settings(args.set), json.loads(args.patch),
                          args.order))  # fmt: skip
    return 0


def _settings(pairs: list[str]) -> dict[str, Any]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--set takes NAME=VALUE, not {pair!r}")
        try:
            out[name.strip()] = float(value)
        except ValueError as exc:
            raise ValueError(f"--set {pair!r}: the value must be a number") from exc
    return out


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _export_person(store: Any, args: argparse.Namespace, end: Millis, now: Millis) -> int:
    from emon.review.export import person_export

    data = person_export(store, store.alerts(), args.person_id)
    if not data["orders"]:
        raise LookupError(f"no stored order names {args.person_id}")
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if args.out:
        args.out.write_text(text)
        print(args.out)
    else:
        print(text)
    return 0


_COMMANDS = {
    "export-person": _export_person,
    "verify": _verify,
    "evidence": _evidence,
    "compliance": _compliance,
    "closest": _closest,
    "what-if": _what_if,
}
