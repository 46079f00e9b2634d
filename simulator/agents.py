"""The simulated agents: what the containers on the simulated nodes do, told to the master
core as an agent would tell it (register, capacity, status, heartbeat).

The master core decides (offers, refuse filters, launch checks, lost agents); this module
only runs what it is told to run. A container runs for its item's duration and uses what
the item says it uses; a node that fails takes its containers with it and goes silent,
so the master finds out the way it would in life: by not hearing from the agent.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from framework import events as ev
from master import events as E
from master.records import StatusUpdate
from offers.launch import LaunchSpec
from offers.resource_vector import Resources
from offers.states import TaskState
from offers.task import SLA, TaskSpec
from simulator.checker import SLAChecker
from simulator.frozen import maker
from simulator.inputs import WorkItem
from simulator.nodes import SimNodes
from simulator.queue import EventQueue, Kind

if TYPE_CHECKING:
    from framework.records import TaskRecord

S = TaskState
FINISH, USAGE = int(Kind.FINISH), int(Kind.USAGE)
# What the agents report at every launch, end and change, each of all its fields in order.
# agent, task, state, reason, message, container, exit code, healthy (no checks simulated),
# limits
_status = maker(E.AgentStatus)
_capacity = maker(E.AgentCapacity)  # agent, total, spare, revocable, elastic
_NOTHING_TAKEN_BACK = Resources()
_NO_SPLIT: dict = {}
_resources = maker(Resources)
_usage = maker(ev.UsageObserved)
MAX_EXAMPLES = 5


@dataclass(slots=True, eq=False)
class ItemState:
    """One submitted workload item: how long it has run so far, when it first ran."""

    item: WorkItem
    index: int  # position in submission order
    ran: float = 0.0
    first_run: float | None = None
    live: int = 0  # instances running now
    finished: bool = False
    job: JobInstances | None = None  # a job's instance has a state of its own; its job
    exit_code: int = 0  # what it exits with once its duration has run


class JobInstances(Protocol):
    """What the agents need of a submitted job (`simulator.job_runs.JobRun`)."""

    def instance(self, spec: TaskSpec) -> ItemState: ...

    def launched(self, state: ItemState) -> None: ...

    def exited(self, code: int) -> None: ...


@dataclass(slots=True, eq=False)
class Instance:
    """One task instance (a Mesos task) running on a simulated node."""

    task_id: str
    state: ItemState
    spec: TaskSpec  # as submitted (its SLA, ports, nodetype)
    launched: LaunchSpec  # as launched (a reshuffled task's size)
    node: int
    agent_id: str
    demand: tuple[float, float, float]  # cpus, mem, disk as launched
    used: tuple[float, float]  # cpus, mem it actually uses
    started: float
    work: bool  # not a one-per-node daemon (`SimNodes.work_count`)
    alive: bool = True


@dataclass
class AgentCounters:
    tasks_launched: int = 0
    launches_lost: int = 0  # sent to an agent that was already gone
    unknown_kills: int = 0
    finished: int = 0
    failed: int = 0  # ran their duration and exited non-zero
    lost: int = 0  # containers gone with their node
    killed: int = 0
    agent_losses: int = 0
    invalid_launches: int = 0
    # launched with less memory than they use (intelligence sized them by their kind's
    # metered peak and this one uses more): killed by the kernel, as a real agent reports
    oom_killed: int = 0
    invalid_reasons: Counter = field(default_factory=Counter)
    invalid_examples: list[str] = field(default_factory=list)


class SimAgents:
    """One simulated agent per node of `nodes`; FINISH and USAGE events go on `queue`."""

    def __init__(self, nodes: SimNodes, checker: SLAChecker, clock: Callable[[], float],
                 queue: EventQueue, *, meter_after: float = 60.0) -> None:
        self.nodes = nodes
        self.checker = checker
        self.clock = clock
        self.queue = queue
        self.meter_after = meter_after
        self.items: dict[str, ItemState] = {}  # the user's task id -> state
        self.jobs: dict[str, JobInstances] = {}  # job name -> what its instances did
        # The framework's record of a task id (its job, its instance spec); set by the driver.
        self.task_of: Callable[[str], TaskRecord | None] = lambda task_id: None
        self.instances: dict[str, Instance] = {}
        self.on_node: list[set[str]] = [set() for _ in range(nodes.size)]
        self.node_of: dict[str, int] = {a: n for n, a in enumerate(nodes.agent_ids)}
        self.counters = AgentCounters()
        self.first_runs = 0  # items that have started at least once
        self.pending_time: np.ndarray | None = None  # by submission index, set by the driver
        self.changed: set[int] = set()  # nodes whose spare changed since the last report
        # When each agent last sent the master anything; one node's time is set through the
        # buffer (a plain float write), the array over it is read for all nodes at once.
        self._heard = array("d", bytes(8 * nodes.size))
        self.heard = np.frombuffer(self._heard, dtype=np.float64)
        self._totals = [Resources(*row, ports=nodes.port_ranges[n])
                        for n, row in enumerate(nodes.total.tolist())]
        self._beats: dict[str, E.AgentHeartbeat] = {}  # a heartbeat is the same every time

    # -- what the agents tell the master -----------------------------------------------

    def register(self, node: int) -> E.AgentRegister:
        nodes = self.nodes
        self._heard[node] = self.clock()
        return E.AgentRegister(nodes.agent_ids[node], nodes.hostnames[node], "",
                               nodes.attributes[node], self._totals[node], self._spare(node))

    def _spare(self, node: int) -> Resources:
        cpus, mem, disk = self.nodes.spare_of(node)
        return Resources(cpus, mem, disk, self.nodes.port_ranges[node])

    def capacity_reports(self) -> list[object]:
        """What changed nodes report: their spare after launches, ends and load."""
        if not self.changed:
            return []
        nodes, totals = self.nodes, self._totals
        up, ids, ports, spare_of = nodes.up, nodes.agent_ids, nodes.port_ranges, nodes.spare_of
        reporting = [node for node in sorted(self.changed) if up[node]]
        self.changed.clear()
        self.heard[reporting] = self.clock()
        return [_capacity(ids[node], totals[node], _resources(*spare_of(node), ports[node]),
                          _NOTHING_TAKEN_BACK, _NO_SPLIT)
                for node in reporting]

    def all_changed(self) -> None:
        """The incumbent load moved: every node's spare is news."""
        self.changed.update(range(self.nodes.size))

    def heartbeats(self, older_than: float) -> list[object]:
        """Heartbeats from the live agents not heard from since `older_than`."""
        nodes = self.nodes
        quiet = np.flatnonzero(nodes.up & (self.heard < older_than)).tolist()
        if not quiet:
            return []
        self.heard[quiet] = self.clock()
        ids, beats = nodes.agent_ids, self._beats
        out = []
        for node in quiet:
            beat = beats.get(ids[node])
            if beat is None:
                beat = beats[ids[node]] = E.AgentHeartbeat(ids[node])
            out.append(beat)
        return out

    # -- what the master tells the agents ---------------------------------------------

    def launch(self, agent_id: str, spec: LaunchSpec) -> list[object]:
        node = self.node_of.get(agent_id)
        nodes = self.nodes
        if node is None or not nodes.up[node] or nodes.agent_ids[node] != agent_id:
            self.counters.launches_lost += 1  # the link is down: nothing reaches the node
            return []
        now = self.clock()
        state = self._job_instance(spec.task_id) if self.jobs else None
        if state is None:
            state = self.items.get(spec.name)
        if state is None:
            raise KeyError(f"launched task {spec.task_id} ({spec.name}) was never submitted")
        item = state.item
        task_spec = item.spec
        task_id = spec.task_id
        demand = (spec.cpus, spec.mem, spec.disk)
        cpus, mem = item.used if item.used is not None else (task_spec.cpus, task_spec.mem)
        used = (float(cpus), float(mem))
        work = task_spec.sla is not SLA.ONE_PER_NODE
        if used[1] > spec.mem + 1e-6 and work:
            # Its memory limit is below what it uses: killed as it grows past it (at once,
            # here), reported as the agent reports an OOM kill. Nothing is booked.
            self.counters.oom_killed += 1
            return [_status(agent_id, task_id, S.RUNNING, None, None, f"sim-{task_id}", None,
                            None, None),
                    _status(agent_id, task_id, S.FAILED, None,
                            f"out of memory: the container hit its limit of {spec.mem:g} MiB",
                            None, 137, None, None)]
        inst = Instance(task_id, state, task_spec, spec, node, agent_id, demand, used, now, work)
        self.instances[task_id] = inst
        self.on_node[node].add(task_id)
        allocated = self._book(inst)
        self.changed.add(node)
        self._heard[node] = now
        state.live += 1
        if state.first_run is None:
            state.first_run = now
            self.first_runs += 1
            if self.pending_time is not None:
                self.pending_time[state.index] = now - item.submit_at
        if state.job is not None:
            state.job.launched(state)
        self.counters.tasks_launched += 1
        self.checker.started(task_id, task_spec, node, allocated, now)
        if item.duration is not None:
            self.queue.push(now + max(item.duration - state.ran, 0.0), FINISH, inst)
        if not spec.notmetered and not task_spec.notmetered:
            self.queue.push(now + self.meter_after, USAGE, inst)
        return [_status(agent_id, task_id, S.RUNNING, None, None, f"sim-{task_id}", None, None,
                        None)]

    def kill(self, agent_id: str, task_id: str) -> list[object]:
        inst = self.instances.get(task_id)
        if inst is None or inst.agent_id != agent_id:
            self.counters.unknown_kills += 1
            return []
        self._stop(inst)
        self.counters.killed += 1
        return [_status(agent_id, task_id, S.KILLED, None, "killed by the framework", None, None,
                        None, None)]

    # -- what happens on the nodes ------------------------------------------------------

    def finish(self, inst: Instance) -> list[object]:
        if not inst.alive:
            return []
        self._stop(inst)
        state = inst.state
        state.finished = True
        if state.job is not None:
            state.job.exited(state.exit_code)
        if state.exit_code:
            self.counters.failed += 1
            return [_status(inst.agent_id, inst.task_id, S.FAILED, None,
                            "the task ran its duration and failed (simulated)",  # the master
                            None, state.exit_code, None, None)]  # adds the exit code
        self.counters.finished += 1
        return [_status(inst.agent_id, inst.task_id, S.FINISHED, None,
                        "the task ran its duration", None, None, None, None)]

    def usage(self, inst: Instance) -> list[object]:
        """A metering sample, as the framework reads it from the master's metrics."""
        if not inst.alive:
            return []
        cpus, mem = inst.used
        return [_usage(inst.task_id, cpus, mem)]

    def lose(self, node: int) -> None:
        """The node fails: its containers end with it and its agent goes silent."""
        nodes = self.nodes
        if not nodes.up[node]:
            return
        nodes.up[node] = False
        self.counters.agent_losses += 1
        for task_id in sorted(self.on_node[node]):
            self._stop(self.instances[task_id])
            self.counters.lost += 1
        self.changed.discard(node)

    def rejoin(self, node: int) -> E.AgentRegister:
        """The node is repaired; its agent registers again, under a new id as in Mesos."""
        self.nodes.rejoin(node)
        self.node_of[self.nodes.agent_ids[node]] = node
        return self.register(node)

    def refused(self, status: StatusUpdate) -> None:
        """The master refused a launch: in berth's own framework, a scheduler bug."""
        c = self.counters
        c.invalid_launches += 1
        message = status.message or ""
        kind = message.split(":", 1)[0] if ":" in message else (status.reason or "refused")
        if message.startswith("offer(s)"):
            kind = "unknown-offer"
        c.invalid_reasons[kind] += 1
        if len(c.invalid_examples) < MAX_EXAMPLES:
            c.invalid_examples.append(f"t={self.clock():.1f}s {status.agent_id}: {message}")

    def _book(self, inst: Instance) -> tuple[float, float, float]:
        """Book a launched container on its node; the node's allocation after it (the
        elastic agents, simulator/elastic.py, decide its limits here)."""
        return self.nodes.start(inst.node, inst.demand, inst.used, inst.work)

    def _job_instance(self, task_id: str) -> ItemState | None:
        """A fresh state if `task_id` is an instance of a submitted job (one dict lookup in
        the framework's index, one here), else None."""
        record = self.task_of(task_id)
        run = self.jobs.get(record.submission_id) if record is not None else None
        return run.instance(record.spec) if run is not None else None

    def _stop(self, inst: Instance) -> None:
        now = self.clock()
        inst.alive = False
        node = inst.node
        del self.instances[inst.task_id]
        self.on_node[node].discard(inst.task_id)
        self.nodes.stop(node, inst.demand, inst.used, inst.work)
        self.changed.add(node)
        self._heard[node] = now
        inst.state.live -= 1
        inst.state.ran += now - inst.started
        self.checker.stopped(inst.spec, node)
