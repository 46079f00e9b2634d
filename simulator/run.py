"""The simulation loop: pop the next event and hand it to berth's own cores, wired in
memory (`simulator.wiring`): the real master core (`master.core.Master`) between the
simulated agents and the framework's `CharmanderScheduler`. Virtual time only; no I/O.
"""

from __future__ import annotations

import gc
import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from framework import events as ev
from framework.kind_usage import KindSettings
from framework.scheduler import CharmanderScheduler
from master import events as E
from master.core import Master
from offers.cluster import NodeSpec
from simulator.agents import ItemState, SimAgents
from simulator.autoscale import SimAutoscaler
from simulator.checker import SLAChecker
from simulator.clock import VirtualClock
from simulator.elastic import ElasticAgents
from simulator.frozen import maker
from simulator.inputs import IncumbentStep, JobItem, WorkItem
from simulator.job_runs import JobRun
from simulator.metrics import Recorder, Reshuffle
from simulator.nodes import DAY, IncumbentLoad, SimNodes
from simulator.queue import EventQueue, Kind
from simulator.wiring import Wiring

FRAMEWORK_ID = "berth-sim"
_task_submitted = maker(ev.TaskSubmitted)  # task id, spec, invalid
FINISH, SUBMIT, USAGE, OFFER_CYCLE = (int(k) for k in (Kind.FINISH, Kind.SUBMIT, Kind.USAGE,
                                                      Kind.OFFER_CYCLE))


@dataclass(frozen=True)
class SimConfig:
    """How the simulated world behaves. Times in virtual seconds.

    `fail_rate`: agent losses per node per hour; a lost agent comes back after an
    exponential `repair_time`. `incumbent_load`: the nodes' own programs use about this
    share of cpus and mem, following a daily cycle, updated every `load_interval`.
    `reshuffle_every`: a ReshuffleRequested this often (None: never). `agent_timeout`: the
    master declares an agent lost after this long without a message; the simulated agents
    heartbeat just often enough not to be (each offer cycle, the master ticks and
    allocates).
    """

    strategy: str = "binpack"
    seed: int = 0
    horizon: float = DAY
    offer_interval: float = 10.0
    tick_interval: float = 30.0
    sample_interval: float | None = None  # default: horizon / 288
    fail_rate: float = 0.0
    repair_time: float = 600.0
    incumbent_load: float = 0.0
    load_interval: float = 900.0
    reshuffle_every: float | None = None
    meter_after: float = 60.0
    refuse_seconds: float = 60.0  # the framework's decline filter
    margin: float = 0.1  # intelligence: metered peak times 1 + margin
    backoff_seconds: float = 5.0  # a failed task waits this long, doubling ...
    max_backoff_seconds: float = 300.0  # ... up to this
    agent_timeout: float = 120.0
    # The agents' elasticity (simulator/elastic.py): containers yield to their node's own
    # load, decided every `elastic_period` while it moves; off: they keep their size.
    elastic: bool = False
    elastic_period: float = 1.0
    # Hand-made incumbent load: (at, hostname, cpus, mem) steps (workload load lines).
    incumbent_steps: tuple[IncumbentStep, ...] = ()
    autoscale_tick: float = 10.0  # the framework's autoscaler tick (autoscaled jobs only)
    # How the framework learns per kind of task (framework/kind_usage.py; None: its defaults)
    kinds: KindSettings | None = None
    # Agent losses at given times: (at, hostname), as recorded (`--replay-from`); each
    # node comes back after an exponential `repair_time`, like the drawn ones.
    agent_losses: tuple[tuple[float, str], ...] = ()


@dataclass
class SimResult:
    config: SimConfig
    nodes: SimNodes
    agents: SimAgents
    master: Master
    wiring: Wiring
    checker: SLAChecker
    recorder: Recorder
    scheduler: CharmanderScheduler
    workload_size: int
    submitted: int
    events: int
    wall_seconds: float
    end_time: float
    unplaced: dict[str, int] = field(default_factory=dict)
    offer_cycles: int = 0
    autoscaler: SimAutoscaler | None = None


