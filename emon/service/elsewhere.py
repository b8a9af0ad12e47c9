"""What a worker asks of the other workers of a cluster, as the runtime sees
it (emon/service/peers.py answers it over NATS; a service alone has none)."""

from __future__ import annotations

from typing import Any, Protocol

from emon.alerts.model import ShownAlert
from emon.service.auth import Principal


class Peers(Protocol):
    """The other workers of a cluster, as this one reaches them (emon/service/cluster.py)."""

    def recorded(self, shown: ShownAlert) -> None:
        """An alert change recorded here (the others show it too)."""

    def order_changed(self, order_id: str, record: dict[str, Any] | None, version: int) -> None:
        """An order version registered (its record) or revoked (None) here."""

    def act(
        self, alert_id: str, action: str, note: str, actor: str, extra: dict[str, Any]
    ) -> dict[str, Any]:
        """An operator's action on an alert another worker holds: taken there."""

    def case(self, alert_id: str, who: Principal) -> dict[str, Any]:
        """An alert's case view, made where it is held (with its notifications)."""

    def boards(self) -> tuple[list[dict[str, Any]], list[str]]:
        """The device rows the others hold, and the workers that did not answer."""


class ElsewhereUnavailable(Exception):
    """The worker that holds an alert did not answer (a cluster in the middle
    of a handover): the action is not taken; the caller may try again."""


__all__ = ["ElsewhereUnavailable", "Peers"]
