"""Safety properties of the placement core over random clusters and task mixes.

Each property is checked from the output rows alone, independently of how the core works:
capacity, host ports, SLAs, nodetypes, determinism, and that no task is left unplaced
while a node that could take it still has room.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offers.cluster import ClusterState, NodeSpec
from offers.filters import EPSILON
from offers.placement import place
from offers.strategies import STRATEGIES
from offers.task import SLA, TaskSpec

NODETYPES = [None, "lab", "analytics"]
PORTS = list(range(31000, 31006)) + [40000]  # 40000 lies outside every node's range


@st.composite
def nodes(draw):
    count = draw(st.integers(0, 10))
    out = []
    for i in range(count):
        nodetype = draw(st.sampled_from(NODETYPES))
        lo = draw(st.sampled_from([31000, 31002]))
        out.append(NodeSpec(
            hostname=f"n{i}",
            cpus=draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, 4.0])),
            mem=draw(st.sampled_from([0.0, 256.0, 1000.0, 4096.0])),
            disk=draw(st.sampled_from([0.0, 100.0, 5000.0])),
            ports=((lo, lo + 4),),
            attributes={"nodetype": nodetype} if nodetype else {},
        ))
    return out


@st.composite
def shapes(draw):
    sla = draw(st.sampled_from([None, None, SLA.SINGLETON, SLA.ONE_PER_NODE]))
    host_ports = draw(st.lists(st.sampled_from(PORTS), max_size=2, unique=True))
    return dict(
        dockerimage="img",
        cpus=draw(st.sampled_from([0.1, 0.25, 0.5, 1.0, 3.0])),
        mem=draw(st.sampled_from([16.0, 100.0, 500.0, 2000.0])),
        disk=draw(st.sampled_from([0.0, 0.0, 50.0, 3000.0])),
        nodetype=draw(st.sampled_from(NODETYPES + ["gpu"])),
        sla=sla,
        ports=[{"host_port": p, "container_port": 80 + k} for k, p in enumerate(host_ports)],
    )


@st.composite
def tasks(draw):
    # Tasks share a few shapes, so classes hold many tasks, as they do in real batches.
    pool = draw(st.lists(shapes(), min_size=1, max_size=5))
    count = draw(st.integers(0, 30))
    out = []
    for i in range(count):
        shape = draw(st.sampled_from(pool))
        # A small id pool, so singletons repeat within a batch.
        task_id = f"s{draw(st.integers(0, 3))}" if shape["sla"] is SLA.SINGLETON else f"t{i}"
        out.append(TaskSpec(id=task_id, **shape))
    return out


@st.composite
def scenarios(draw):
    node_list = draw(nodes())
    used = {n.hostname: draw(st.lists(st.sampled_from(PORTS), max_size=2)) for n in node_list}
    cluster = ClusterState.from_nodes(node_list, used_ports=used)
    # Some capacity is already taken on some nodes.
    if node_list:
        fraction = np.array(draw(st.lists(st.sampled_from([0.0, 0.5, 1.0]),
                                          min_size=len(node_list), max_size=len(node_list))))
        cluster = ClusterState.from_nodes(node_list, free=cluster.total * fraction[:, None],
                                          used_ports=used)
    task_list = draw(tasks())
    running = {}
    for t in task_list:
        if t.sla and node_list and draw(st.booleans()):
            running[t.id] = {draw(st.sampled_from(node_list)).hostname}
    strategy = draw(st.sampled_from(list(STRATEGIES)))
    usage = {t.id: (t.cpus / 4, t.mem / 5) for t in task_list if draw(st.booleans())}
    return cluster, task_list, running, strategy, usage, draw(st.integers(0, 3))


def _room(cluster, free, port_taken, spec: TaskSpec, node: int, demand) -> bool:
    """Could `node` take one more of `spec` given the final free capacity and ports?"""
    if spec.nodetype is not None and cluster.nodetypes and (
        cluster.nodetype[node] < 0 or cluster.nodetypes[cluster.nodetype[node]] != spec.nodetype
    ):
        return False
    if spec.nodetype is not None and not cluster.nodetypes:
        return False
    for p in spec.host_ports:
        if not any(lo <= p <= hi for lo, hi in cluster.port_ranges[node]):
            return False
        if p in port_taken[node]:
            return False
    return bool((free[node] + EPSILON >= np.asarray(demand)).all())


def _demand(spec, strategy, usage):
    if strategy == "intelligence" and spec.id in usage:
        cpus, mem = usage[spec.id]
        return (max(cpus * 1.1, 0.01), max(mem * 1.1, 4.0), spec.disk)
    return spec.demand()


settings.register_profile("berth", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("berth")


@given(scenarios())
def test_placement_invariants(scenario):
    cluster, specs, running, strategy, usage, seed = scenario
    result = place(cluster, specs, strategy=strategy, seed=seed, usage=usage, running=running)
    rows = list(result.rows())

    # Every task appears; placed rows have no reason, unplaced rows always have one.
    assert {r.task_index for r in rows} >= {
        i for i, t in enumerate(specs)
        if t.sla is not SLA.ONE_PER_NODE or not running.get(t.id)}
    for r in rows:
        if r.hostname is None:
            assert r.reason and r.reason_code
        else:
            assert r.reason is None

    # No node over capacity in any resource.
    used = np.zeros_like(cluster.free)
    port_taken = [set(p) for p in cluster.used_ports]
    for r in rows:
        if r.hostname is None:
            continue
        node = cluster.index_of(r.hostname)
        spec = specs[r.task_index]
        used[node] += _demand(spec, strategy, usage)
        # No host port given twice on a node, none outside its range, none already taken.
        for p in spec.host_ports:
            assert p not in port_taken[node], (r, p)
            assert any(lo <= p <= hi for lo, hi in cluster.port_ranges[node])
            port_taken[node].add(p)
        # Nodetype respected.
        if spec.nodetype is not None:
            assert cluster.nodetypes[cluster.nodetype[node]] == spec.nodetype
    assert (used <= cluster.free + 1e-6).all()
    free = cluster.free - used
    assert np.allclose(free, result.free_after)

    # SLAs: never two singleton instances (none if one already runs); at most one
    # one-per-node instance per node, none where one already runs.
    singletons = Counter(specs[r.task_index].id for r in rows
                         if r.hostname and specs[r.task_index].sla is SLA.SINGLETON)
    for task_id, count in singletons.items():
        assert count == 1 and not running.get(task_id)
    daemon_nodes = Counter((r.task_index, r.hostname) for r in rows
                           if r.hostname and specs[r.task_index].sla is SLA.ONE_PER_NODE)
    assert all(c == 1 for c in daemon_nodes.values())
    for (i, host) in daemon_nodes:
        assert host not in running.get(specs[i].id, ())

    # Completeness: an eligible node without an instance of a one-per-node task has no room
    # for it; a task left unplaced has no node with room left for it (free only shrinks, so
    # room at the end means room when the core decided).
    for i, spec in enumerate(specs):
        demand = _demand(spec, strategy, usage)
        if spec.sla is SLA.ONE_PER_NODE:
            have = {h for (k, h) in daemon_nodes if k == i} | set(running.get(spec.id, ()))
            for node, host in enumerate(cluster.hostnames):
                if host not in have:
                    assert not _room(cluster, free, port_taken, spec, node, demand), (spec, host)
    for r in rows:
        spec = specs[r.task_index]
        if r.hostname is None and spec.sla is None:
            demand = _demand(spec, strategy, usage)
            assert not any(_room(cluster, free, port_taken, spec, node, demand)
                           for node in range(cluster.size)), (spec, r.reason)


@given(scenarios())
def test_same_input_and_seed_give_the_same_placements(scenario):
    cluster, specs, running, strategy, usage, seed = scenario
    first = place(cluster, specs, strategy=strategy, seed=seed, usage=usage, running=running)
    again = place(cluster, specs, strategy=strategy, seed=seed, usage=usage, running=running)
    assert list(first.rows()) == list(again.rows())


@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.7]),
                          st.sampled_from([0.05, 0.1, 0.125, 0.3])), min_size=2, max_size=12))
def test_one_task_goes_where_the_water_levels_would_put_it(nodes):
    """The single-task shortcut in `water_fill` gives the general level fill's answer."""
    from offers.strategies import _emptiest_after_one, level_fill

    cap = np.array([c for c, _, _ in nodes], dtype=np.int64)
    util = np.array([u for _, u, _ in nodes])
    share = np.array([s for _, _, s in nodes])
    if cap.sum() <= 1:  # water_fill hands out everything before either is asked
        return
    expected = level_fill(util, share, cap, 1)
    assert expected.sum() == 1
    assert int(np.argmax(expected)) == _emptiest_after_one(util, share, cap)