class Simulation:
    def __init__(self, nodes: Sequence[NodeSpec], workload: Sequence[WorkItem | JobItem],
                 config: SimConfig,
                 progress: Callable[[float], None] | None = None) -> None:
        steps = tuple(config.incumbent_steps)
        if isinstance(workload, list) and any(isinstance(i, IncumbentStep) for i in workload):
            steps += tuple(i for i in workload if isinstance(i, IncumbentStep))
            workload = [i for i in workload if not isinstance(i, IncumbentStep)]
        self.config = config
        self.workload = workload
        self.steps = steps
        self.progress = progress
        self.clock = VirtualClock()
        self.queue = EventQueue(in_order=Kind.USAGE)  # metered a fixed delay after launch
        self.nodes = SimNodes(nodes)
        self.checker = SLAChecker(self.nodes.total, self.nodes.nodetype, self.nodes.hostnames)
        if config.elastic:
            self.agents: SimAgents = ElasticAgents(
                self.nodes, self.checker, self.clock, self.queue,
                meter_after=config.meter_after, period=config.elastic_period)
        else:
            self.agents = SimAgents(self.nodes, self.checker, self.clock, self.queue,
                                    meter_after=config.meter_after)
        # o1, o2, ... and u1, u2, ...: counters, one call each (not a lambda around one)
        ids = map("o{}".format, itertools.count(1)).__next__
        uuids = map("u{}".format, itertools.count(1)).__next__
        self.master = Master(self.clock, agent_timeout=config.agent_timeout,
                             ids=ids, uuids=uuids)
        self.scheduler = CharmanderScheduler(config.strategy, config.seed, self.clock,
                                             refuse_seconds=config.refuse_seconds,
                                             margin=config.margin,
                                             backoff_seconds=config.backoff_seconds,
                                             max_backoff_seconds=config.max_backoff_seconds,
                                             kinds=config.kinds)
        self.wiring = Wiring(self.master, self.scheduler, self.agents, FRAMEWORK_ID,
                             refused=self.agents.refused, revocable=config.elastic)
        self.recorder = Recorder(self.nodes, len(workload))
        self.agents.pending_time = self.recorder.pending_time
        self.agents.task_of = self.scheduler.task
        self.rng = np.random.default_rng([config.seed, 0xFA11])
        self.load = (IncumbentLoad(self.nodes.size, config.incumbent_load, config.seed)
                     if config.incumbent_load > 0 else None)
        self.submitted = 0
        self.offer_cycles = 0
        self.jobs: dict[str, JobRun] = {}  # the submitted jobs' runs (the agents hold them too)
        self.autoscaler = (SimAutoscaler(self.scheduler, self.agents, self.wiring.to_framework,
                                         self.clock, workload)
                           if _autoscaled(workload) else None)
        self._node_of = {h: n for n, h in enumerate(self.nodes.hostnames)}
        self._next_tick = 0.0

    # -- the loop -----------------------------------------------------------------------

    def run(self) -> SimResult:
        with _fewer_collections():
            return self._run()

    def _run(self) -> SimResult:
        cfg = self.config
        started = time.perf_counter()
        horizon = cfg.horizon
        sample_every = cfg.sample_interval or horizon / 288
        q = self.queue
        q.push(0.0, Kind.OFFER_CYCLE)
        q.push(0.0, Kind.SAMPLE)
        if self.load is not None:
            q.push(0.0, Kind.LOAD)
        for step in self.steps:
            q.push(step.at, Kind.LOAD, step)
        if self.autoscaler is not None:
            q.push(0.0, Kind.AUTOSCALE)
        if cfg.reshuffle_every:
            q.push(cfg.reshuffle_every, Kind.RESHUFFLE)
        if cfg.fail_rate > 0 and self.nodes.size:
            q.push(self._next_failure(0.0), Kind.AGENT_DOWN)
        for at, hostname in cfg.agent_losses:
            if hostname in self._node_of:
                q.push(at, Kind.AGENT_DOWN, self._node_of[hostname])
        wiring = self.wiring
        wiring.to_master_all([self.agents.register(n) for n in range(self.nodes.size)])
        wiring.subscribe()
        workload, total = self.workload, len(self.workload)
        k = 0
        next_item = workload[0] if total else None
        next_progress = 0.0
        agents, clock, jobs = self.agents, self.clock, self.jobs
        while True:
            if jobs:  # the workload has jobs: when did the last event end one?
                self._note_job_ends()
            when, kind = q.peek()
            # (submit_at, SUBMIT) < (when, kind): the next submission comes first
            if next_item is not None and (next_item.submit_at < when or (
                    next_item.submit_at == when and kind > SUBMIT)):
                if next_item.submit_at > horizon:
                    next_item = None
                    continue
                clock.advance_to(next_item.submit_at)
                self._submit(next_item, k)
                k += 1
                next_item = workload[k] if k < total else None
                continue
            if when > horizon:
                break
            when, kind, payload = q.pop()
            clock.advance_to(when)
            if kind == FINISH:
                wiring.to_master_all(agents.finish(payload))
            elif kind == USAGE:
                for event in agents.usage(payload):
                    wiring.to_framework(event)
            elif kind == OFFER_CYCLE:
                self._offer_cycle()
                q.push(when + cfg.offer_interval, Kind.OFFER_CYCLE)
            elif kind == Kind.SAMPLE:
                self._sample()
                q.push(when + sample_every, Kind.SAMPLE)
                if self.progress is not None and when >= next_progress:
                    self.progress(when)
                    next_progress = when + horizon / 200
            elif kind == Kind.AGENT_DOWN:
                self._agent_down(payload)
            elif kind == Kind.AGENT_UP:
                wiring.to_master(agents.rejoin(payload))
            elif kind == Kind.LOAD:
                self._load(when, payload)
            elif kind == Kind.RESHUFFLE:
                self._reshuffle()
                q.push(when + cfg.reshuffle_every, Kind.RESHUFFLE)
            elif kind == Kind.MEASURE:
                self._measure(payload)
            elif kind == Kind.ELASTIC:
                wiring.to_master_all(agents.period_event(payload))
            elif kind == Kind.AUTOSCALE:
                self.autoscaler.tick()
                q.push(when + cfg.autoscale_tick, Kind.AUTOSCALE)
        if jobs:
            self._note_job_ends()
        clock.advance_to(max(clock.now, horizon))
        if isinstance(agents, ElasticAgents):
            agents.finish_accounting()
        if self.progress is not None:
            self.progress(horizon)
        wall = time.perf_counter() - started
        return SimResult(cfg, self.nodes, agents, self.master, wiring, self.checker,
                         self.recorder, self.scheduler, total, self.submitted,
                         wiring.framework_events, wall, clock.now, self._unplaced(),
                         self.offer_cycles, self.autoscaler)

    # -- event handlers ----------------------------------------------------------------

    def _load(self, when: float, step: IncumbentStep | None) -> None:
        """The nodes' own load moves: the daily curve (every `load_interval`) or one
        node's hand-made step."""
        elastic = self.agents if isinstance(self.agents, ElasticAgents) else None
        if elastic is not None:
            elastic.before_incumbent_change()
        if step is None:
            self.nodes.set_incumbent_share(self.load.share_at(when))
            self.agents.all_changed()
            self.queue.push(when + self.config.load_interval, Kind.LOAD)
            nodes = None
        else:
            node = self._node_of[step.node]
            self.nodes.set_incumbent(node, step.cpus, step.mem)
            self.agents.changed.add(node)
            nodes = [node]
        if elastic is not None:
            elastic.incumbent_changed(nodes)

    def _submit(self, item: WorkItem | JobItem, index: int) -> None:
        self.submitted += 1
        if isinstance(item, JobItem):
            run = self.jobs[item.name] = JobRun.of(item, index, self.config.seed)
            self.agents.jobs[item.name] = run
            self.wiring.to_framework(ev.JobSubmitted(item.spec))
            return
        self.agents.items[item.spec.id] = ItemState(item, index)
        task_id = f"{item.spec.id}-{round(item.submit_at * 1e9):d}"
        self.wiring.to_framework(_task_submitted(task_id, item.spec, None))

    def _note_job_ends(self) -> None:
        """A job whose phase became complete or failed ended now (the clock is still at the
        event that ended it)."""
        runs = self.jobs
        for job in self.scheduler.changed_jobs():
            run = runs.get(job.id)
            if run is not None and run.ended_at is None and job.phase.final:
                run.ended_at = self.clock.now

    def _offer_cycle(self) -> None:
        """The agents report what changed (and heartbeat when they have said nothing for
        a while), the master ticks and allocates what is spare."""
        now, wiring = self.clock.now, self.wiring
        if now >= self._next_tick:
            self._next_tick = now + self.config.tick_interval
            wiring.to_framework(ev.Tick())
        self.offer_cycles += 1
        self._let_go_of_changes()
        quiet = now - self.config.agent_timeout + 2 * self.config.offer_interval
        wiring.to_master_all(self.agents.capacity_reports() + self.agents.heartbeats(quiet))
        wiring.to_master(E.Tick())
        wiring.to_master(E.Allocate())

    def _let_go_of_changes(self) -> None:
        """What the framework keeps for its driver to persist or publish (changed records
        and reasons, stopped jobs; changed jobs unless the workload has jobs, whose ends
        are read from them) has nowhere to go in memory: let go of it, or a long run holds
        every record."""
        scheduler = self.scheduler
        scheduler.changed_records()
        scheduler.changed_reasons()
        scheduler.changed_unwanted()
        if not self.jobs:
            scheduler.changed_jobs()

    def _agent_down(self, node: int | None) -> None:
        now = self.clock.now
        if node is None:  # the Poisson process of failures: pick a node, plan the next
            node = int(self.rng.integers(self.nodes.size))
            self.queue.push(self._next_failure(now), Kind.AGENT_DOWN)
        if self.nodes.up[node]:
            self.agents.lose(node)
            back = now + float(self.rng.exponential(self.config.repair_time))
            self.queue.push(back, Kind.AGENT_UP, node)

    def _next_failure(self, now: float) -> float:
        rate = self.config.fail_rate * self.nodes.size / 3600.0
        return now + float(self.rng.exponential(1.0 / rate))

    def _sample(self) -> None:
        m = self.agents
        self.recorder.sample(self.clock.now, len(m.instances), self.submitted - m.first_runs,
                             self.submitted, m.counters.finished, m.counters.lost)

    def _reshuffle(self) -> None:
        alloc = self.nodes.allocated.sum(axis=0)
        record = Reshuffle(self.clock.now, self.recorder.nodes_used(), float(alloc[0]),
                           float(alloc[1]), self.agents.counters.killed)
        self.wiring.to_framework(ev.ReshuffleRequested())
        self.queue.push(self.clock.now + 3 * self.config.offer_interval, Kind.MEASURE, record)

    def _measure(self, record: Reshuffle) -> None:
        alloc = self.nodes.allocated.sum(axis=0)
        record.nodes_used_after = self.recorder.nodes_used()
        record.requested_cpus_after = float(alloc[0])
        record.requested_mem_after = float(alloc[1])
        record.tasks_moved = self.agents.counters.killed - record.kills_before
        self.recorder.reshuffles.append(record)

    def _unplaced(self) -> dict[str, int]:
        """Why the tasks that never ran did not: the framework's own last reason for each."""
        out: dict[str, int] = {}
        for record in self.scheduler.tasks():
            if record.state.value != "PENDING":
                continue
            state = self.agents.items.get(record.spec.id)
            if state is None or state.first_run is not None:
                continue
            reason = _reason_class(self.scheduler.pending_reason(record.task_id) or "")
            out[reason] = out.get(reason, 0) + 1
        return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def _autoscaled(workload: Sequence[object]) -> bool:
    """Whether any job of the workload is autoscaled (a list of items: a file's; a
    generated workload has none)."""
    return isinstance(workload, list) and any(
        isinstance(item, JobItem) and item.spec.autoscale is not None for item in workload)


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """A run holds hundreds of thousands of long-lived objects and makes almost no
    reference cycles (the 1,000-node day peaks at the same memory with the collector off).
    The default thresholds walk the live objects again and again, about a tenth of the
    run; here the collector runs once five million more objects live than at its last
    run, so each long-lived object is walked about once and any cycles stay bounded.

    On the way out, what the run made goes straight to the oldest generation (frozen,
    then thawed there): with the default thresholds back, the next allocation would
    otherwise walk all of it as young objects, about a second of a 1,000-node day."""
    before = gc.get_threshold()
    gc.set_threshold(5_000_000, 1_000, 1_000)
    try:
        yield
    finally:
        gc.freeze()
        gc.set_threshold(*before)
        gc.unfreeze()


def _reason_class(reason: str) -> str:
    """A reason without its sizes and counts, so equal causes group together:
    `needs 64 cpus; ... [0/2 nodes: 2 insufficient cpus]` -> `insufficient cpus`."""
    if not reason:
        return "waiting for offers"
    text = reason
    if text.endswith("]") and "[" in text:
        text = text[text.rindex("[") + 1:-1]
    if ": " in text and text.split(": ", 1)[0].split("/")[0].isdigit():
        text = text.split(": ", 1)[1]
    parts = [" ".join(w for w in part.split() if not w[:1].isdigit())
             for part in text.split(", ")]
    return ", ".join(p for p in parts if p) or reason


def percentile(values: np.ndarray, q: float) -> float | None:
    values = values[~np.isnan(values)]
    if values.size == 0:
        return None
    return float(np.percentile(values, q))
