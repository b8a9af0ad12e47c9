"""The ``emon`` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emon.config import SECTIONS
from emon.review.commands import COMMANDS as REVIEW_COMMANDS
from emon.review.commands import add_commands as add_review_commands
from emon.review.commands import run as run_review
from emon.timeutil import TimestampError, parse_ts


def _timestamp(text: str) -> int:
    try:
        return parse_ts(text)
    except TimestampError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return int(text)


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
    validate = commands.add_parser(
        "validate",
        help="check whether an order is enforceable, and what would be",
        description=(
            "Check a proposed order against the guidelines for electronic monitoring "
            "(1,000 m around the victim's address, 1,000 m clearance for the offender's "
            "residence, zones wide enough for GPS, schedules that can be kept, ...). Prints a "
            "report with findings and suggested enforceable geometry. Exit status: 0 "
            "enforceable, 1 not enforceable, 2 file unusable."
        ),
    )
    validate.add_argument("order", type=Path, help="the order as JSON (one object)")
    validate.add_argument("--lang", choices=("en", "nl"), default="en", help="message language")
    validate.add_argument(
        "--format", choices=("json", "text"), default="json", help="JSON report or plain text"
    )
    serve = commands.add_parser(
        "serve",
        help="run the live service (MQTT in and out, storage, HTTP API and console)",
        description=(
            "Run emon as a service. Without flags it starts an embedded broker (a NATS server "
            "with JetStream and an MQTT listener for the devices, loopback only) and an "
            "embedded SQLite database (emon.db in the working directory). Each flag also reads "
            "from the environment: EMON_MQTT_URL, EMON_DATABASE_URL, EMON_HTTP, "
            "EMON_BROKER_PORT. The admin bearer token is EMON_ADMIN_TOKEN; without it the token "
            "in ./emon-admin-token is used, or a random one is made and kept there (delete the "
            "file and restart to rotate it). A port that is taken is an error (exit status 2)."
        ),
    )
    serve.add_argument("--mqtt", help="broker URL, e.g. mqtt://127.0.0.1:1883 (default: embedded)")
    serve.add_argument(
        "--database", help="postgresql://user@host/db or sqlite:///path (default: ./emon.db)"
    )
    serve.add_argument("--http", help="HOST:PORT for the API and console (default 127.0.0.1:8080)")
    serve.add_argument(
        "--nats",
        help="nats://HOST:PORT[,nats://...]: run as a worker taking device messages from NATS "
        "JetStream (devices speak MQTT to the NATS servers' MQTT listener); or EMON_NATS_URL. "
        "Start any number of workers with the same NATS and --database postgresql://...: they "
        "share the partitions (EMON_PARTITIONS) and take over a dead one's within 10 s; "
        "EMON_NATS_REPLICAS=3 on a three-node cluster",
    )
    serve.add_argument(
        "--broker-port",
        type=_port,
        help="port of the embedded MQTT broker on 127.0.0.1 (default 1883, or the next free "
        "one up to 1899); ignored with --mqtt",
    )
    serve.add_argument(
        "--config",
        help="JSON configuration file (or EMON_CONFIG); its sections: "
        + ", ".join(SECTIONS)
        + " (who is told of each alert kind, how long a victim waits at a pre-alert while the "
        "offender is told first, when an alert nobody takes on goes to the supervisor, device "
        "languages, ...; the README's configuration table says each)",
    )

    demo = commands.add_parser(
        "demo",
        help="the whole system on this machine with simulated devices",
        description=(
            "Start `emon serve` on embedded defaults (files in ./emon-demo), register six short "
            "cases (an approach to a victim's home, a drive past, two people crossing under a "
            "contact ban, a panic button, a curfew breach, a silent device), drive their devices "
            "in real time and show the live alerts and device notifications."
        ),
    )
    demo.add_argument("--duration", type=float, help="stop after this many seconds")
    demo.add_argument(
        "--place", default="51.9225,4.4792", help="LAT,LON the cases are placed around"
    )
    demo.add_argument("--http", default="127.0.0.1:8080", help="HOST:PORT for the API and console")
    demo.add_argument(
        "--broker-port", type=_port, help="port of the embedded MQTT broker (default 1883 or next)"
    )

    provision = commands.add_parser(
        "provision",
        help="make MQTT credentials and ACLs for devices (Mosquitto)",
        description=(
            "Write a Mosquitto password file, an ACL (each device publishes only its own topics "
            "and reads only its own notifications), credentials.csv and a config snippet "
            "(include it from mosquitto.conf) for the engine, the agencies and these devices."
        ),
    )
    provision.add_argument(
        "devices", nargs="+", help="device ids (an OwnTracks phone: owntracks/USER/DEVICE)"
    )
    provision.add_argument("--out", type=Path, default=Path("mqtt-auth"), help="output folder")

    batch = commands.add_parser(
        "validate-batch",
        help="validate many proposed orders from a GeoJSON or GeoPackage file",
        description=(
            "Validate proposed orders from a GIS file (one feature per zone, grouped by an "
            "order_id column; see the README for the columns). Writes report.csv (one row per "
            "finding) and suggestions.geojson (suggested enforceable geometry) to --out. Exit "
            "status: 0 all enforceable, 1 some not, 2 file unusable."
        ),
    )
    batch.add_argument("input", type=Path, help="GeoJSON FeatureCollection or GeoPackage")
    batch.add_argument("--out", type=Path, default=Path("validation"), help="report folder")
    batch.add_argument("--lang", choices=("en", "nl"), default="en", help="message language")
    batch.add_argument("--quiet", action="store_true", help="no progress bar")
    add_review_commands(commands, _timestamp)
    return parser


def _validate_batch(args: argparse.Namespace) -> int:
    from emon.geofence.batch import BatchInputError, validate_batch

    try:
        results = validate_batch(args.input, args.out, args.lang, progress=not args.quiet)
    except BatchInputError as exc:
        print(f"emon validate-batch: {exc}", file=sys.stderr)
        return 2
    good = sum(1 for _, r in results if not isinstance(r, str) and r.enforceable)
    print(
        f"{good} of {len(results)} orders enforceable; report in {args.out}/report.csv, "
        f"suggested geometry in {args.out}/suggestions.geojson"
    )
    return 0 if good == len(results) else 1


def _validate(args: argparse.Namespace) -> int:
    import msgspec

    from emon.geofence.report_text import as_text
    from emon.geofence.validation import validate
    from emon.orders import OrderFormatError

    try:
        data = msgspec.json.decode(args.order.read_bytes())
        report = validate(data, lang=args.lang)
    except OSError as exc:
        print(f"emon validate: cannot read {args.order}: {exc.strerror}", file=sys.stderr)
        return 2
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        print(f"emon validate: {args.order} is not valid JSON: {exc}", file=sys.stderr)
        return 2
    except OrderFormatError as exc:
        print(f"emon validate: {args.order}: {exc}", file=sys.stderr)
        return 2
    if args.format == "text":
        print(as_text(report, args.lang))
    else:
        print(msgspec.json.format(msgspec.json.encode(report.to_json())).decode())
    return 0 if report.enforceable else 1


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
    if args.command == "serve":
        from emon.service.main import run
        from emon.service.settings import Settings

        try:
            settings = Settings.from_args(
                args.mqtt, args.database, args.http, args.config, args.broker_port,
                nats=args.nats,
            )  # fmt: skip
        except ValueError as exc:
            print(f"emon serve: {exc}", file=sys.stderr)
            return 2
        return run(settings)
    if args.command == "demo":
        from emon.demo import run_demo

        lat, lon = (float(v) for v in args.place.split(","))
        return run_demo((lat, lon), args.duration, args.http, args.broker_port)
    if args.command == "provision":
        from emon.service.provision import provision as make_credentials

        try:
            credentials = make_credentials(args.devices, args.out)
        except (ValueError, RuntimeError) as exc:
            print(f"emon provision: {exc}", file=sys.stderr)
            return 2
        print(
            f"credentials in {credentials}; add 'include_dir' or copy "
            f"{args.out / 'mosquitto-auth.conf'} into mosquitto.conf"
        )
        return 0
    if args.command == "validate":
        return _validate(args)
    if args.command == "validate-batch":
        return _validate_batch(args)
    if args.command in REVIEW_COMMANDS:
        return run_review(args)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
