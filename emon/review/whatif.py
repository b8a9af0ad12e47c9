"""Replay a stored period with other thresholds: what would have been raised?

The supervisor or the OM asks "with a 1,500 m contact ban, or with three
confirming fixes instead of two, what would emon have said?". The stored raw
messages of the period go through two engines, one as configured and one
changed, and the alerts are matched by order, type and subject with
overlapping time.
"""

from __future__ import annotations

import copy
from typing import Any

from emon.alerts.model import AlertChange
from emon.engine import Engine, Message, Policy, policy_from
from emon.orders import parse_order
from emon.timeutil import Millis

BATCH = 5000
#: the end of an alert still open, for matching
FOREVER: Millis = 2**62


#: what a what-if may change: the order's thresholds, never who is who or
#: where a zone lies (a patched geometry or a swapped device turned what-if
#: into a probe for the victim's whereabouts)
PATCHABLE_ZONE = frozenset({"radius_m", "prealert_m", "schedule"})
PATCHABLE_CONTACT_BAN = frozenset({"distance_m", "prealert_m"})
PATCHABLE = frozenset({"zones", "contact_ban", "max_silence_s"})


def patched_order(body: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """The order with thresholds changed: ``{"zones": {"Z-1": {"radius_m":
    1500}}, "contact_ban": {"distance_m": 1500}, "max_silence_s": 300}``.
    Anything else (geometry, devices, victims, new zones) is refused."""
    unknown = set(patch) - PATCHABLE
    if unknown:
        raise ValueError(f"a what-if may not change {sorted(unknown)}; only {sorted(PATCHABLE)}")
    out = copy.deepcopy(body)
    zones = patch.get("zones", {})
    if not isinstance(zones, dict):
        raise ValueError('zones: expected {"ZONE_ID": {"radius_m": ...}}')
    changes = {z: _only(c, PATCHABLE_ZONE, f"zones.{z}") for z, c in zones.items()}
    for zone in out.get("zones", []):  # zones by id; an id the order lacks adds nothing
        zone.update(changes.get(zone["zone_id"], {}))
    if "contact_ban" in patch:
        ban = _only(patch["contact_ban"], PATCHABLE_CONTACT_BAN, "contact_ban")
        if isinstance(out.get("contact_ban"), dict):  # nor does a ban the order lacks
            out["contact_ban"].update(ban)
    if "max_silence_s" in patch:
        out["max_silence_s"] = patch["max_silence_s"]
    return out


def _only(change: Any, allowed: frozenset[str], label: str) -> dict[str, Any]:
    if not isinstance(change, dict) or set(change) - allowed:
        raise ValueError(f"{label}: only {sorted(allowed)} may change")
    return change


def run(
    orders: list[dict[str, Any]],
    messages: list[tuple[int, str, bytes]],
    start: Millis,
    end: Millis,
    policy: Policy,
) -> list[AlertChange]:
    """The final state of every alert a replay of the messages raises."""
    engine = Engine([parse_order(o) for o in orders], policy=policy, start=start)
    final: dict[str, AlertChange] = {}
    for k in range(0, len(messages), BATCH):
        batch = [Message(r, t, p) for r, t, p in messages[k : k + BATCH]]
        for alert in engine.handle_batch(batch).alerts:
            final[alert.alert_id] = alert
    for alert in engine.advance(end).alerts:
        final[alert.alert_id] = alert
    return sorted(final.values(), key=lambda a: a.started_at)


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
    variant = run(variant_orders, messages, start, end, policy_from(changes))
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


def _match(alert: AlertChange, candidates: list[AlertChange]) -> AlertChange | None:
    for other in candidates:
        if _what(other) != _what(alert):
            continue
        if other.started_at <= _finish(alert) and alert.started_at <= _finish(other):
            return other
    return None


def _what(alert: AlertChange) -> tuple[str, str, str | None, str]:
    return (alert.order_id, alert.type, alert.zone_id, alert.device_id)


def _finish(alert: AlertChange) -> Millis:
    return FOREVER if alert.ended_at is None else alert.ended_at


def _brief(alert: AlertChange) -> dict[str, Any]:
    data = alert.to_json()
    keys = ("type", "severity", "order_id", "zone_id", "device_id", "started_at", "ended_at")
    return {k: data.get(k) for k in keys}
