"""The device health board: every device of an active order, the worst first.

Operators must see a failing device before it becomes a missed alert: a cut
strap, a shielded or silent device, a battery about to die. Nothing here
reveals a position.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from emon.alerts.kinds import KINDS
from emon.alerts.types import AlertType
from emon.engine import Engine
from emon.engine.devices import NONE_TS
from emon.engine.orders_index import CompiledOrder
from emon.timeutil import Millis

#: how much each problem weighs when ordering the board
WEIGHTS: dict[str, int] = {
    **{k.type: k.board_weight for k in KINDS.values() if k.board_weight is not None},
    "no_fix_yet": 400,
    "fix_overdue": 200,
    "poor_accuracy": 50,
}
#: a fix older than this share of the order's max silence is overdue
OVERDUE_SHARE = 0.5
POOR_ACCURACY_M = 100.0
BATTERY_LOW_PCT = 15.0
#: the open alerts that are a device's problems on the board (a lost signal: the engine's own)
_DEVICE_ALERTS = tuple(
    k.type for k in KINDS.values() if k.board_weight and k.type != AlertType.SIGNAL_LOST
)


def device_health(
    engine: Engine, alerts: Iterable[dict[str, Any]], now: Millis
) -> list[dict[str, Any]]:
    open_device_alerts = {
        (a["device_id"], a["type"])
        for a in alerts
        if a["type"] in _DEVICE_ALERTS and a.get("ended_at") is None and a["state"] != "resolved"
    }
    rows = [
        _row(engine, order, dev, role, open_device_alerts, now)
        for order in engine.index.orders.values()
        if order.active_at(now)
        for dev, role in _devices_of(order)
    ]
    rows.sort(key=board_order)
    return rows


def board_order(row: dict[str, Any]) -> tuple[float, float]:
    """The worst first: the heaviest problems, then the longest without a fix."""
    return (-row["score"], -(row["last_fix_age_s"] or 0))


def _devices_of(order: CompiledOrder) -> Iterator[tuple[int, str]]:
    if order.offender is not None:
        yield order.offender, "offender"
    for victim in order.victims:
        yield victim, "victim"


def _row(
    engine: Engine,
    order: CompiledOrder,
    dev: int,
    role: str,
    open_device_alerts: set[tuple[str, str]],
    now: Millis,
) -> dict[str, Any]:
    devices = engine.devices
    device_id = devices.ids[dev]
    last_ts = int(devices.last_ts[dev])
    battery = float(devices.battery[dev])
    accuracy = float(devices.hist_acc[dev, -1]) if last_ts != NONE_TS else None
    age_s = (now - last_ts) / 1000 if last_ts != NONE_TS else None
    problems: list[str] = [k for k in _DEVICE_ALERTS if (device_id, k) in open_device_alerts]
    if bool(engine.silence.lost[dev]):
        problems.append(AlertType.SIGNAL_LOST)
    if age_s is None:
        problems.append("no_fix_yet")
    elif age_s > OVERDUE_SHARE * order.silence_ms / 1000:
        problems.append("fix_overdue")
    if battery == battery and battery <= BATTERY_LOW_PCT and AlertType.BATTERY_LOW not in problems:
        problems.append(AlertType.BATTERY_LOW)
    if accuracy is not None and accuracy > POOR_ACCURACY_M:
        problems.append("poor_accuracy")
    return {
        "device_id": device_id,
        "role": role,
        "order_id": order.order.order_id,
        "case_id": order.order.case_id,
        "risk": order.order.risk,
        "battery_pct": None if battery != battery else round(battery, 1),
        "last_fix_age_s": None if age_s is None else round(age_s, 1),
        # any message counts as contact (a panic, an acknowledgement); fixes apart
        "last_contact_age_s": round((now - int(devices.last_heard[dev])) / 1000, 1),
        "accuracy_m": None if accuracy is None else round(accuracy, 1),
        "problems": problems,
        "score": sum(WEIGHTS[p] for p in problems),
    }
