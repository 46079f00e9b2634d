"""The simulator runs the real master core: what its agents and a framework see through
`simulator.wiring`, with the simulated agents of `simulator.agents`."""

from __future__ import annotations

from framework import commands as cmd
from framework import events as ev
from master import events as E
from master.core import Master
from offers.cluster import NodeSpec
from offers.states import TaskState
from offers.task import parse_task
from simulator.agents import ItemState, SimAgents
from simulator.checker import SLAChecker
from simulator.clock import VirtualClock
from simulator.inputs import WorkItem
from simulator.nodes import SimNodes
from simulator.queue import EventQueue
from simulator.wiring import Wiring


class Scripted:
    """A framework core that answers each OFFERS with the next scripted commands."""

    def __init__(self) -> None:
        self.seen: list[object] = []
        self.answers: list[list[object]] = []

    def handle(self, event: object) -> list[object]:
        self.seen.append(event)
        if isinstance(event, ev.OffersReceived) and self.answers:
            return self.answers.pop(0)(event.offers)
        return []

    def offers(self) -> list:
        return [o for e in self.seen if isinstance(e, ev.OffersReceived) for o in e.offers]

    def statuses(self) -> list[ev.TaskStatusChanged]:
        return [e for e in self.seen if isinstance(e, ev.TaskStatusChanged)]


def world(*tasks):
    nodes = SimNodes([NodeSpec(hostname="n0", cpus=4, mem=4096, disk=100, ports="31000-31001")])
    clock = VirtualClock()
    agents = SimAgents(nodes, SLAChecker(nodes.total, nodes.nodetype, nodes.hostnames), clock,
                       EventQueue())
    for k, spec in enumerate(tasks):
        agents.items[spec.id] = ItemState(WorkItem(spec, 0.0, 10.0, None), k)
    framework = Scripted()
    wiring = Wiring(Master(clock), framework, agents, "fw", refused=agents.refused)
    wiring.to_master(agents.register(0))
    wiring.subscribe()
    return wiring, framework, agents, clock


def cycle(wiring: Wiring, agents: SimAgents) -> None:
    """What the simulator does each offer cycle: reports, heartbeats, tick, allocate."""
    wiring.to_master_all(agents.capacity_reports() + agents.heartbeats(agents.clock() - 5.0))
    wiring.to_master(E.Tick())
    wiring.to_master(E.Allocate())


def spec(task_id: str, cpus: float, **extra):
    return parse_task({"id": task_id, "dockerimage": "x", "cpus": cpus, "mem": 100, **extra})


def launch(*tasks):
    return lambda offers: [cmd.Launch((offers.ids[0],), offers.agent_ids[0], tasks)]


def test_a_launch_beyond_the_offer_is_refused_with_error_and_counted():
    big = spec("big", 4.5)
    wiring, framework, agents, _ = world(big)
    framework.answers.append(launch(("big-1", big)))
    cycle(wiring, agents)
    (status,) = framework.statuses()
    assert status.state is TaskState.ERROR and "cpus 4.5 > 4 offered" in status.reason
    assert agents.counters.invalid_launches == 1
    assert dict(agents.counters.invalid_reasons) == {"resources": 1}
    assert agents.nodes.allocated.sum() == 0


def test_a_launch_within_the_offer_runs_and_shrinks_the_next_offer():
    small = spec("small", 1.5, ports=[{"host_port": 31000, "container_port": 80}])
    wiring, framework, agents, clock = world(small)
    framework.answers.append(launch(("small-1", small)))
    cycle(wiring, agents)
    (status,) = framework.statuses()
    assert status.state is TaskState.RUNNING and status.agent_id == "n0-S0"
    assert agents.nodes.allocated[0].tolist() == [1.5, 100.0, 0.0]
    clock.advance_to(10.0)  # past the accept's default refuse filter (5 s)
    cycle(wiring, agents)
    first, second = framework.offers()
    assert second.cpus == 2.5 and second.ports == ((31001, 31001),)
    # The same offer cannot be used twice: the master refuses it, the sim counts it.
    framework.answers.append(lambda _: [cmd.Launch((first.id,), first.agent_id,
                                                   (("small-2", small),))])
    clock.advance_to(20.0)
    wiring.to_master(E.Decline("fw", (second.id,), 0.0))
    cycle(wiring, agents)
    assert framework.statuses()[-1].state is TaskState.LOST
    assert agents.counters.invalid_reasons["unknown-offer"] == 1


def test_a_declined_agent_is_not_offered_until_its_filter_lifts():
    task = spec("t", 1.0)
    wiring, framework, agents, clock = world(task)
    framework.answers.append(lambda offers: [cmd.Decline(tuple(offers.ids), 60.0)])
    cycle(wiring, agents)
    assert len(framework.offers()) == 1
    clock.advance_to(30.0)
    cycle(wiring, agents)
    assert len(framework.offers()) == 1  # the filter holds
    clock.advance_to(60.0)
    cycle(wiring, agents)
    assert len(framework.offers()) == 2


def test_a_silent_agent_is_lost_with_its_tasks_and_the_framework_is_told():
    task = spec("t", 1.0)
    wiring, framework, agents, clock = world(task)
    framework.answers.append(launch(("t-1", task)))
    cycle(wiring, agents)
    agents.lose(0)
    clock.advance_to(30.0)  # the master's default agent_timeout is 15 s
    cycle(wiring, agents)
    assert framework.statuses()[-1].state is TaskState.LOST
    assert any(isinstance(e, ev.AgentLost) and e.agent_id == "n0-S0" for e in framework.seen)
    wiring.to_master(agents.rejoin(0))
    cycle(wiring, agents)
    assert framework.offers()[-1].agent_id == "n0-S1"