@given(st.lists(st.tuples(*[st.sampled_from([0.0, 1e-10, 0.1, 0.3, 1.0, 2.5, 16.0, 4096.0])] * 3),
                max_size=12),
       st.lists(st.tuples(*[st.sampled_from([0.0, 0.1, 0.2, 0.3, 1.0, 256.0, 4096.0])] * 3),
                min_size=1, max_size=6))
def test_the_fit_matrix_is_fit_counts_row_by_row(free_rows, demand_rows):
    from offers.filters import fit_counts, fit_matrix

    free = np.array(free_rows, dtype=np.float64).reshape(len(free_rows), 3)
    demands = np.array(demand_rows, dtype=np.float64)
    matrix = fit_matrix(free, demands)
    for row, demand in zip(matrix, demands, strict=True):
        assert np.array_equal(row, fit_counts(free, demand))


@given(st.lists(st.tuples(st.integers(0, 2), st.sampled_from([0.0, 0.25, 0.5, 0.75]),
                          st.booleans()), min_size=1, max_size=10),
       st.sampled_from([(1.0, 1024.0, 0.0), (2.0, 256.0, 0.0), (0.5, 4096.0, 10.0)]))
def test_binpack_one_picks_the_node_binpack_would(nodes, demand):
    """The single-task shortcut in `place` gives the general strategy's answer."""
    from offers.strategies import FillContext, binpack, binpack_one

    caps = np.array([c for c, _, _ in nodes], dtype=np.int64)
    utilization = np.array([u for _, u, _ in nodes])
    target = np.array([t for _, _, t in nodes])
    inverse = np.tile(1.0 / np.array([16.0, 65536.0, 1000.0]), (len(nodes), 1))
    demand = np.array(demand)
    ctx = FillContext(demand, inverse, utilization, target, lambda: np.random.default_rng(0))
    alloc = binpack(caps, 1, ctx)
    got = binpack_one(np.flatnonzero(caps > 0), target, utilization, demand, inverse)
    assert got == (int(np.argmax(alloc)) if alloc.sum() else -1)
