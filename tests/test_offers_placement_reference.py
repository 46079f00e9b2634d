"""The fast placement core places exactly as the core it replaced (kept as a reference
in `benchmarks.placement_reference`): the same rows, reasons and free capacity after,
on random clusters and batches, and on every `place()` call a simulated run makes."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.placement_reference.placement import place as reference_place
from benchmarks.placement_replay import recording, replay, same
from offers.cluster import ClusterState, NodeSpec
from offers.placement import place
from offers.strategies import STRATEGIES
from offers.task import TaskSpec
from tests.test_offers_placement_properties import scenarios


@settings(max_examples=150)
@given(scenarios())
def test_same_as_reference_with_slas_ports_and_usage(scenario):
    cluster, specs, running, strategy, usage, seed = scenario
    kwargs = dict(strategy=strategy, seed=seed, usage=usage, running=running)
    assert same(place(cluster, specs, **kwargs), reference_place(cluster, specs, **kwargs))


@st.composite
def plain_batches(draw):
    """Bigger clusters of mixed sizes, partly used, and batches made the way the
    framework and the simulator make them: many tasks sharing one spec's key, some equal
    specs made apart, some with host ports."""
    count = draw(st.integers(1, 60))
    sizes = st.sampled_from([(1.0, 1024.0), (4.0, 8192.0), (16.0, 65536.0), (0.0, 4096.0)])
    used = st.sampled_from([0.0, 0.25, 0.5, 1.0])
    node_list, free = [], []
    for i in range(count):
        cpus, mem = draw(sizes)
        node_list.append(NodeSpec(hostname=f"n{i}", cpus=cpus, mem=mem, disk=1000.0,
                                  attributes={"nodetype": draw(st.sampled_from(["a", "b"]))}))
        free.append((cpus * (1 - draw(used)), mem * (1 - draw(used)), 1000.0))
    cluster = ClusterState.from_nodes(node_list, free=np.array(free))
    protos = [TaskSpec(id=f"p{k}", dockerimage="img",
                       cpus=draw(st.sampled_from([0.01, 0.1, 0.25, 0.5, 2.0, 5.0])),
                       mem=draw(st.sampled_from([4.0, 64.0, 512.0, 3000.0, 20000.0])),
                       disk=draw(st.sampled_from([0.0, 10.0])),
                       nodetype=draw(st.sampled_from([None, None, "a", "c"])),
                       ports=draw(st.sampled_from([[], [], [{"host_port": 31001,
                                                             "container_port": 80 + k}]])))
              for k in range(draw(st.integers(1, 6)))]
    tasks = []
    for i in range(draw(st.integers(0, 300))):
        proto = protos[draw(st.integers(0, len(protos) - 1))]
        tasks.append(proto.with_id(f"t{i}") if draw(st.integers(0, 4)) else
                     TaskSpec(**{**proto.model_dump(), "id": f"t{i}"}))
    return cluster, tasks, draw(st.sampled_from(list(STRATEGIES))), draw(st.integers(0, 3))


@settings(max_examples=150)
@given(plain_batches())
def test_same_as_reference_on_plain_batches(batch):
    cluster, tasks, strategy, seed = batch
    assert same(place(cluster, tasks, strategy=strategy, seed=seed),
                reference_place(cluster, tasks, strategy=strategy, seed=seed))


def test_a_big_batch_of_shared_and_separately_made_specs_places_as_the_reference():
    # Big enough for the core to number key objects by a hash of their address.
    from benchmarks.workloads import homogeneous_cluster, mixed_tasks

    cluster = ClusterState.from_nodes(homogeneous_cluster(300))
    tasks = mixed_tasks(6000, 40, 300, seed=3)
    tasks[::7] = [TaskSpec(**{**t.model_dump(), "id": f"apart{i}"})
                  for i, t in enumerate(tasks[::7])]
    for strategy in ("first-fit", "binpack"):
        assert same(place(cluster, tasks, strategy=strategy),
                    reference_place(cluster, tasks, strategy=strategy))


def test_a_simulated_runs_place_calls_replay_the_same_on_the_reference():
    from benchmarks.sim import run_one

    with recording() as rec:
        run_one(60, 600, 3600.0, 1)
    outcome = replay(rec)
    assert outcome["calls"] > 50
    assert outcome["identical"] == outcome["calls"], outcome
