"""Orders changing under a running engine: registered, replaced, revoked.

In place (``change_orders``), only the protection groups of the changed
orders are touched, so a registration beside 100,000 others costs what its
own order costs while fixes keep flowing. ``carry_over`` is the other way, a
new engine taking over an old one's state, kept as the fallback should a
change fail in place and as the reference the in-place change is tested
against (tests/unit/test_order_changes.py).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from emon import collector
from emon.engine.base import EngineBase
from emon.engine.episode import Episode
from emon.engine.orders_index import CompiledOrder, IndexChange
from emon.engine.outcome import Outcome
from emon.orders import Order

if TYPE_CHECKING:
    from emon.engine.core import Engine


class OrderChanges(EngineBase):
    def change_orders(self, put: Sequence[Order], drop: Iterable[str] = ()) -> Outcome:
        """Orders registered (an id already live is replaced) and revoked, in
        place: only the protection groups of these orders are touched, so a
        change costs what its orders cost, whatever the number of others.
        State carries over by device and order id as ``carry_over`` carries
        it; the open alerts of revoked orders, or of zones no longer in an
        order, end now. An order that cannot be compiled raises before
        anything changes."""
        self._change(put, drop)
        return self._outcome()

    def _change(self, put: Sequence[Order], drop: Iterable[str]) -> None:
        with collector.paused():  # a first build makes millions of objects
            self._change_paused(put, drop)

    def _change_paused(self, put: Sequence[Order], drop: Iterable[str]) -> None:
        change = self.index.change(put, drop, self.devices, self.clock)
        rows = len(self.devices)
        self.fast.grow(rows)
        self.silence.grow(rows)
        fresh = change.new_rows + change.freed_rows
        self.fast.reset(fresh)
        self.silence.reset(fresh)
        for dev in fresh:
            self._suspects.pop(dev, None)
            self._uncertain.pop(dev, None)
        self.events.forget(fresh)
        self.presence.forget(fresh)
        self.zones.put(change.zones)
        for dev in change.touched_rows:  # its zone rows may now be other zones'
            self._forget_measured(dev)
        self.fast.relink(change.touched_rows, self.index.roles)
        self.silence.watch(change.touched_rows, self.index.roles)
        self.silence.requeue(change.touched_rows, self.devices.last_recv)
        self.fast.regroup(change.regrouped)
        self._carry_episodes(change)
        for order in change.added:
            if order.valid_until > self.clock:
                heapq.heappush(self._expiries, (order.valid_until, order.index))
        for group in change.old_groups:
            self._group_orders.pop(group, None)
            self._busy_groups.discard(group)
        for order in change.regrouped:
            self._group_orders.setdefault(order.group, []).append(order.index)
            if self.episodes.busy(order.index):
                self._busy_groups.add(order.group)

    def _forget_measured(self, dev: int) -> None:
        """A suspect fix waiting for confirmation keeps its distances by zone
        table row; once rows change hands, they are measured again when used."""
        suspect = self._suspects.get(dev)
        if suspect is not None:
            self._suspects[dev] = (*suspect[:3], {})

    def _carry_episodes(self, change: IndexChange) -> None:
        """The episodes of replaced orders go on under the new version (those
        of a zone it no longer has end now); those of revoked orders end now."""
        for old in change.dropped:
            new_index = change.replaced.get(old.index)
            new = None if new_index is None else self.index.orders[new_index]
            for (_, kind, subject), episode in self.episodes.take_order(old.index):
                under = self._carried_to(episode, kind, subject, new)
                if under is not None:
                    self.episodes[(under.index, kind, subject)] = episode

    def _carried_to(
        self, episode: Episode, kind: str, subject: str, order: CompiledOrder | None
    ) -> CompiledOrder | None:
        """The order version an episode goes on under: none once the order is
        revoked, nor for a zone the new version does not have (then its open
        alert ends now)."""
        if order is not None and (
            not kind.startswith("zone") or any(z.spec.zone_id == subject for z in order.zones)
        ):
            return order
        if episode.alert is not None and episode.alert.ended_at is None:
            self._close(episode.alert, self.clock)
        return None

    def carry_over(self, old: Engine) -> Outcome:
        """Take over the live state of an engine built for an earlier set of
        orders (the way back when an order change failed in place, and the
        reference ``change_orders`` is tested against). Positions, duplicate
        windows, timers and episodes carry over by device and order id; the
        open alerts of revoked orders, or of zones no longer in an order, end
        now. Build this engine with ``start=old.clock``."""
        self.clock = old.clock
        self.stats = dict(old.stats)
        self.rejections = old.rejections
        self.decoder = old.decoder
        if self.accepted is not None and old.accepted:  # left by a call that failed
            self.accepted.extend(old.accepted)
        row_now: dict[int, int] = {}  # the old engine's device rows -> this one's
        for device_id, new in self.devices.index.items():
            before = old.devices.index.get(device_id)
            if before is None:
                continue
            row_now[before] = new
            self.devices.carry(new, old.devices, before)
            self.silence.lost[new] = old.silence.lost[before]
            self.fast.depth[new] = old.fast.depth[before]
            self.fast.depth_ts[new] = old.fast.depth_ts[before]
            if before in old._suspects:
                self._suspects[new] = old._suspects[before]
                self._forget_measured(new)  # zone rows are numbered anew
            if before in old._uncertain:
                self._uncertain[new] = old._uncertain[before]
            self.events.carry(new, old.events, before)
            self.presence.carry(new, old.presence, before)
        now_index = {c.order.order_id: c for c in self.index.orders.values()}
        for (order_index, kind, subject), episode in old.episodes.items():
            order = now_index.get(old.index.orders[order_index].order.order_id)
            under = self._carried_to(episode, kind, subject, order)
            if under is None:
                continue
            # evidence is counted by device row, and rows are numbered anew
            episode.counts = {row_now[d]: n for d, n in episode.counts.items() if d in row_now}
            self.episodes[(under.index, kind, subject)] = episode
        self.silence.rescan_from(self.clock)
        for order in self.index.orders.values():
            if self.episodes.busy(order.index):
                self._busy_groups.add(order.group)
        return self._outcome()
