"""A workload small enough to work out by hand, and the simulator's agreement with it."""

from __future__ import annotations

from offers.cluster import NodeSpec
from offers.task import parse_task
from simulator.inputs import WorkItem
from simulator.run import SimConfig, Simulation


def item(task_id: str, cpus: float, mem: float, submit_at: float, duration: float | None,
         **extra) -> WorkItem:
    spec = parse_task({"id": task_id, "dockerimage": "busybox", "cpus": cpus, "mem": mem,
                       **extra})
    return WorkItem(spec, submit_at, duration, None)


def two_nodes() -> list[NodeSpec]:
    return [NodeSpec(hostname=f"n{i}", cpus=4, mem=4096, disk=1000) for i in range(2)]


def test_handmade_workload_outcome_matches_the_hand_worked_timeline():
    """Two 4-cpu nodes, offers every 10 s, binpack, decline filter 30 s.

    t=0   a (2 cpus, 100 s) and b (2 cpus, 50 s) arrive; binpack puts both on one node (A);
          the other node (B) is declined; nothing pends, so the framework suppresses.
    t=10  c (4 cpus, 100 s) arrives; the framework revives (clearing filters); c -> B.
    t=20  d (3 cpus, 10 s) arrives; A and B have no spare cpus: nothing to offer.
    t=50  b ends; A offers 2 cpus; d needs 3: declined (filter 30 s).
    t=80  the filter lifts; A, still 2 cpus, is offered and declined again (until 110).
    t=100 a ends; what it held comes back, which lifts A's filter (Mesos offers given-back
          resources at once too): A, with 4 cpus, is offered; d -> A. Pending times:
          a, b, c 0 s; d 80 s.
    t=110 c and d end. Everything finished; never more than 2 nodes used.
    """
    workload = [item("a", 2, 1024, 0, 100), item("b", 2, 1024, 0, 50),
                item("c", 4, 1024, 10, 100), item("d", 3, 512, 20, 10)]
    sim = Simulation(two_nodes(), workload,
                     SimConfig(strategy="binpack", horizon=200, offer_interval=10,
                               refuse_seconds=30, sample_interval=10))
    result = sim.run()

    pending = dict(zip("abcd", result.recorder.pending_time.tolist(), strict=True))
    assert pending == {"a": 0.0, "b": 0.0, "c": 0.0, "d": 80.0}
    assert all(state.finished for state in result.agents.items.values())
    assert result.agents.counters.finished == 4
    assert result.checker.violations == 0
    assert result.agents.counters.invalid_launches == 0
    rows = {row[0]: row for row in result.recorder.rows}
    # At t=20 both nodes are full (a+b on one, c on the other): 8 of 8 cpus requested.
    assert rows[20.0][7] == 8.0
    # At t=60 only a and c remain: 6 cpus.
    assert rows[60.0][7] == 6.0
    # At t=150 everything has ended and the nodes are empty.
    assert rows[150.0][7] == 0.0 and result.nodes.allocated.sum() == 0.0


def test_a_and_b_share_a_node_under_binpack_and_not_under_spread():
    workload = [item("a", 1, 512, 0, 100), item("b", 1, 512, 0, 100)]

    def hosts(strategy: str) -> set[str]:
        sim = Simulation(two_nodes(), workload, SimConfig(strategy=strategy, horizon=5))
        result = sim.run()
        return {result.nodes.hostnames[i.node] for i in result.agents.instances.values()}

    assert len(hosts("binpack")) == 1
    assert len(hosts("spread")) == 2


def test_a_task_larger_than_every_node_never_runs_and_says_why():
    workload = [item("huge", 64, 1024, 0, 100), item("small", 1, 128, 0, 100)]
    result = Simulation(two_nodes(), workload, SimConfig(horizon=60)).run()
    assert result.agents.items["small"].first_run == 0.0
    assert result.agents.items["huge"].first_run is None
    assert sum(result.unplaced.values()) == 1
    (reason,) = result.unplaced
    assert "cpus" in reason
