"""A device agent shows a notification once, however often it comes."""

from __future__ import annotations

from devices.agent import SEEN_LIMIT, DeviceAgent


def test_a_repeated_notification_id_is_shown_once_and_old_ids_are_forgotten():
    agent = DeviceAgent("vd-1", lambda now: (52.0, 4.0, 5.0))
    note = {"notification_id": "n-1", "level": "alert", "text": "Danger"}
    assert agent.first_time(note)
    assert not agent.first_time(dict(note))  # sent again by the worker that took over
    assert agent.first_time({**note, "notification_id": "n-2"})
    for k in range(SEEN_LIMIT):
        agent.first_time({**note, "notification_id": f"x-{k}"})
    assert agent.first_time(note)  # long forgotten: memory stays bounded


def test_a_device_reports_as_often_as_the_centre_asks_until_it_stops_asking():
    from devices.ankle_monitor import AnkleMonitor
    from emon.timeutil import format_ts

    agent = DeviceAgent("vd-1", lambda now: (52.0, 4.0, 5.0), interval_s=30.0)
    agent.on_command({"command_id": "c-1", "command": "report_interval", "interval_s": 5,
                      "until": format_ts(1_000_000)})  # fmt: skip
    assert agent.current_interval(900.0) == 5.0 and agent.current_interval(1001.0) == 30.0
    assert agent._report_now.is_set()  # the new interval starts now
    agent._report_now.clear()
    agent.on_command({"command_id": "c-2", "command": "report_now"})
    assert agent._report_now.is_set()
    agent.on_command({"command_id": "c-3", "command": "report_interval", "interval_s": "x"})
    assert agent.commanded == (5.0, 1000.0)  # a command it cannot read changes nothing
    monitor = AnkleMonitor("am-1", lambda now: (52.0, 4.0, 5.0), interval_s=30.0)
    monitor.on_command({"command_id": "c-4", "command": "report_interval", "interval_s": 2,
                        "until": format_ts(1_000_000)})  # fmt: skip
    assert monitor.current_interval(900.0) == 2.0
