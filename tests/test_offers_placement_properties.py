"""Safety properties of the placement core over random clusters and task mixes.

Each property is checked from the output rows alone, independently of how the core works:
capacity, host ports, SLAs, nodetypes, determinism, and that no task is left unplaced
while a node that could take it still has room.
"""

from __future__ import annotations

import re
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


# -- constraints, attributes and the order of service -------------------------------------

RACKS = [None, "r1", "r2", "r3"]
CONSTRAINTS = [
    ["rack", "UNIQUE"], ["hostname", "UNIQUE"], ["rack", "MAX_PER", "2"],
    ["hostname", "MAX_PER", "2"], ["rack", "CLUSTER", "r1"], ["rack", "LIKE", "r[12]"],
    ["rack", "UNLIKE", "r1"], ["rack", "GROUP_BY"], ["zone", "CLUSTER", "z1"],
]


@st.composite
def constrained(draw):
    node_list = []
    for i in range(draw(st.integers(0, 8))):
        rack = draw(st.sampled_from(RACKS))
        attributes = {"zone": draw(st.sampled_from(["z1", "z2"]))}
        if rack:
            attributes["rack"] = rack
        node_list.append(NodeSpec(hostname=f"n{i}", cpus=draw(st.sampled_from([1.0, 2.0, 4.0])),
                                  mem=draw(st.sampled_from([1000.0, 4096.0])),
                                  ports=((31000, 31004),), attributes=attributes))
    cluster = ClusterState.from_nodes(node_list)
    pool = []
    for _ in range(draw(st.integers(1, 4))):
        pool.append(dict(
            dockerimage="img", cpus=draw(st.sampled_from([0.25, 0.5, 1.0, 3.0])),
            mem=draw(st.sampled_from([100.0, 500.0, 2000.0])),
            constraints=draw(st.lists(st.sampled_from(CONSTRAINTS), max_size=2)),
            ports=draw(st.sampled_from([[], [{"host_port": 31001, "container_port": 80}]])),
        ))
    specs = []
    for _ in range(draw(st.integers(0, 25))):
        k = draw(st.integers(0, len(pool) - 1))
        specs.append(TaskSpec(id=f"g{k}", priority=draw(st.sampled_from([0, 0, 0, 1, -1])),
                              **pool[k]))
    running = {}
    for t in specs:
        if node_list and draw(st.integers(0, 4)) == 0:
            running[t.id] = {draw(st.sampled_from(node_list)).hostname}
    strategy = draw(st.sampled_from(["binpack", "spread", "first-fit", "random"]))
    return cluster, specs, running, strategy, draw(st.integers(0, 3))


def _value(cluster, field, node):
    if field == "hostname":
        return cluster.hostnames[node]
    return cluster.attributes[node].get(field)


def _matches(cluster, c, node) -> bool:
    value = _value(cluster, c.field, node)
    if value is None:
        return c.operator == "UNLIKE"
    if c.operator == "CLUSTER":
        return value == c.value
    if c.operator == "LIKE":
        return re.fullmatch(c.value, value) is not None
    if c.operator == "UNLIKE":
        return re.fullmatch(c.value, value) is None
    return True


@given(constrained())
def test_constraints_capacity_and_the_order_of_service(scenario):
    cluster, specs, running, strategy, seed = scenario
    out = place(cluster, specs, strategy=strategy, seed=seed, running=running)
    rows = list(out.rows())
    placed = [(r.task_index, cluster.index_of(r.hostname)) for r in rows if r.hostname]

    # No free capacity overcommitted, no host port given twice on a node.
    used = np.zeros_like(cluster.free)
    port_taken: dict[int, set[int]] = {i: set() for i in range(cluster.size)}
    for i, node in placed:
        used[node] += specs[i].demand()
        for p in specs[i].host_ports:
            assert p not in port_taken[node]
            port_taken[node].add(p)
    assert (used <= cluster.free + 1e-6).all()

    # Every constraint holds, counting what already runs (by the group's id).
    instances: dict[tuple[str, str, str], int] = Counter()
    for task_id, hosts in running.items():
        for h in hosts:
            node = cluster.index_of(h)
            for field in ("rack", "hostname", "zone"):
                v = _value(cluster, field, node)
                if v is not None:
                    instances[(task_id, field, v)] += 1
    for i, node in placed:
        for c in specs[i].constraints:
            assert _matches(cluster, c, node), (c, cluster.attributes[node])
        for field in {c.field for c in specs[i].constraints}:
            instances[(specs[i].id, field, _value(cluster, field, node))] += 1
    for i, _node in placed:
        for c in specs[i].constraints:
            limit = {"UNIQUE": 1, "MAX_PER": c.count}.get(c.operator)
            if limit is None:
                continue
            for (task_id, field, _v), count in instances.items():
                if task_id == specs[i].id and field == c.field:
                    ran = sum(1 for h in running.get(task_id, ())
                              if _value(cluster, field, cluster.index_of(h)) == _v)
                    assert count <= max(limit, ran), (c, _v, count)

    # Reasons count every node once.
    for reason in out.reasons:
        if reason.tally:
            assert sum(n for _, n in reason.tally) == cluster.size, reason

    # The order of service: an unplaced task (without counting constraints, which a later
    # task of its own group may also have used) had no node with room once every task
    # served after it was taken off again. Served after: lower priority, or equal and
    # later in the input.
    def after(j, i):
        return (specs[j].priority, -j) < (specs[i].priority, -i)

    left = cluster.free - used
    for r in rows:
        i = r.task_index
        spec = specs[i]
        if r.hostname is not None or any(c.counting for c in spec.constraints):
            continue
        for node in range(cluster.size):
            if not all(_matches(cluster, c, node) for c in spec.constraints):
                continue
            room = left[node].copy()
            ports = set()
            for j, n in placed:
                if n == node:
                    if after(j, i):
                        room += specs[j].demand()
                    else:
                        ports |= set(specs[j].host_ports)
            if set(spec.host_ports) & ports:
                continue
            assert not (room + EPSILON >= np.asarray(spec.demand())).all(), (i, node, r.reason)
