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
