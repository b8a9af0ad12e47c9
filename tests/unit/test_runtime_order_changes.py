"""The service takes order changes in place, and builds anew only should that fail."""

from __future__ import annotations

from emon.engine import Engine
from emon.timeutil import now_ms
from tests.unit.test_hostile_input import other, runtime_on


def test_registrations_and_revocations_change_the_running_engine(tmp_path):
    runtime = runtime_on(tmp_path)
    runtime.put_order(other("OM-a"))
    engine = runtime.current_engine()
    runtime.put_order(other("OM-b"))
    assert runtime.current_engine() is engine  # in place, not rebuilt
    assert {"am-OM-a", "am-OM-b"} <= set(engine.devices.index)
    runtime.tick(now_ms() + 3 * 3600_000)  # both orders' devices silent for hours
    lost = {a["device_id"] for a in runtime.alerts.values() if a["type"] == "signal_lost"}
    assert {"am-OM-a", "vd-OM-a", "am-OM-b"} <= lost
    assert runtime.revoke_order("OM-a")
    runtime.tick(now_ms() + 3 * 3600_000 + 1000)
    assert runtime.current_engine() is engine and "am-OM-a" not in engine.devices.index
    ended = {a["device_id"]: a["ended_at"] is not None for a in runtime.alerts.values()
             if a["type"] == "signal_lost"}  # fmt: skip
    assert ended["am-OM-a"] and ended["vd-OM-a"] and not ended["am-OM-b"]


def test_should_a_change_fail_in_place_the_engine_is_built_anew(tmp_path, monkeypatch):
    runtime = runtime_on(tmp_path)
    runtime.put_order(other("OM-a"))
    engine = runtime.current_engine()

    def fails(*_: object) -> None:
        raise RuntimeError("a fault no check foresaw")

    monkeypatch.setattr(engine, "change_orders", fails)
    runtime.put_order(other("OM-b"))
    rebuilt = runtime.current_engine()
    assert rebuilt is not engine and isinstance(rebuilt, Engine)
    assert {"am-OM-a", "am-OM-b"} <= set(rebuilt.devices.index)
    assert rebuilt.clock == engine.clock
