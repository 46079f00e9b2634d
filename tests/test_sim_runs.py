"""Whole simulated runs: determinism, agreement with `offers.placement.place`, SLA safety."""

from __future__ import annotations

import numpy as np
import pytest

from offers.cluster import ClusterState, NodeSpec
from offers.placement import place
from offers.task import SLA, parse_task
from simulator.checker import SLAChecker
from simulator.inputs import WorkItem
from simulator.nodes import uniform_nodes
from simulator.report import TIMING_KEY, summarize
from simulator.run import SimConfig, Simulation
from simulator.synthetic import SyntheticParams, SyntheticWorkload

SHAPE = {"cpus": 16.0, "mem": 65536.0, "disk": 500000.0}


def synthetic_run(seed: int, strategy: str = "binpack", fail_rate: float = 0.0,
                  nodes: int = 12, tasks: int = 300, hours: float = 6.0):
    specs = uniform_nodes(nodes, SHAPE, analytics_every=4)
    workload = SyntheticWorkload(SyntheticParams(tasks=tasks, horizon=hours * 3600), seed,
                                 sum(n.cpus for n in specs), {"lab", "analytics"})
    config = SimConfig(strategy=strategy, seed=seed, horizon=hours * 3600,
                       fail_rate=fail_rate, repair_time=900, incumbent_load=0.2,
                       reshuffle_every=2 * 3600, refuse_seconds=30)
    return Simulation(specs, workload, config).run()


def without_timing(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k != TIMING_KEY}


def test_same_seed_gives_the_same_summary():
    first = summarize(synthetic_run(seed=7, fail_rate=0.05))
    second = summarize(synthetic_run(seed=7, fail_rate=0.05))
    assert without_timing(first) == without_timing(second)
    assert first["submitted"] == 300


def test_another_seed_gives_another_run():
    first = summarize(synthetic_run(seed=7))
    other = summarize(synthetic_run(seed=8))
    assert without_timing(first) != without_timing(other)


def heterogeneous_cluster() -> list[NodeSpec]:
    shapes = [(8, 16384), (4, 8192), (16, 32768), (2, 4096), (8, 8192), (12, 65536)]
    return [NodeSpec(hostname=f"h{i}", cpus=c, mem=m, disk=100000,
                     attributes={"nodetype": "lab" if i % 3 else "analytics"})
            for i, (c, m) in enumerate(shapes)]


def time_zero_tasks() -> list[WorkItem]:
    rng = np.random.default_rng(3)
    items = []
    for k in range(40):
        data = {"id": f"job{k}", "dockerimage": "busybox",
                "cpus": float(rng.choice([0.5, 1, 2, 3])),
                "mem": float(rng.choice([256, 1024, 4096, 6000]))}
        if k % 7 == 0:
            data["nodetype"] = "analytics"
        if k % 11 == 0:
            data["ports"] = [{"host_port": 31500, "container_port": 80}]
        items.append(WorkItem(parse_task(data), 0.0, None, None))
    return items


@pytest.mark.parametrize("strategy", ["binpack", "spread", "first-fit"])
def test_placement_at_time_zero_equals_place_on_the_same_cluster(strategy):
    """What `berth place` prints (it calls `place` on the file's nodes) is what the
    simulator launches when every task is submitted at time 0 on an empty cluster."""
    nodes, items = heterogeneous_cluster(), time_zero_tasks()
    result = Simulation(nodes, items, SimConfig(strategy=strategy, horizon=1)).run()
    simulated = {i.spec.id: result.nodes.hostnames[i.node]
                 for i in result.agents.instances.values()}

    placement = place(ClusterState.from_nodes(nodes), [w.spec for w in items],
                      strategy=strategy, seed=1)
    expected = {items[row.task_index].spec.id: row.hostname for row in placement.rows()
                if row.hostname is not None}
    assert simulated == expected
    assert 0 < len(expected) < len(items)  # the cluster is too small for all: a real test


def test_sla_invariants_hold_through_a_run_with_failures():
    """Agents fail often; singletons and one-per-node daemons are relaunched; the
    independent checker (which watches what runs, not what the scheduler believes)
    never sees two singletons, two daemons on a node, a port clash or an overfull node."""
    result = synthetic_run(seed=3, fail_rate=0.3, nodes=10, tasks=400, hours=4)
    assert result.agents.counters.agent_losses > 5
    assert result.agents.counters.lost > 0
    assert result.checker.violations == 0, result.checker.examples
    assert result.agents.counters.invalid_launches == 0
    # The books balance: every node's allocation is the sum of what runs on it.
    expected = np.zeros_like(result.nodes.allocated)
    for inst in result.agents.instances.values():
        expected[inst.node] += inst.demand
    assert np.allclose(result.nodes.allocated, expected)
    assert np.all(result.nodes.allocated <= result.nodes.total + 1e-6)
    # Daemons came back on the nodes that returned: each up node runs daemon0 once.
    daemon_nodes = [i.node for i in result.agents.instances.values() if i.spec.id == "daemon0"]
    assert len(daemon_nodes) == len(set(daemon_nodes))
    singletons = {i.spec.id for i in result.agents.instances.values()
                  if i.spec.sla is SLA.SINGLETON}
    assert len(singletons) == sum(1 for i in result.agents.instances.values()
                                  if i.spec.sla is SLA.SINGLETON)


def test_the_checker_does_catch_a_second_singleton_and_a_port_clash():
    nodes = heterogeneous_cluster()
    total = np.array([[n.cpus, n.mem, n.disk] for n in nodes])
    checker = SLAChecker(total, [n.nodetype for n in nodes], [n.hostname for n in nodes])
    spec = parse_task({"id": "db", "dockerimage": "x", "sla": "singleton",
                       "ports": [{"host_port": 31400, "container_port": 1}]})
    checker.started("db-1", spec, 0, np.zeros(3), 0.0)
    checker.started("db-2", spec, 0, np.zeros(3), 5.0)
    assert checker.violations == 2
    assert set(checker.by_kind) == {"singleton", "port"}
    checker.stopped(spec, 0)
    checker.stopped(spec, 0)
    checker.started("db-3", spec, 1, np.zeros(3), 9.0)
    assert checker.violations == 2


def test_same_seed_same_summary_across_processes_and_hash_seeds(tmp_path):
    """`berth sim` run twice as separate processes (different string hashing) agrees."""
    import json
    import os
    import subprocess
    import sys

    summaries = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"r{hash_seed}"
        subprocess.run([sys.executable, "-m", "cli", "sim", "--nodes", "8", "--synthetic",
                        "--tasks", "150", "--duration", "10800", "--fail-rate", "0.1",
                        "--seed", "5", "--report", str(out)],
                       check=True, capture_output=True, timeout=240,
                       env={**os.environ, "PYTHONHASHSEED": hash_seed})
        summaries.append(without_timing(json.loads((out / "summary.json").read_text())))
    assert summaries[0] == summaries[1]
    assert summaries[0]["agents"]["losses"] > 0
