"""The master's decision logic: `Master.handle(event) -> list[Command]`.

Sans-I/O. It owns the agent registry, the offer book, decline filters, the task registry
and the unacknowledged status updates; time comes from the injected clock. The adapter
persists the `Persist` commands, then carries out the rest. Between `begin()` and
`commit()` every change is journaled, so an event whose commands could not be persisted
is taken back with `rollback()` as if it had never been handled.

This module holds the state, the entry points and the handler table; the handlers live
with their idea, in mixins that `Master` inherits: `master.agents` (the agent side),
`master.frameworks` (subscribe, failover, teardown), `master.offer_book` (accept,
decline, refuse filters), `master.allocation` (DRF allocation and resource views) and
`master.updates` (task transitions and status updates) and `master.completed` (the
bounded history of tasks that ended). The names other modules import
from here (limits, reasons, `new_id`) stay importable from here.
"""

from __future__ import annotations

import base64
import heapq
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import replace
from itertools import count

from master import events as E
from master.agents import AgentSide
from master.allocation import MIN_OFFER_CPUS, MIN_OFFER_MEM, Allocation, Sized
from master.completed import DEFAULT_MAX_COMPLETED_TASKS, CompletedTasks
from master.frameworks import DEFAULT_MAX_FRAMEWORKS, DEFAULT_MAX_REMOVED_FRAMEWORKS, FrameworkSide
from master.journal import Journal
from master.offer_book import DEFAULT_REFUSE_SECONDS, OfferBook, Refusal
from master.reasons import (
    REASON_AGENT_REMOVED,
    REASON_AGENT_RESTARTED,
    REASON_FRAMEWORK_REMOVED,
    REASON_INVALID_OFFERS,
    REASON_RECONCILIATION,
    REASON_TASK_INVALID,
    REASON_TASK_KILLED_DURING_LAUNCH,
)
from master.records import (
    AgentRecord,
    FrameworkRecord,
    OfferRecord,
    Snapshot,
    StatusUpdate,
    TaskRecord,
)
from master.updates import TaskUpdates
from offers.resource_vector import Resources

__all__ = [
    "DEFAULT_MAX_COMPLETED_TASKS",
    "DEFAULT_MAX_FRAMEWORKS",
    "DEFAULT_MAX_REMOVED_FRAMEWORKS",
    "DEFAULT_REFUSE_SECONDS",
    "MIN_OFFER_CPUS",
    "MIN_OFFER_MEM",
    "REASON_AGENT_REMOVED",
    "REASON_AGENT_RESTARTED",
    "REASON_FRAMEWORK_REMOVED",
    "REASON_INVALID_OFFERS",
    "REASON_RECONCILIATION",
    "REASON_TASK_INVALID",
    "REASON_TASK_KILLED_DURING_LAUNCH",
    "Clock",
    "Master",
    "new_id",
    "new_uuid",
]

Clock = Callable[[], float]


def new_uuid() -> str:
    """A status-update uuid as Mesos puts it on the wire: 16 bytes, base64."""
    return base64.b64encode(uuidlib.uuid4().bytes).decode()


def new_id() -> str:
    return str(uuidlib.uuid4())


