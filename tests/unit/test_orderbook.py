"""The order book: what is let in, versioned, revoked, or kept out."""

from __future__ import annotations

import copy
import json
import math

import pytest

from emon.orders import OrderFormatError
from emon.service.orderbook import OrderBook
from emon.storage import SqliteStore
from simulators.scenarios import ROTTERDAM, base_order

ORDER = base_order(ROTTERDAM)


@pytest.fixture
def book(tmp_path):
    store = SqliteStore(tmp_path / "emon.db")
    store.migrate()
    return OrderBook(store)


def test_each_registration_and_revocation_is_a_new_version(book):
    _, first = book.admit(ORDER)
    _, second = book.admit(ORDER)
    assert (first.version, second.version) == (1, 2)
    registered, version = book.revoke(ORDER["order_id"])
    assert version == 3 and registered is second and ORDER["order_id"] not in book.orders
    assert book.revoke(ORDER["order_id"]) is None


def test_an_unusable_order_is_not_registered_and_an_unreadable_one_raises(book):
    broken = copy.deepcopy(ORDER)
    broken["valid_until"] = broken["valid_from"]
    report, registered = book.admit(broken)
    assert registered is None and not report.usable and not book.orders
    with pytest.raises(OrderFormatError):
        book.admit(dict(ORDER, max_silence_s=-1))


def test_a_stored_order_that_no_longer_loads_is_quarantined_not_fatal(book):
    reason = book.load(dict(ORDER, max_silence_s=math.inf))
    assert reason and "loaded" in reason and ORDER["order_id"] in book.quarantined
    assert book.load(json.loads(json.dumps(ORDER))) is None
    assert book.order_of(ORDER["order_id"]).order_id == ORDER["order_id"]
    _, again = book.admit(ORDER)
    assert again is not None and ORDER["order_id"] not in book.quarantined
