"""The registered orders: the one place an order is let in, versioned, revoked or kept out.

An order is admitted only when it validates as usable and the engine can
compile it alone; one that cannot be loaded from storage is quarantined, so
one bad order never stops the others. Every registration and revocation is a
new version (stored by the caller, chained as evidence).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import Any

from emon.engine.orders_index import compile_order
from emon.geofence.validation import Report, validate
from emon.orders import Order, OrderFormatError, parse_order
from emon.review.alert_load import Watched
from emon.storage import Store

log = logging.getLogger("emon.orders")


@dataclass
class Registered:
    order: Order
    body: dict[str, Any]
    version: int
    report: Report

    @functools.cached_property
    def watched(self) -> Watched:
        """The order's share of the fleet for the alert-load figures, worked
        out once (reading its times for 100,000 orders on every scrape of
        /metrics took over a second)."""
        o = self.order
        devices = len(set(o.tracked_device_ids))
        return Watched(o.order_id, o.risk, devices, o.valid_from_ms, o.valid_until_ms)


def enforceable_alone(order: Order) -> None:
    """Compile one order as the engine would (zones, devices, timers), so that
    an order the engine cannot take is refused before it joins the others."""
    compile_order(order)
    int(order.silence_limit_ms)


@dataclass
class OrderBook:
    store: Store
    orders: dict[str, Registered] = field(default_factory=dict)
    #: orders that could not be loaded or built, by id, with the reason
    quarantined: dict[str, str] = field(default_factory=dict)
    _versions: dict[str, int] | None = None

    def admit(self, body: dict[str, Any]) -> tuple[Report, Registered | None]:
        """Register or replace an order: its report, and the registration
        (None when it is unusable). OrderFormatError when it cannot be read."""
        report = validate(body)
        if not report.usable:
            return report, None
        order = parse_order(body)
        try:
            enforceable_alone(order)
        except Exception as exc:  # a shape the engine cannot compile: refused, never stored
            raise OrderFormatError(f"the engine cannot enforce this order: {exc}") from exc
        self.quarantined.pop(order.order_id, None)
        registered = Registered(order, body, self.next_version(order.order_id), report)
        self.orders[order.order_id] = registered
        return report, registered

    def revoke(self, order_id: str) -> tuple[Registered, int] | None:
        """The revoked registration and the version that records the revocation."""
        registered = self.orders.pop(order_id, None)
        if registered is None:
            return None
        return registered, self.next_version(order_id)

    def load(self, stored: dict[str, Any], version: int | None = None) -> str | None:
        """An order as storage holds it (at start-up): registered, or
        quarantined (the reason returned, and kept in ``quarantined``). It is
        compiled once, by the engine's build: one that fails there is
        quarantined then (``find_unbuildable``), and the rest are enforced."""
        body = {k: v for k, v in stored.items() if k != "_warnings"}
        try:
            order = parse_order(body)
        except Exception as exc:  # stored by an older version: the rest still start
            reason = f"could not be loaded: {exc}"
            self.quarantine(str(body.get("order_id")), reason)
            return reason
        version = version or self.known_versions().get(order.order_id, 1)
        # the findings were kept at registration: no need to validate again
        report = (
            Report.stored(order.order_id, stored["_warnings"])
            if "_warnings" in stored
            else validate(body)
        )
        self.orders[order.order_id] = Registered(order, body, version, report)
        return None

    def apply(self, order_id: str, record: dict[str, Any] | None, version: int) -> bool:
        """A version registered (``record``) or revoked (None) by another worker
        of the cluster, which stored it: taken here unless already known."""
        versions = self.known_versions()
        if version <= versions.get(order_id, 0):
            return False
        versions[order_id] = version
        if record is None:
            self.orders.pop(order_id, None)
        else:
            self.load(record, version)
        return True

    def quarantine(self, order_id: str, reason: str) -> None:
        self.orders.pop(order_id, None)
        self.quarantined[order_id] = reason
        log.error("order %s is not enforced: %s", order_id, reason)

    def find_unbuildable(self) -> dict[str, str]:
        """Orders the engine cannot compile (none registered now can; stored
        ones from older versions might), quarantined here, by id."""
        found = {}
        for order_id, registered in list(self.orders.items()):
            try:
                enforceable_alone(registered.order)
            except Exception as exc:
                found[order_id] = f"could not be built: {exc}"
                self.quarantine(order_id, found[order_id])
        return found

    def order_of(self, order_id: str) -> Order | None:
        registered = self.orders.get(order_id)
        return registered.order if registered else None

    def next_version(self, order_id: str) -> int:
        """Every registration and revocation is a new version of the order."""
        versions = self.known_versions()
        versions[order_id] = versions.get(order_id, 0) + 1
        return versions[order_id]

    def known_versions(self) -> dict[str, int]:
        if self._versions is None:
            self._versions = self.store.order_versions()
        return self._versions
