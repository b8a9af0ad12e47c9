"""`emon replay`: a recorded MQTT stream through the same engine as live serving."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import msgspec

from emon.engine import Engine, Message, Outcome, Policy, RecordedTracks
from emon.geofence.zones import GeometryError, compile_shape
from emon.orders import Order, OrderFormatError, parse_order
from emon.timeutil import Millis, TimestampError, parse_ts

BATCH_LINES = 2048


class _Line(msgspec.Struct):
    recv: str
    topic: str
    payload: msgspec.Raw


_line_decoder = msgspec.json.Decoder(_Line)
_str_decoder = msgspec.json.Decoder(str)
_encoder = msgspec.json.Encoder()


class UsageError(Exception):
    """Arguments or files that cannot be used at all (exit status 2)."""


@dataclass
class ReplayReport:
    lines: int = 0
    alerts_written: int = 0
    bad_lines: Counter[str] = field(default_factory=Counter)
    skipped_orders: list[str] = field(default_factory=list)


def load_orders(path: Path, report: ReplayReport) -> list[Order]:
    try:
        raw = path.read_bytes()
        data = msgspec.json.decode(raw)
    except OSError as exc:
        raise UsageError(f"cannot read orders file {path}: {exc}") from exc
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"orders file {path} is not JSON: {exc}") from exc
    items = data if isinstance(data, list) else [data]
    orders = []
    for i, item in enumerate(items):
        try:
            order = parse_order(item)
            for zone in order.zones:
                compile_shape(zone.geometry, zone.radius_m)
        except (OrderFormatError, GeometryError) as exc:
            report.skipped_orders.append(f"order #{i}: {exc}")
            continue
        orders.append(order)
    return orders


def read_stream(handle: IO[bytes], report: ReplayReport) -> Iterator[Message]:
    """Stream lines to messages; a bad line is counted, never fatal."""
    for raw in handle:
        report.lines += 1
        if not raw.strip():
            continue
        try:
            line = _line_decoder.decode(raw)
            recv = parse_ts(line.recv)
        except (msgspec.DecodeError, UnicodeDecodeError, TimestampError):
            report.bad_lines["unreadable_line"] += 1
            continue
        payload = bytes(line.payload)
        if payload[:1] == b'"':
            payload = _str_decoder.decode(payload).encode("utf-8", "surrogatepass")
        yield Message(recv, line.topic, payload)


def replay(
    orders_path: Path, stream_path: Path, alerts_path: Path, until: Millis | None
) -> tuple[Engine, ReplayReport]:
    report = ReplayReport()
    orders = load_orders(orders_path, report)
    try:
        stream = stream_path.open("rb")
    except OSError as exc:
        raise UsageError(f"cannot read stream {stream_path}: {exc}") from exc
    try:
        out = alerts_path.open("wb")
    except OSError as exc:
        raise UsageError(f"cannot write alerts to {alerts_path}: {exc}") from exc
    with stream, out:
        messages = read_stream(stream, report)
        first = next(messages, None)
        start = first.recv if first else (until or 0)
        # the fixes taken, as storage holds them live: late fixes are judged
        # against the other party's whole track, in replay as live
        tracks = RecordedTracks(int(Policy().late_track_horizon_s * 1000))
        engine = Engine(orders, start=start, keep_fixes=True, tracks=tracks)

        def write(outcome: Outcome) -> int:
            tracks.record(outcome.fixes, engine.clock)
            return _write(out, outcome)

        batch: list[Message] = [] if first is None else [first]
        for message in messages:
            batch.append(message)
            if len(batch) >= BATCH_LINES:
                report.alerts_written += write(engine.handle_batch(batch))
                batch = []
        report.alerts_written += write(engine.handle_batch(batch))
        if until is not None:
            report.alerts_written += write(engine.advance(until))
    return engine, report


def _write(out: IO[bytes], outcome: Outcome) -> int:
    for alert in outcome.alerts_json():
        out.write(_encoder.encode(alert) + b"\n")
    return len(outcome.alerts)


def summary(engine: Engine, report: ReplayReport) -> str:
    stats = engine.stats
    lines = [
        f"replayed {report.lines} lines: {stats['messages']} messages, {stats['fixes']} fixes, "
        f"{stats['events']} events, {stats['acks']} acks; {report.alerts_written} alert records",
    ]
    if report.bad_lines:
        lines.append("bad lines: " + _counts(report.bad_lines))
    if engine.rejections.counts:
        lines.append("rejected messages: " + _counts(engine.rejections.counts))
    lines.extend(f"skipped {text}" for text in report.skipped_orders)
    return "\n".join(lines)


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{reason}={n}" for reason, n in sorted(counter.items()))


def print_summary(engine: Engine, report: ReplayReport) -> None:
    print(summary(engine, report), file=sys.stderr)