class Master(AgentSide, FrameworkSide, OfferBook, Allocation, TaskUpdates, CompletedTasks):
    """The master's state, restore, journal and clock-driven sweep; each mixin brings
    the handlers of one idea and says which of this state it reads and writes."""

    def __init__(
        self,
        clock: Clock,
        *,
        offer_timeout: float = 60.0,
        agent_timeout: float = 15.0,
        agent_heartbeat_seconds: float = 2.0,
        framework_heartbeat_seconds: float = 15.0,
        status_retry_seconds: float = 10.0,
        kill_grace_seconds: float = 10.0,
        max_frameworks: int | None = None,
        max_removed_frameworks: int = DEFAULT_MAX_REMOVED_FRAMEWORKS,
        reregister_seconds: float = 60.0,
        max_completed_tasks: int = DEFAULT_MAX_COMPLETED_TASKS,
        snapshot: Snapshot | None = None,
        ids: Callable[[], str] = new_id,
        uuids: Callable[[], str] = new_uuid,
    ):
        self.clock = clock
        self.offer_timeout = offer_timeout
        self.agent_timeout = agent_timeout
        self.agent_heartbeat_seconds = agent_heartbeat_seconds
        self.framework_heartbeat_seconds = framework_heartbeat_seconds
        self.status_retry_seconds = status_retry_seconds
        self.kill_grace_seconds = kill_grace_seconds
        self.max_frameworks = max_frameworks
        self.max_removed_frameworks = max(0, max_removed_frameworks)
        self.max_completed_tasks = max(0, max_completed_tasks)  # per framework
        # A framework without failover that was connected when the master stopped gets
        # this long to subscribe again after a restart before it is removed.
        self.reregister_seconds = reregister_seconds
        self._ids = ids
        self._uuids = uuids
        # Everything an event may change and that cannot be recounted is journaled.
        self._journal = Journal()
        self.agents: dict[str, AgentRecord] = self._journal.dict()
        self.frameworks: dict[str, FrameworkRecord] = self._journal.dict()
        self.tasks: dict[str, TaskRecord] = self._journal.dict()  # live, or ended unacknowledged
        # framework -> task id -> its completed tasks, oldest first (`master.completed`)
        self._completed: dict[str, dict[str, TaskRecord]] = self._journal.dict()
        self._completed_of: dict[str, str] = self._journal.dict()  # task id -> framework
        self._startup: list[object] = []  # persisted with the first tick (restore's trims)
        self.offers: dict[str, OfferRecord] = self._journal.dict()
        self._removed: dict[str, int] = self._journal.dict()  # id -> removal order
        self._removals = count()
        self._tasks_on: dict[str, set[str]] = {}  # agent id -> ids of its non-terminal tasks
        # agent id -> ids of its non-terminal tasks it has not counted in its spare yet
        self._uncounted_on: dict[str, set[str]] = {}
        self._offers_on: dict[str, set[str]] = {}  # agent id -> ids of its outstanding offers
        # framework -> agent -> the refuse filter (each framework's dict journaled too)
        self._refuse_until: dict[str, dict[str, Refusal]] = self._journal.dict()
        # (time, order, framework, agents) for each decline or accept, a heap: what lifts
        # next (an agent whose filter was since replaced or lifted is passed over)
        self._refuse_heap: list[tuple[float, int, str, tuple[str, ...]]] = []
        self._refusals = count()  # the order of the heap's entries, so no two tie
        # uuid -> (update, next retry time, current retry interval)
        self._unacked: dict[str, tuple[StatusUpdate, float, float]] = self._journal.dict()
        # task id -> uuid of its newest update
        self._latest_uuid: dict[str, str] = self._journal.dict()
        # live agent (exactly the agents not lost: heartbeats check only this) -> when it
        # last sent anything (its record's `last_seen` lags)
        self._heard: dict[str, float] = self._journal.dict()
        self._on_host: dict[str, str] = self._journal.dict()  # hostname -> its live agent
        self._dirty: set[str] = set()  # agents to consider at the next allocation
        # How many tasks have ended, and agent -> the number of its last end (a refuse
        # filter set before it lifts). A view, not journaled: a rolled-back end only lifts
        # a filter early.
        self._ends = 0
        self._ended_on: dict[str, int] = {}
        # task -> (cpus, MiB) its container may use now, when elasticity changed it from
        # its request (from the agent's STATUS and METERING; a view, not stored)
        self.limits: dict[str, tuple[float, float]] = {}
        # (until, framework, agents) of each decline since the last allocation, which
        # considers those agents only if their filter lifted or other frameworks may take
        # them (before, every framework but one was refused, suppressed or gone)
        self._declined: list[tuple[float, str, tuple[str, ...]]] = []
        # Kept up to date as offers and tasks come and go, so allocation stays O(changed):
        self._held: dict[str, list[float]] = {}  # framework -> [cpus, mem, disk] held
        self._cluster: Resources | None = None  # scalar total of live agents, when known
        # agent -> its unallocated resources as last worked out; see `Allocation._sized`
        self._unallocated: dict[str, Sized] = {}
        self._task_use: dict[str, tuple] = {}  # agent -> its tasks' use; see `unallocated`
        self._free_ports: dict[str, tuple] = {}  # agent -> its free host ports, as last known
        if snapshot is not None:
            self._restore(snapshot)

    # -- restore -----------------------------------------------------------------------------

    def _restore(self, snapshot: Snapshot) -> None:
        """After a restart nobody is connected yet; agents get a full timeout to return."""
        now = self.clock()
        for agent in snapshot.agents:
            self.agents[agent.id] = replace(agent, last_seen=now)
            if not agent.lost:
                self._heard[agent.id] = now
                self._on_host[agent.hostname] = agent.id
            self._tasks_on.setdefault(agent.id, set())
        for fw in snapshot.frameworks:
            self.frameworks[fw.id] = replace(fw, active=False, stream_id=None,
                                             disconnected_at=None if fw.removed else now)
            if fw.removed:
                self._removed[fw.id] = next(self._removals)
        ended = []
        for task in snapshot.tasks:
            task = replace(task, counted_by_agent=True)
            if task.state.terminal and self._may_complete(task):
                ended.append(task)
                continue
            self.tasks[task.id] = task
            if not task.state.terminal:
                self._tasks_on.setdefault(task.agent_id, set()).add(task.id)
                self._hold_resources(task.framework_id, task.resources, +1)
        self._startup = self._restore_completed(ended)
        self._dirty.update(self.agents)

    # -- entry point -------------------------------------------------------------------------

    def handle(self, event: object) -> list[object]:
        handler = _HANDLERS.get(type(event))
        if handler is None:
            raise TypeError(f"the master has no handler for {type(event).__name__}")
        return handler(self, event)

    def begin(self) -> None:
        """Start journaling: what the next events change can be taken back."""
        self._journal.begin()

    def commit(self) -> None:
        """What was handled since `begin` stands (its commands were persisted)."""
        self._journal.commit()

    def rollback(self) -> None:
        """Take back everything handled since `begin`, as if it never happened.

        The registries are restored from the journal; the indexes kept for speed
        (tasks and offers per agent, what each framework holds, the cluster total) are
        recounted from them rather than journaled: a rollback is rare, a write is not.
        """
        self._journal.rollback()
        self._tasks_on = {agent_id: set() for agent_id in self.agents}
        self._uncounted_on = {}
        self._offers_on = {}
        self._held = {}
        for task in self.tasks.values():
            if not task.state.terminal:
                self._tasks_on.setdefault(task.agent_id, set()).add(task.id)
                if not task.counted_by_agent:
                    self._uncounted_on.setdefault(task.agent_id, set()).add(task.id)
                self._hold_resources(task.framework_id, task.resources, +1)
        for offer in self.offers.values():
            self._offers_on.setdefault(offer.agent_id, set()).add(offer.id)
            self._hold_resources(offer.framework_id, offer.resources, +1)
        self._cluster = None
        self._unallocated = {}
        self._task_use = {}
        self._free_ports = {}
        self._refuse_heap = [(live.until, next(self._refusals), fid, (aid,))
                             for fid, refused in self._refuse_until.items()
                             for aid, live in refused.items()]
        heapq.heapify(self._refuse_heap)
        self._dirty = set(self.agents)
        self._declined = []

    # -- time --------------------------------------------------------------------------------

    def _on_tick(self, ev: E.Tick) -> list[object]:
        """Everything that happens by the clock, in this order: offers expire, silent
        agents are lost, refuse filters lift, failover timeouts run out, updates are
        re-sent."""
        now = self.clock()
        out, self._startup = self._startup, []
        out += self._expire_offers(now)
        out += self._lose_silent_agents(now)
        self._expire_refusals(now)
        out += self._expire_failovers(now)
        out += self._retry_updates(now)
        return out


_HANDLERS: dict[type, Callable[[Master, object], list[object]]] = {
    E.AgentRegister: Master._on_register,
    E.AgentHeartbeat: Master._on_heartbeat,
    E.AgentCapacity: Master._on_capacity,
    E.AgentStatus: Master._on_status,
    E.AgentMetering: Master._on_metering,
    E.Subscribe: Master._on_subscribe,
    E.StreamClosed: Master._on_stream_closed,
    E.Accept: Master._on_accept,
    E.Decline: Master._on_decline,
    E.Kill: Master._on_kill,
    E.Acknowledge: Master._on_acknowledge,
    E.Reconcile: Master._on_reconcile,
    E.Revive: Master._on_revive,
    E.Suppress: Master._on_suppress,
    E.Teardown: Master._on_teardown,
    E.Tick: Master._on_tick,
    E.Allocate: Master._on_allocate,
}
