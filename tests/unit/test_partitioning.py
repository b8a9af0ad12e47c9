"""Partitions by protection group, and the lease plan that shares them out.

Every worker must compute the same map from the same orders (a device's
messages reach one owner without asking anyone), a group never spans two
partitions (its contact bans need all its devices), and workers taking the
plan's steps in any order end with every partition held by exactly one.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from emon.cluster.partitioning import (
    PartitionMap,
    fair_share,
    group_keys,
    partition_of,
    plan,
)
from emon.cluster.shard import Shard
from emon.orders import parse_order
from simulators.scenarios import ROTTERDAM, base_order


def _order(order_id: str, offender: str, victims: list[str]):
    body = base_order(ROTTERDAM)
    body["order_id"] = order_id
    body["offender"]["device_id"] = offender
    body["victims"] = [dict(body["victims"][0], device_id=v, person_id=f"P-{v}") for v in victims]
    return parse_order(body)


def test_the_partition_of_a_key_is_fixed_not_salted_per_process():
    """Python's own ``hash`` of a str differs per process; every worker must agree."""
    assert partition_of("am-7", 32) == 10
    assert partition_of("OM-1", 1000) == 304


def test_orders_sharing_a_device_are_one_group_in_one_partition():
    orders = [
        _order("OM-1", "am-1", ["vd-1"]),
        _order("OM-2", "am-2", ["vd-1"]),  # a second offender against the same victim
        _order("OM-3", "am-3", ["vd-3"]),
    ]
    keys = group_keys(orders)
    assert keys["am-1"] == keys["am-2"] == keys["vd-1"] == "am-1"
    assert keys["am-3"] == keys["vd-3"] == "am-3"
    mapping = PartitionMap.of(orders, 16)
    assert len({mapping.device(d) for d in ("am-1", "am-2", "vd-1")}) == 1
    assert mapping.order(orders[1]) == mapping.device("vd-1")
    # a device in no order goes by its own id
    assert mapping.device("am-unknown") == partition_of("am-unknown", 16)


@given(st.lists(st.tuples(st.integers(0, 20), st.lists(st.integers(0, 20), max_size=3)),
                max_size=15))  # fmt: skip
def test_the_map_does_not_depend_on_the_order_orders_come_in(links):
    orders = [_order(f"OM-{i}", f"d{o}", [f"d{v}" for v in vs if v != o])
              for i, (o, vs) in enumerate(links)]  # fmt: skip
    forwards, backwards = group_keys(orders), group_keys(list(reversed(orders)))
    assert forwards == backwards
    for order in orders:  # every device of an order in the order's group
        devices = [order.offender.device_id] + [v.device_id for v in order.victims]
        assert len({forwards[d] for d in devices}) == 1


@given(st.integers(1, 64), st.lists(st.text("abcdef", min_size=1, max_size=4), min_size=1,
                                    max_size=10, unique=True))  # fmt: skip
def test_fair_shares_add_up_to_every_partition(count, workers):
    shares = [fair_share(w, workers, count) for w in workers]
    assert sum(shares) == count
    assert max(shares) - min(shares) <= 1


@settings(max_examples=200)
@given(
    st.integers(1, 24),
    st.lists(st.text("abcdef", min_size=1, max_size=3), min_size=1, max_size=5, unique=True),
    st.randoms(use_true_random=False),
)
def test_workers_stepping_in_any_order_end_with_one_owner_per_partition(count, workers, rnd):
    """The KV bucket as a dict: create fails if the key is there, delete frees it."""
    owners: dict[int, str] = {}
    for _ in range(6 * len(workers) + 6):
        me = rnd.choice(workers)
        step = plan(me, workers, owners, count)
        for p in step.release:
            assert owners.pop(p) == me  # only what it holds
        for p in step.claim:
            assert p not in owners  # only what is free
            owners[p] = me
    # everything is held, each partition by one worker, shares even
    for me in workers:  # a last round: nothing left to do
        step = plan(me, workers, owners, count)
        for p in step.release:
            owners.pop(p)
        for p in step.claim:
            owners[p] = me
    assert sorted(owners) == list(range(count))
    held = [sum(1 for o in owners.values() if o == w) for w in workers]
    assert held == [fair_share(w, workers, count) for w in workers]


def test_a_dead_workers_partitions_are_claimed_by_the_living():
    owners = {p: ("a" if p < 4 else "b") for p in range(8)}
    lapsed = {p: o for p, o in owners.items() if o == "a"}  # "b" died: its leases lapsed
    step = plan("a", ["a"], lapsed, 8)
    assert step.claim == (4, 5, 6, 7) and step.release == ()


def test_a_service_alone_holds_everything_without_a_map():
    shard = Shard()
    assert shard.whole
    assert shard.owns_topic("emon/v1/fix/anything") and shard.owns_device("x")
    held = Shard(8, {0, 1})
    held.remap([_order("OM-1", "am-1", ["vd-1"])])
    expected = held.of_device("am-1") in {0, 1}
    assert held.owns_topic("emon/v1/fix/am-1") is expected
    assert held.owns_topic("emon/v1/fix/vd-1") is expected  # the victim goes with him
    assert held.of_topic("owntracks/jane/phone") == partition_of("owntracks/jane/phone", 8)
