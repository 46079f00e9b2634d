"""The simulated master and agents: offers of spare capacity, launches, kills, completions
and agent loss, answering the framework's commands with the events a real master would send.

Launches are checked against the offers they use (Mesos refuses an ACCEPT that asks for more
than it was offered); such a launch ends ERROR and is counted, since it is a scheduler bug.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from framework import commands as cmd
from framework import events as ev
from offers.offer import OfferBatch
from offers.resources import PortRanges, free_ports
from offers.states import TaskState
from offers.task import SLA, TaskSpec
from simulator.checker import EPS, SLAChecker
from simulator.inputs import WorkItem
from simulator.nodes import SimNodes
from simulator.queue import EventQueue, Kind

S = TaskState
MIN_OFFER_CPUS = 0.01  # Mesos's --min_allocatable_resources default: cpus:0.01|mem:32
MIN_OFFER_MEM = 32.0
DEFAULT_REFUSE_SECONDS = 5.0


@dataclass(slots=True, eq=False)
class ItemState:
    """One submitted workload item: how long it has run so far, when it first ran."""

    item: WorkItem
    index: int  # position in submission order
    ran: float = 0.0
    first_run: float | None = None
    live: int = 0  # instances running now
    finished: bool = False


@dataclass(slots=True, eq=False)
class Instance:
    """One task instance (a Mesos task) running on a simulated node."""

    task_id: str
    state: ItemState
    spec: TaskSpec
    node: int
    agent_id: str
    demand: np.ndarray
    used: np.ndarray
    started: float
    alive: bool = True


@dataclass
class MasterCounters:
    offers: int = 0
    offer_cycles: int = 0
    launches: int = 0
    tasks_launched: int = 0
    invalid_launches: int = 0
    declines: int = 0
    kills: int = 0
    unknown_kills: int = 0
    finished: int = 0
    lost: int = 0
    killed: int = 0
    agent_losses: int = 0
    rescinded: int = 0
    invalid_reasons: Counter = field(default_factory=Counter)
    invalid_examples: list[str] = field(default_factory=list)


class SimMaster:
    """Owns what really runs where. `clock` is the virtual clock; FINISH and USAGE events
    for launched tasks go on `queue`."""

    def __init__(self, nodes: SimNodes, checker: SLAChecker, clock: Callable[[], float],
                 queue: EventQueue, *, meter_after: float = 60.0) -> None:
        self.nodes = nodes
        self.checker = checker
        self.clock = clock
        self.queue = queue
        self.meter_after = meter_after
        self.items: dict[str, ItemState] = {}  # the user's task id -> state
        self.instances: dict[str, Instance] = {}
        self.on_node: list[set[str]] = [set() for _ in range(nodes.size)]
        self.refuse_until = np.zeros(nodes.size)
        self.refused = np.zeros((nodes.size, 3))  # what was declined, per node
        self.suppressed = False
        self.counters = MasterCounters()
        self.first_runs = 0  # items that have started at least once
        self.pending_time: np.ndarray | None = None  # by submission index, set by the driver
        self._outstanding: dict[str, int] = {}  # offer id -> node, this cycle's offers
        self._offered = np.zeros((nodes.size, 3))  # what each node was last offered
        self._used_ports: dict[int, Counter[int]] = {}
        self._free_ports: list[PortRanges | None] = [None] * nodes.size

    # -- offers -------------------------------------------------------------------------

    def offer_cycle(self) -> tuple[list[ev.OfferRescinded], OfferBatch]:
        """Rescind what was not answered last cycle; offer every eligible node's spare.

        The offers go out as columns (`OfferBatch`), one row per node, built from the
        node arrays without an object per offer."""
        rescinded = [ev.OfferRescinded(oid) for oid in self._outstanding]
        self.counters.rescinded += len(rescinded)
        self._outstanding.clear()
        if self.suppressed:
            return rescinded, OfferBatch.of(())
        now = self.clock()
        nodes = self.nodes
        spare = nodes.spare()
        # Mesos's decline filter: a node stays filtered until `refuse_until` unless it now
        # has more to offer than what was declined (a task there ended, load dropped).
        filtered = (self.refuse_until > now) & np.all(spare <= self.refused + EPS, axis=1)
        mask = (nodes.up & ~filtered
                & (spare[:, 0] >= MIN_OFFER_CPUS) & (spare[:, 1] >= MIN_OFFER_MEM))
        index = np.flatnonzero(mask)
        rows = index.tolist()
        cycle = self.counters.offer_cycles
        self.counters.offer_cycles += 1
        ids = [f"o{cycle}.{node}" for node in rows]
        self._outstanding.update(zip(ids, rows, strict=True))
        self._offered[index] = spare[index]
        batch = OfferBatch(ids, [nodes.agent_ids[n] for n in rows],
                           [nodes.hostnames[n] for n in rows], spare[index],
                           [self._ports_free(n) for n in rows],
                           [nodes.attributes[n] for n in rows])
        self.counters.offers += len(rows)
        return rescinded, batch

    def _ports_free(self, node: int) -> PortRanges:
        free = self._free_ports[node]
        if free is None:
            used = self._used_ports.get(node)
            free = self.nodes.port_ranges[node]
            if used:
                free = free_ports(free, {p for p, n in used.items() if n > 0})
            self._free_ports[node] = free
        return free

    # -- commands -----------------------------------------------------------------------

    def execute(self, command: object) -> list[object]:
        """Carry out one framework command; return the events it causes."""
        if isinstance(command, cmd.Launch):
            return self._launch(command)
        if isinstance(command, cmd.Decline):
            self._decline(command)
        elif isinstance(command, cmd.Kill):
            return self._kill(command)
        elif isinstance(command, cmd.Revive):  # as in Mesos: clears every decline filter
            self.suppressed = False
            self.refuse_until[:] = 0.0
        elif isinstance(command, cmd.Suppress):
            self.suppressed = True
        elif isinstance(command, cmd.Reconcile):
            return self._reconcile(command)
        return []

    def _decline(self, command: cmd.Decline) -> None:
        self.counters.declines += 1
        refuse = command.refuse_seconds if command.refuse_seconds is not None \
            else DEFAULT_REFUSE_SECONDS
        outstanding = self._outstanding
        declined = [outstanding.pop(offer_id, -1) for offer_id in command.offer_ids]
        nodes = [node for node in declined if node >= 0]
        self.refuse_until[nodes] = self.clock() + refuse
        self.refused[nodes] = self._offered[nodes]

    def _launch(self, command: cmd.Launch) -> list[object]:
        self.counters.launches += 1
        entries = [self._outstanding.pop(oid, None) for oid in command.offer_ids]
        kind, problem = None, None
        if not entries or any(e is None for e in entries):
            kind = "unknown-offer"
            problem = "the launch uses an offer that is unknown, used or rescinded"
        else:
            nodes_used = set(entries)
            node = entries[0]
            if len(nodes_used) != 1:
                kind, problem = "many-agents", "the launch uses offers from more than one agent"
            elif self.nodes.agent_ids[node] != command.agent_id or not self.nodes.up[node]:
                kind, problem = "unknown-agent", f"agent {command.agent_id} is not registered"
            else:
                offered = self._offered[node].tolist()
                demand = [sum(column) for column in
                          zip(*(spec.demand() for _, spec in command.tasks), strict=True)]
                if any(d > o + EPS for d, o in zip(demand, offered, strict=True)):
                    kind = "more-than-offered"
                    problem = (f"the launch asks for {demand} (cpus, mem, disk) "
                               f"but was offered {offered}")
                else:
                    problem = self._port_problem(node, command.tasks)
                    kind = "port-not-offered" if problem else None
        if problem is not None:
            self.counters.invalid_launches += 1
            self.counters.invalid_reasons[kind] += 1
            if len(self.counters.invalid_examples) < 5:
                self.counters.invalid_examples.append(
                    f"t={self.clock():.1f}s {command.agent_id}: {problem}")
            return [ev.TaskStatusChanged(task_id, S.ERROR, problem, command.agent_id)
                    for task_id, _ in command.tasks]
        return [self._start(task_id, spec, node) for task_id, spec in command.tasks]

    def _port_problem(self, node: int, tasks) -> str | None:
        free = self._ports_free(node)
        wanted: set[int] = set()
        for _, spec in tasks:
            for port in spec.host_ports:
                if port in wanted or not any(lo <= port <= hi for lo, hi in free):
                    return f"host port {port} is not in the offer"
                wanted.add(port)
        return None

    def _start(self, task_id: str, spec: TaskSpec, node: int) -> ev.TaskStatusChanged:
        now = self.clock()
        state = self._item_of(task_id, spec)
        nodes = self.nodes
        demand = np.array(spec.demand(), dtype=np.float64)
        item = state.item
        used = np.array(item.used if item.used is not None
                        else (item.spec.cpus, item.spec.mem), dtype=np.float64)
        inst = Instance(task_id, state, spec, node, nodes.agent_ids[node], demand, used, now)
        self.instances[task_id] = inst
        self.on_node[node].add(task_id)
        nodes.allocated[node] += demand
        nodes.used[node] += used
        nodes.task_count[node] += 1
        if spec.sla is not SLA.ONE_PER_NODE:
            nodes.work_count[node] += 1
        if spec.host_ports:
            ports = self._used_ports.setdefault(node, Counter())
            ports.update(spec.host_ports)
            self._free_ports[node] = None
        state.live += 1
        if state.first_run is None:
            state.first_run = now
            self.first_runs += 1
            if self.pending_time is not None:
                self.pending_time[state.index] = now - item.submit_at
        self.counters.tasks_launched += 1
        self.checker.started(task_id, spec, node, nodes.allocated[node], now)
        if item.duration is not None:
            self.queue.push(now + max(item.duration - state.ran, 0.0), Kind.FINISH, inst)
        if not spec.notmetered and not item.spec.notmetered:
            self.queue.push(now + self.meter_after, Kind.USAGE, inst)
        return ev.TaskStatusChanged(task_id, S.RUNNING, None, inst.agent_id,
                                    nodes.hostnames[node], f"sim-{task_id}")

    def _item_of(self, task_id: str, spec: TaskSpec) -> ItemState:
        state = self.items.get(spec.id)
        if state is None:
            raise KeyError(f"launched task {task_id} ({spec.id}) was never submitted")
        return state

    def _stop(self, inst: Instance) -> None:
        now = self.clock()
        inst.alive = False
        node = inst.node
        del self.instances[inst.task_id]
        self.on_node[node].discard(inst.task_id)
        nodes = self.nodes
        nodes.allocated[node] -= inst.demand
        nodes.used[node] -= inst.used
        nodes.task_count[node] -= 1
        if inst.spec.sla is not SLA.ONE_PER_NODE:
            nodes.work_count[node] -= 1
        if nodes.task_count[node] == 0:  # no float dust on an empty node
            nodes.allocated[node] = 0.0
            nodes.used[node] = 0.0
        if inst.spec.host_ports:
            self._used_ports[node].subtract(inst.spec.host_ports)
            self._free_ports[node] = None
        inst.state.live -= 1
        inst.state.ran += now - inst.started
        self.checker.stopped(inst.spec, node)

    def _kill(self, command: cmd.Kill) -> list[object]:
        self.counters.kills += 1
        inst = self.instances.get(command.task_id)
        if inst is None:
            self.counters.unknown_kills += 1
            return []
        self._stop(inst)
        self.counters.killed += 1
        return [ev.TaskStatusChanged(inst.task_id, S.KILLED, "killed by the framework",
                                     inst.agent_id, self.nodes.hostnames[inst.node])]

    def _reconcile(self, command: cmd.Reconcile) -> list[object]:
        out: list[object] = []
        for task_id, agent_id in command.tasks:
            inst = self.instances.get(task_id)
            if inst is not None:
                out.append(ev.TaskStatusChanged(task_id, S.RUNNING, None, inst.agent_id,
                                                self.nodes.hostnames[inst.node]))
            else:
                out.append(ev.TaskStatusChanged(task_id, S.LOST, "unknown to the master",
                                                agent_id))
        return out

    # -- things that happen on the nodes -------------------------------------------------

    def finish(self, inst: Instance) -> list[object]:
        if not inst.alive:
            return []
        self._stop(inst)
        inst.state.finished = True
        self.counters.finished += 1
        return [ev.TaskStatusChanged(inst.task_id, S.FINISHED, "the task ran its duration",
                                     inst.agent_id, self.nodes.hostnames[inst.node])]

    def usage(self, inst: Instance) -> list[object]:
        if not inst.alive:
            return []
        cpus, mem = inst.used.tolist()
        return [ev.UsageObserved(inst.task_id, cpus, mem)]

    def lose_agent(self, node: int) -> list[object]:
        """The agent stops answering: its tasks are LOST, its offers are gone."""
        nodes = self.nodes
        if not nodes.up[node]:
            return []
        agent_id = nodes.agent_ids[node]
        nodes.up[node] = False
        self.counters.agent_losses += 1
        out: list[object] = []
        for task_id in sorted(self.on_node[node]):
            inst = self.instances[task_id]
            self._stop(inst)
            self.counters.lost += 1
            out.append(ev.TaskStatusChanged(task_id, S.LOST,
                                            f"agent {agent_id} on {nodes.hostnames[node]} "
                                            "was lost", agent_id, nodes.hostnames[node]))
        out.append(ev.AgentLost(agent_id))
        return out

    def agent_returns(self, node: int) -> None:
        self.nodes.rejoin(node)
        self.refuse_until[node] = 0.0
