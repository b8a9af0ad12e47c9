"""Replay a stored period with other thresholds: what would have been raised?

The supervisor or the OM asks "with a 1,500 m contact ban, or with three
confirming fixes instead of two, what would emon have said?". The stored raw
messages of the period go through two engines, one as configured and one
changed, and the alerts are matched by order, type and subject with
overlapping time.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from emon.engine.base import Message
from emon.engine.core import Engine
from emon.engine.policy import Policy
from emon.orders import parse_order
from emon.timeutil import Millis, parse_ts

BATCH = 5000


def patched_order(body: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A JSON merge patch (RFC 7386), except that ``zones`` is patched per
    zone id: ``{"zones": {"Z-1": {"radius_m": 1500}}}``."""
    out = copy.deepcopy(body)
    for key, value in patch.items():
        if key == "zones" and isinstance(value, dict):
            for zone in out.get("zones", []):
                zone.update(value.get(zone["zone_id"], {}))
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = patched_order(out[key], value)
        elif value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def policy_with(changes: dict[str, Any]) -> Policy:
    fields = {f.name: f.type for f in dataclasses.fields(Policy)}
    unknown = set(changes) - set(fields)
    if unknown:
        raise ValueError(f"unknown thresholds {sorted(unknown)}; known: {sorted(fields)}")
    values: dict[str, Any] = {
        k: int(v) if fields[k] in ("int", int) else float(v) for k, v in changes.items()
    }
    return dataclasses.replace(Policy(), **values)


def run(
    orders: list[dict[str, Any]],
    messages: list[tuple[int, str, bytes]],
    start: Millis,
    end: Millis,
    policy: Policy,
) -> list[dict[str, Any]]:
    """The final state of every alert a replay of the messages raises."""
    engine = Engine([parse_order(o) for o in orders], policy=policy, start=start)
    final: dict[str, dict[str, Any]] = {}
    for k in range(0, len(messages), BATCH):
        batch = [Message(r, t, p) for r, t, p in messages[k : k + BATCH]]
        for alert in engine.handle_batch(batch):
            final[alert["alert_id"]] = alert
    for alert in engine.advance(end):
        final[alert["alert_id"]] = alert
    return sorted(final.values(), key=lambda a: a["started_at"])


def compare(
    orders: list[dict[str, Any]],
    messages: list[tuple[int, str, bytes]],
    start: Millis,
    end: Millis,
    changes: dict[str, Any],
    patch: dict[str, Any] | None = None,
) -> dict[str, Any]:
    baseline = run(orders, messages, start, end, Policy())
    variant_orders = [patched_order(o, patch or {}) for o in orders]
    variant = run(variant_orders, messages, start, end, policy_with(changes))
    matched = {id(a): _match(a, baseline) for a in variant}
    both = [a for a in variant if matched[id(a)] is not None]
    used = {id(matched[id(a)]) for a in both}
    return {
        "thresholds": changes,
        "order_patch": patch or {},
        "messages": len(messages),
        "baseline": len(baseline),
        "variant": len(variant),
        "in_both": len(both),
        "only_with_change": [_brief(a) for a in variant if matched[id(a)] is None],
        "only_as_configured": [_brief(a) for a in baseline if id(a) not in used],
    }


def _match(alert: dict[str, Any], candidates: list[dict[str, Any]]) -> dict[str, Any] | None:
    key = (alert["order_id"], alert["type"], alert.get("zone_id"), alert["device_id"])
    for other in candidates:
        if (other["order_id"], other["type"], other.get("zone_id"), other["device_id"]) != key:
            continue
        if _start(other) <= _finish(alert) and _start(alert) <= _finish(other):
            return other
    return None


def _start(alert: dict[str, Any]) -> Millis:
    return parse_ts(alert["started_at"])


def _finish(alert: dict[str, Any]) -> Millis:
    return parse_ts(alert["ended_at"]) if alert.get("ended_at") else 2**62


def _brief(alert: dict[str, Any]) -> dict[str, Any]:
    keys = ("type", "severity", "order_id", "zone_id", "device_id", "started_at", "ended_at")
    return {k: alert.get(k) for k in keys}
