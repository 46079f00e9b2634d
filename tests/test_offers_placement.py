"""Placement behaviour a user notices: where tasks go, and why the others did not."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offers.placement import HASHED_BATCH, _numbered, place
from offers.task import SLA
from tests.builders import cluster, node, task


def hosts(placement):
    return [r.hostname for r in placement.rows()]


def test_binpack_fills_few_nodes_and_spread_uses_them_all():
    c = cluster(*(node(f"n{i}", cpus=4, mem=4096) for i in range(4)))
    work = [task(f"t{i}", cpus=1, mem=512) for i in range(8)]
    assert place(c, work, strategy="binpack").nodes_used == 2
    spread = place(c, work, strategy="spread")
    assert spread.nodes_used == 4
    assert sorted(hosts(spread).count(h) for h in c.hostnames) == [2, 2, 2, 2]


def test_binpack_prefers_nodes_that_are_already_busy():
    nodes = [node("empty", cpus=4), node("busy", cpus=4)]
    c = cluster(*nodes)
    c = type(c).from_nodes(nodes, free=[[4, 4096, 10_000], [1, 4096, 10_000]])
    assert hosts(place(c, [task("a", cpus=1)], strategy="binpack")) == ["busy"]
    assert hosts(place(c, [task("a", cpus=1)], strategy="spread")) == ["empty"]


def test_first_fit_follows_cluster_order_and_input_order_is_priority():
    c = cluster(node("a", cpus=1), node("b", cpus=1))
    out = place(c, [task("first", cpus=1), task("second", cpus=1), task("third", cpus=1)],
                strategy="first-fit")
    assert hosts(out) == ["a", "b", None]


def test_random_is_repeatable_for_a_seed_and_varies_between_seeds():
    c = cluster(*(node(f"n{i}", cpus=64) for i in range(50)))
    work = [task(f"t{i}", cpus=0.1) for i in range(40)]
    runs = {seed: hosts(place(c, work, strategy="random", seed=seed)) for seed in range(4)}
    assert runs[0] == hosts(place(c, work, strategy="random", seed=0))
    assert len({tuple(v) for v in runs.values()}) > 1


def test_intelligence_sizes_tasks_by_metered_usage_plus_a_margin():
    c = cluster(node("n0", cpus=8, mem=1000), node("n1", cpus=8, mem=1000))
    # Twelve tasks asking 100 MiB each, having used 20: by request they need both nodes.
    work = [task(f"sim{i}", mem=100) for i in range(12)]
    usage = {f"sim{i}": (0.05, 20.0) for i in range(12)}
    by_request = place(c, work, strategy="binpack")
    by_usage = place(c, work, strategy="intelligence", usage=usage)
    assert by_request.placed == by_usage.placed == 12
    assert by_request.nodes_used == 2 and by_usage.nodes_used == 1
    assert by_usage.free_after[0, 1] == pytest.approx(1000 - 12 * 22.0)


def test_one_per_node_runs_once_on_every_eligible_node_and_says_where_it_could_not():
    c = cluster(node("lab1", nodetype="lab", mem=4096), node("lab2", nodetype="lab", mem=100),
                node("ana", nodetype="analytics"))
    out = place(c, [task("cadvisor", mem=200, sla="one-per-node", nodetype="lab")])
    rows = list(out.rows())
    assert [(r.instance, r.hostname) for r in rows if r.hostname] == [(0, "lab1")]
    (missing,) = [r for r in rows if r.hostname is None]
    assert missing.reason == "lab2: needs 200 MiB mem, 100 MiB free"


def test_one_per_node_fills_only_the_nodes_it_is_missing_on():
    c = cluster(node("a"), node("b"), node("c"))
    out = place(c, [task("agent", sla="one-per-node")], running={"agent": {"b"}})
    assert sorted(h for h in hosts(out) if h) == ["a", "c"]


def test_a_singleton_is_placed_once_and_never_while_it_runs():
    c = cluster(node("a"), node("b"))
    twice = place(c, [task("db", sla=SLA.SINGLETON), task("db", sla=SLA.SINGLETON)])
    assert [r.reason_code for r in twice.rows()] == [None, "singleton-duplicate"]
    running = place(c, [task("db", sla=SLA.SINGLETON)], running={"db": {"b"}})
    (row,) = running.rows()
    assert row.hostname is None and row.reason == "singleton db already runs on b"


def test_a_host_port_is_given_once_per_node():
    c = cluster(node("a"), node("b"), used_ports={"b": [31600]})
    web = [task(f"web{i}", ports=[{"host_port": 31500, "container_port": 80}]) for i in range(3)]
    assert sorted(map(str, hosts(place(c, web)))) == ["None", "a", "b"]
    other = place(c, [task("x", ports=[{"host_port": 31600, "container_port": 80}])])
    assert hosts(other) == ["a"]


@pytest.mark.parametrize(("nodes", "spec", "reason"), [
    ([node("node-1", mem=1024), node("node-7", mem=2048)], task("big", mem=4096),
     "needs 4096 MiB mem; the largest free on an eligible node is 2048 (node-7) "
     "[0/2 nodes: 2 insufficient mem]"),
    ([node("a", nodetype="lab")], task("influx", nodetype="analytics"),
     "no node with nodetype=analytics"),
    ([node("a", nodetype="lab"), node("b", nodetype="analytics", cpus=1)],
     task("x", cpus=2, nodetype="analytics"),
     "needs 2 cpus; the largest free on an eligible node is 1 (b) "
     "[0/2 nodes: 1 insufficient cpus, 1 nodetype mismatch]"),
    ([node("a", ports="31000-31100")], task("x", ports=[{"host_port": 31500, "container_port": 1}]),
     "host port 31500 is outside the port range of every eligible node"),
    ([node("a", cpus=1, mem=4096), node("b", cpus=4, mem=100)], task("x", cpus=2, mem=1000),
     "no eligible node has 2 cpus, 1000 MiB mem free at once "
     "[0/2 nodes: 1 insufficient cpus, 1 insufficient mem]"),
    ([], task("x"), "no nodes to place on"),
])
def test_unplaced_tasks_get_a_reason_a_person_can_act_on(nodes, spec, reason):
    (row,) = place(cluster(*nodes), [spec]).rows()
    assert row.hostname is None
    assert row.reason == reason


def test_a_taken_port_is_named_when_it_blocks_every_eligible_node():
    c = cluster(node("a"), used_ports={"a": [31500]})
    (row,) = place(c, [task("x", ports=[{"host_port": 31500, "container_port": 1}])]).rows()
    assert row.reason == "host port 31500 is taken on every eligible node"


def test_unplaced_counts_by_reason_and_nodes_used():
    c = cluster(node("a", cpus=1))
    out = place(c, [task("a", cpus=1), task("b", cpus=1), task("c", nodetype="gpu")])
    assert out.placed == 1 and out.nodes_used == 1
    assert out.unplaced_by_reason() == {"insufficient-cpus": 1, "nodetype": 1}


def test_an_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="unknown strategy 'best'"):
        place(cluster(node("a")), [task("x")], strategy="best")


def test_an_offer_batch_reads_back_as_the_offers_it_was_made_of():
    from offers.offer import Offer, OfferBatch, cluster_from_offers

    offers = [Offer("o1", "a1", "h1", 2.0, 512.0, 10.0, ((31000, 31010),), {"nodetype": "lab"}),
              Offer("o2", "a2", "h2", 1.0, 256.0, 0.0, ((31000, 31005),)),
              Offer("o3", "a1", "h1", 1.5, 128.0, 5.0, ((32000, 32000),), {"nodetype": "lab"})]
    batch = OfferBatch.of(offers)
    assert list(batch) == offers and OfferBatch.of(batch) is batch
    cluster, agents, row_of_offer = cluster_from_offers(batch)
    assert agents == ["a1", "a2"] and row_of_offer.tolist() == [0, 1, 0]
    assert cluster.hostnames == ("h1", "h2")
    assert cluster.total.tolist() == [[3.5, 640.0, 15.0], [1.0, 256.0, 0.0]]
    assert cluster.port_ranges[0] == ((31000, 31010), (32000, 32000))
    assert [cluster.nodetypes[c] if c >= 0 else None for c in cluster.nodetype] == ["lab", None]


@settings(max_examples=60)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=50), st.booleans())
def test_key_objects_are_numbered_one_number_each(pattern, colliding):
    # Addresses apart by a multiple of the hash's span share a slot: numbered by a sort.
    picks = np.resize(pattern, HASHED_BATCH)  # a batch big enough to be hashed
    step = 16 << 16 if colliding else 16
    addresses = (0x7F0000000000 + step * picks).astype(np.intp)
    number = _numbered(addresses)
    pairs = set(zip(addresses.tolist(), number.tolist(), strict=True))
    assert len(pairs) == len(set(pattern)) == len(set(number.tolist()))
