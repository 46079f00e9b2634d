"""Elastic secondary work in the simulator (`--elastic`): each simulated agent runs the
agent's own elasticity decision (offers/elasticity.py `decide`, as executor/agent.py does
every period) against its node's incumbent load, and tells the master what the real
agent tells it.

- A period after the incumbent load of a node changes (`period`, the agent's measuring
  interval), and at once when a container starts on it, the node's tenants get the
  limits `decide` gives them: CPU first, then memory, then preemption. The incumbent the
  decision sees rises at once and falls by `IncumbentTracker`'s steps, one period each,
  as on the agent.
- A lowered container uses at most its limits; its node books its limits, so spare (and
  so offers) is total - incumbent - current limits. CAPACITY carries what was taken back
  as `revocable` and the node's split as `elastic`; a METERING sample carries a
  container's new `limits`.
- A preempted container ends `LOST` with the decision's `preempted: ...` reason, so its
  job's relaunch policy places it again; a later launch of the same slot counts as its
  relaunch.

What it measures (`ElasticCounters`): secondary CPU-seconds done and asked for,
task-seconds spent below the request, decisions by grade, preemptions and relaunches,
and the incumbent's quality of service: node-seconds during which the node's own
programs asked for more than berth's containers left them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from master import events as E
from offers.amounts import ZERO, Amounts
from offers.elasticity import (
    ChangeStep,
    ElasticPolicy,
    Grade,
    IncumbentTracker,
    Tenant,
    decide,
    secondary_budget,
)
from offers.launch import LaunchSpec
from offers.resource_vector import Resources
from offers.states import TaskState
from simulator.agents import Instance, SimAgents
from simulator.checker import SLAChecker
from simulator.nodes import SimNodes
from simulator.queue import EventQueue, Kind

MAX_EXAMPLES = 10
_SHORT = 1e-6  # less than this short is not short (float dust)
_SETTLED = 1e-3  # the tracked incumbent is the load, near enough: no more periods


@dataclass
class ElasticCounters:
    decisions: Counter = field(default_factory=Counter)  # node decisions by grade
    resizes: int = 0  # containers whose limits changed
    preemptions: int = 0
    relaunched: int = 0  # preempted slots launched again
    relaunch_delays: list[float] = field(default_factory=list)
    preemption_examples: list[str] = field(default_factory=list)
    secondary_cpu_seconds: float = 0.0  # what berth's containers used (within limits)
    asked_cpu_seconds: float = 0.0  # what they would have used unlowered
    lowered_task_seconds: float = 0.0  # running below the request
    incumbent_short_node_seconds: float = 0.0  # the node's own programs short of asks
    incumbent_short_cpu_seconds: float = 0.0  # ... by this many cpus x seconds


class ElasticAgents(SimAgents):
    """`SimAgents` whose containers yield to their node's own load."""

    def __init__(self, nodes: SimNodes, checker: SLAChecker, clock: Callable[[], float],
                 queue: EventQueue, *, meter_after: float = 60.0, period: float = 1.0,
                 policy: ElasticPolicy | None = None, headroom: Amounts = ZERO,
                 fall: float = 0.6) -> None:
        super().__init__(nodes, checker, clock, queue, meter_after=meter_after)
        self.period = period
        self.policy = policy or ElasticPolicy()
        self.headroom = headroom
        self.step = ChangeStep()
        self.elastic = ElasticCounters()
        self._fall = fall
        self._trackers: dict[int, IncumbentTracker] = {}
        self._wants: dict[str, tuple[float, float]] = {}  # use were it not lowered
        self._lowered: set[str] = set()
        self._preempted_slots: dict[tuple, float] = {}  # (job, slot) -> when
        self._out: list[object] = []  # master events from a decision inside a launch
        self._deficits = [(0.0, 0.0)] * nodes.size  # incumbent_deficit of each node
        self._short = 0  # nodes whose own programs are short now
        self._short_cpus = 0.0  # cpus they are short of, summed
        self._last = 0.0
        self._use_rate = 0.0  # cpus berth's containers use now
        self._ask_rate = 0.0  # cpus they would use unlowered
        self._waiting: set[int] = set()  # nodes with a period event pending

    # -- the launch path ----------------------------------------------------------------

    def launch(self, agent_id: str, spec: LaunchSpec) -> list[object]:
        out = super().launch(agent_id, spec)
        if self._out:
            out += self._out
            self._out = []
        return out

    def _book(self, inst: Instance) -> tuple[float, float, float]:
        self._advance()
        self.nodes.start(inst.node, inst.demand, inst.used, inst.work)
        used, demand = inst.used, inst.demand
        wants = self._wants[inst.task_id] = (min(used[0], demand[0]), min(used[1], demand[1]))
        self._use_rate += used[0]
        self._ask_rate += wants[0]
        self._note_relaunch(inst.task_id)
        self._resize(inst, demand[0], demand[1])  # its use, never above its request
        victims = self._rebalance(inst.node)
        late = None
        for victim, reason in victims:
            if victim is inst:  # still launching: ended once its launch is told
                late = reason
                self._resize(inst, 0.0, 0.0)
            else:
                self._out.append(self._preempt(victim, reason))
        if late is not None:
            self.queue.push(self.clock(), Kind.ELASTIC, (inst, late))
        self._qos(inst.node)
        node = inst.node
        row = self.nodes.allocated[node]
        return float(row[0]), float(row[1]), float(row[2])

    def _stop(self, inst: Instance) -> None:
        self._advance()
        super()._stop(inst)
        task_id = inst.task_id
        wants = self._wants.pop(task_id, None)
        self._use_rate -= inst.used[0]
        if wants is not None:
            self._ask_rate -= wants[0]
        self._lowered.discard(task_id)
        self._qos(inst.node)

    # -- the period ---------------------------------------------------------------------

    def incumbent_changed(self, nodes: list[int] | None = None) -> None:
        """The node's own load moved (call `before_incumbent_change` first): each node
        with containers decides again a period later, as the agent would."""
        now = self.clock()
        if nodes is None:
            deficits = self.nodes.incumbent_deficits()
            self._deficits = [tuple(row) for row in deficits.tolist()]
            self._short = int(np.count_nonzero(deficits.max(axis=1) > _SHORT)) \
                if len(deficits) else 0
            self._short_cpus = float(deficits[:, 0].sum())
            nodes = [n for n in range(self.nodes.size) if self.on_node[n]]
            self.changed.update(range(self.nodes.size))
        else:
            for node in nodes:
                self._qos(node)
            self.changed.update(nodes)
        self._plan([n for n in nodes if self.on_node[n]], now)

    def before_incumbent_change(self) -> None:
        self._advance()

    def period_event(self, payload: object) -> list[object]:
        """An ELASTIC event: a period on some nodes, or a container preempted as it
        started (`(instance, reason)`)."""
        self._advance()
        if isinstance(payload, tuple):
            inst, reason = payload
            return [self._preempt(inst, reason)] if inst.alive else []
        nodes = sorted(payload)
        self._waiting.difference_update(nodes)
        out: list[object] = []
        again = []
        for node in nodes:
            if not self.nodes.up[node]:
                continue
            for victim, reason in self._rebalance(node, measure=True):
                out.append(self._preempt(victim, reason))
            self._qos(node)
            tracker = self._trackers.get(node)
            if tracker is not None and self.on_node[node] and not self._settled(node, tracker):
                again.append(node)
        if again:
            self._plan(again, self.clock())
        if self._out:
            out = self._out + out
            self._out = []
        return out

    def finish_accounting(self) -> None:
        self._advance()

    def _plan(self, nodes: list[int], now: float) -> None:
        fresh = [n for n in nodes if n not in self._waiting]
        if fresh:
            self._waiting.update(fresh)
            self.queue.push(now + self.period, Kind.ELASTIC, fresh)

    def _settled(self, node: int, tracker: IncumbentTracker) -> bool:
        row = self.nodes.incumbent[node]
        value = tracker.value
        return value is not None and abs(value.cpus - row[0]) < _SETTLED and \
            abs(value.mem - row[1]) < _SETTLED * 1024

    # -- the decision -------------------------------------------------------------------

    def _rebalance(self, node: int, measure: bool = False) -> list[tuple[Instance, str]]:
        """Decide the node's limits and carry them out; the containers to preempt.
        `measure`: a period, the tracked incumbent moves toward the load (between
        periods, at a launch, it stays where the last period left it)."""
        incumbent = self._incumbent(node, measure)
        if self._fits(node, incumbent):  # every request fits: the decision is to keep them
            self.elastic.decisions["none"] += 1
            return []
        nodes = self.nodes
        total = nodes.total[node]
        budget = secondary_budget(Amounts(float(total[0]), float(total[1]), 0.0),
                                  Amounts(incumbent.cpus, incumbent.mem, 0.0), self.headroom)
        instances = [self.instances[t] for t in sorted(self.on_node[node])]
        tenants = [self._tenant(inst) for inst in instances]
        decision = decide(budget, tenants, self.policy)
        self.elastic.decisions[decision.grade.name.lower()] += 1
        resized = []
        for inst, tenant in zip(instances, tenants, strict=True):
            new = decision.limits.get(inst.task_id)
            if new is None or not tenant.elastic:
                continue
            if self.step.changed(tenant.current, new, tenant.requested):
                self._resize(inst, new.cpus, new.mem)
                resized.append(inst)
        if resized:
            self.elastic.resizes += len(resized)
            self.changed.add(node)
            now = self.clock()
            self._out.append(E.AgentMetering(nodes.agent_ids[node], tuple(
                E.MeteringSample(i.task_id, now, i.used[0], i.used[1],
                                 (round(i.demand[0], 3), round(i.demand[1], 1)))
                for i in resized)))
        if decision.grade is Grade.PREEMPT:
            self.changed.add(node)
        return [(self.instances[p.task_id], p.reason) for p in decision.preempted]

    def _incumbent(self, node: int, measure: bool) -> Amounts:
        """The incumbent the node's decisions act on (`IncumbentTracker`, as the agent's).
        A node with no period under way has settled on its load."""
        tracker = self._trackers.get(node)
        if tracker is None:
            tracker = self._trackers[node] = IncumbentTracker(self._fall)
        row = self.nodes.incumbent[node]
        load = Amounts(float(row[0]), float(row[1]), 0.0)
        if measure:
            return tracker.update(load)
        if node not in self._waiting or tracker.value is None:
            tracker.value = load
        return tracker.value

    def _fits(self, node: int, load: Amounts) -> bool:
        """Whether every container on the node has its request and all of them fit the
        budget left by `load`: `decide` would keep them all as they are."""
        lowered = self._lowered
        if lowered and any(t in lowered for t in self.on_node[node]):
            return False
        nodes = self.nodes
        total, held, room = nodes.total[node], nodes.allocated[node], self.headroom
        return held[0] <= total[0] - load.cpus - room.cpus + 1e-9 and \
            held[1] <= total[1] - load.mem - room.mem + 1e-9

    def _tenant(self, inst: Instance) -> Tenant:
        launched = inst.launched
        return Tenant(inst.task_id, Amounts(launched.cpus, launched.mem, 0.0),
                      Amounts(inst.used[0], inst.used[1], 0.0), launched.priority,
                      inst.started, launched.elastic,
                      Amounts(inst.demand[0], inst.demand[1], 0.0))

    def _resize(self, inst: Instance, cpus: float, mem: float) -> None:
        """The container may use (cpus, mem) from now on: its node books that, and what it
        uses is capped by it."""
        wants = self._wants.get(inst.task_id, inst.used)
        used = (min(wants[0], cpus), min(wants[1], mem))
        old_demand, old_used = inst.demand, inst.used
        self.nodes.resize(inst.node, (cpus - old_demand[0], mem - old_demand[1]),
                          (used[0] - old_used[0], used[1] - old_used[1]))
        inst.demand = (cpus, mem, old_demand[2])
        inst.used = used
        self._use_rate += used[0] - old_used[0]
        launched = inst.launched
        if cpus < launched.cpus - 1e-9 or mem < launched.mem - 1e-9:
            self._lowered.add(inst.task_id)
        else:
            self._lowered.discard(inst.task_id)

    def _preempt(self, inst: Instance, reason: str) -> E.AgentStatus:
        """End the container for the node's own load: LOST with the decision's reason,
        as the Docker backend ends it."""
        c = self.elastic
        c.preemptions += 1
        now = self.clock()
        record = self.task_of(inst.task_id)
        if record is not None:
            self._preempted_slots[(record.submission_id, record.slot)] = now
        if len(c.preemption_examples) < MAX_EXAMPLES:
            c.preemption_examples.append(f"t={now:.1f}s {inst.task_id} on "
                                         f"{self.nodes.hostnames[inst.node]}: {reason}")
        self._stop(inst)
        return E.AgentStatus(inst.agent_id, inst.task_id, TaskState.LOST, reason)

    def _note_relaunch(self, task_id: str) -> None:
        if not self._preempted_slots:
            return
        record = self.task_of(task_id)
        if record is None:
            return
        at = self._preempted_slots.pop((record.submission_id, record.slot), None)
        if at is not None:
            self.elastic.relaunched += 1
            self.elastic.relaunch_delays.append(self.clock() - at)

    # -- what the agents report ---------------------------------------------------------

    def capacity_reports(self) -> list[object]:
        """CAPACITY as the elastic agent sends it: spare after the current limits, what
        was taken back (`revocable`) and the node's split (`elastic`)."""
        if not self.changed:
            return []
        nodes = self.nodes
        reporting = [node for node in sorted(self.changed) if nodes.up[node]]
        self.changed.clear()
        self.heard[reporting] = self.clock()
        out = []
        for node in reporting:
            cpus, mem, disk = nodes.spare_of(node)
            taken = self._taken_back(node)
            incumbent, used, held = nodes.incumbent[node], nodes.used[node], \
                nodes.allocated[node]
            out.append(E.AgentCapacity(
                nodes.agent_ids[node], self._totals[node],
                Resources(cpus, mem, disk, nodes.port_ranges[node]), taken,
                {"incumbent": Resources(float(incumbent[0]), float(incumbent[1])),
                 "secondary_used": Resources(float(used[0]), float(used[1])),
                 "secondary_allocated": Resources(float(held[0]), float(held[1])),
                 "taken_back": taken}))
        return out

    def _taken_back(self, node: int) -> Resources:
        cpus = mem = 0.0
        for task_id in self.on_node[node]:
            inst = self.instances[task_id]
            if inst.launched.elastic:
                cpus += max(inst.launched.cpus - inst.demand[0], 0.0)
                mem += max(inst.launched.mem - inst.demand[1], 0.0)
        return Resources(cpus, mem)

    # -- accounting ---------------------------------------------------------------------

    def _advance(self) -> None:
        """Add what happened since the last change, at the rates that held."""
        now = self.clock()
        dt = now - self._last
        if dt <= 0:
            return
        c = self.elastic
        c.secondary_cpu_seconds += self._use_rate * dt
        c.asked_cpu_seconds += self._ask_rate * dt
        c.lowered_task_seconds += len(self._lowered) * dt
        c.incumbent_short_node_seconds += self._short * dt
        c.incumbent_short_cpu_seconds += self._short_cpus * dt
        self._last = now

    def _qos(self, node: int) -> None:
        """The node's incumbent deficit anew (after its load or berth's use changed)."""
        new = self.nodes.incumbent_deficit(node) if self.nodes.up[node] else (0.0, 0.0)
        old = self._deficits[node]
        self._deficits[node] = new
        self._short += (max(new) > _SHORT) - (max(old) > _SHORT)
        self._short_cpus += new[0] - old[0]
