"""The simulated master answers commands as a Mesos master would."""

from __future__ import annotations

from framework import commands as cmd
from offers.cluster import NodeSpec
from offers.states import TaskState
from offers.task import parse_task
from simulator.checker import SLAChecker
from simulator.clock import VirtualClock
from simulator.inputs import WorkItem
from simulator.master import ItemState, SimMaster
from simulator.nodes import SimNodes
from simulator.queue import EventQueue


def master_with(*tasks) -> tuple[SimMaster, VirtualClock]:
    nodes = SimNodes([NodeSpec(hostname="n0", cpus=4, mem=4096, disk=100, ports="31000-31001")])
    clock = VirtualClock()
    master = SimMaster(nodes, SLAChecker(nodes.total, nodes.nodetype, nodes.hostnames), clock,
                       EventQueue())
    for k, spec in enumerate(tasks):
        master.items[spec.id] = ItemState(WorkItem(spec, 0.0, 10.0, None), k)
    return master, clock


def spec(task_id: str, cpus: float, **extra):
    return parse_task({"id": task_id, "dockerimage": "x", "cpus": cpus, "mem": 100, **extra})


def test_a_launch_beyond_the_offer_is_refused_with_error_and_counted():
    big = spec("big", 4.5)
    master, _ = master_with(big)
    _, (offer,) = master.offer_cycle()
    (event,) = master.execute(cmd.Launch((offer.id,), offer.agent_id, (("big-1", big),)))
    assert event.state is TaskState.ERROR and "asks for" in event.reason
    assert master.counters.invalid_reasons == {"more-than-offered": 1}
    assert master.nodes.allocated.sum() == 0


def test_a_launch_within_the_offer_runs_and_shrinks_the_next_offer():
    small = spec("small", 1.5, ports=[{"host_port": 31000, "container_port": 80}])
    master, clock = master_with(small)
    _, (offer,) = master.offer_cycle()
    (event,) = master.execute(cmd.Launch((offer.id,), offer.agent_id, (("small-1", small),)))
    assert event.state is TaskState.RUNNING and event.hostname == "n0"
    clock.advance_to(1.0)
    _, (second,) = master.offer_cycle()
    assert second.cpus == 2.5 and second.ports == ((31001, 31001),)
    # The same offer cannot be used twice.
    (again,) = master.execute(cmd.Launch((offer.id,), offer.agent_id, (("small-2", small),)))
    assert again.state is TaskState.ERROR


def test_a_declined_node_is_filtered_until_it_has_more_to_offer():
    task = spec("t", 1.0)
    master, clock = master_with(task)
    _, (offer,) = master.offer_cycle()
    master.execute(cmd.Launch((offer.id,), offer.agent_id, (("t-1", task),)))
    _, (offer,) = master.offer_cycle()
    master.execute(cmd.Decline((offer.id,), 60.0))
    clock.advance_to(10.0)
    assert len(master.offer_cycle()[1]) == 0  # same spare, filter holds
    (inst,) = master.instances.values()
    master.finish(inst)
    assert [o.cpus for o in master.offer_cycle()[1]] == [4.0]  # more than declined: offered
