"""Commands to devices through the API: an operator asks a device to report
every few seconds until a time, or to report now (the contract's
``emon/v1/cmd/{device_id}``); audited like every act on a person's device."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException

from emon.alerts.commands import CommandError, message
from emon.alerts.delivery import Outgoing
from emon.cluster.partitioning import order_devices as devices
from emon.service.deps import CommandDevices
from emon.service.runtime import Runtime
from emon.timeutil import TimestampError, now_ms, parse_ts

CommandBody = Annotated[
    dict[str, Any],
    Body(description='{"command": "report_now"} or {"command": "report_interval", '
                     '"interval_s": 5, "until": "<RFC 3339>"}'),
]  # fmt: skip


def devices_router(runtime: Runtime) -> APIRouter:
    router = APIRouter()

    @router.post("/api/v1/devices/{device_id:path}/commands")
    def command(device_id: str, body: CommandBody, who: CommandDevices) -> dict[str, Any]:
        if device_id not in {d for order in runtime.registered_orders() for d in devices(order)}:
            raise HTTPException(404, f"no device {device_id} in any order")
        request = dict(body)
        if "until" in request:
            try:
                request["until"] = parse_ts(str(request["until"]))
            except TimestampError as exc:
                raise HTTPException(422, f"until: {exc}") from exc
        try:
            sent = runtime.delivery.commands.ask(device_id, request, now_ms())
        except CommandError as exc:
            raise HTTPException(422, str(exc)) from exc
        runtime.send(Outgoing(*message(sent)))
        runtime.audit(who, "device_command", device_id, str(sent.body["command"]))
        return sent.body

    return router
