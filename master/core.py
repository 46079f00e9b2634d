"""The master's decision logic: `Master.handle(event) -> list[Command]`.

Sans-I/O. It owns the agent registry, the offer book, decline filters, the task registry
and the unacknowledged status updates; time comes from the injected clock. The adapter
persists the `Persist` commands, then carries out the rest. Between `begin()` and
`commit()` every change is journaled, so an event whose commands could not be persisted
is taken back with `rollback()` as if it had never been handled.
"""

from __future__ import annotations

import base64
import uuid as uuidlib
from collections.abc import Callable, Iterable
from dataclasses import replace
from itertools import count

from master import commands as C
from master import events as E
from master.journal import Journal, JournaledDict
from master.records import (
    AgentRecord,
    FrameworkRecord,
    OfferRecord,
    Snapshot,
    StatusUpdate,
    TaskRecord,
)
from master.resources import Resources, ports_of
from master.sorter import pick_next
from offers.states import IllegalTransition, TaskState, check_transition

Clock = Callable[[], float]

# Mesos only offers an agent when at least this much is free (min_allocatable_resources).
MIN_OFFER_CPUS = 0.01
MIN_OFFER_MEM = 32.0

DEFAULT_REFUSE_SECONDS = 5.0  # Mesos's Filters.refuse_seconds default

# Frameworks that may be subscribed (or waited for) at once, and removed ones remembered
# (for /state and to refuse their ids): both bounded so that no client makes them grow.
DEFAULT_MAX_FRAMEWORKS = 100
DEFAULT_MAX_REMOVED_FRAMEWORKS = 100

REASON_AGENT_REMOVED = "REASON_AGENT_REMOVED"
REASON_AGENT_RESTARTED = "REASON_AGENT_RESTARTED"
REASON_INVALID_OFFERS = "REASON_INVALID_OFFERS"
REASON_TASK_INVALID = "REASON_TASK_INVALID"
REASON_RECONCILIATION = "REASON_RECONCILIATION"
REASON_FRAMEWORK_REMOVED = "REASON_FRAMEWORK_REMOVED"
REASON_TASK_KILLED_DURING_LAUNCH = "REASON_TASK_KILLED_DURING_LAUNCH"

# What Mesos would say when an executor reports a terminal state without a reason.
_DEFAULT_REASON = {
    TaskState.ERROR: "REASON_CONTAINER_LAUNCH_FAILED",
    TaskState.FAILED: "REASON_COMMAND_EXECUTOR_FAILED",
    TaskState.KILLED: "REASON_TASK_KILLED",
}


def new_uuid() -> str:
    """A status-update uuid as Mesos puts it on the wire: 16 bytes, base64."""
    return base64.b64encode(uuidlib.uuid4().bytes).decode()


def new_id() -> str:
    return str(uuidlib.uuid4())


class Master:
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
        # A framework without failover that was connected when the master stopped gets
        # this long to subscribe again after a restart before it is removed.
        self.reregister_seconds = reregister_seconds
        self._ids = ids
        self._uuids = uuids
        # Everything an event may change and that cannot be recounted is journaled.
        self._journal = Journal()
        self.agents: dict[str, AgentRecord] = JournaledDict(self._journal)
        self.frameworks: dict[str, FrameworkRecord] = JournaledDict(self._journal)
        self.tasks: dict[str, TaskRecord] = JournaledDict(self._journal)
        self.offers: dict[str, OfferRecord] = JournaledDict(self._journal)
        self._removed: dict[str, int] = JournaledDict(self._journal)  # id -> removal order
        self._removals = count()
        self._tasks_on: dict[str, set[str]] = {}  # agent id -> ids of its non-terminal tasks
        self._offers_on: dict[str, set[str]] = {}  # agent id -> ids of its outstanding offers
        # (framework, agent) -> time
        self._refuse_until: dict[tuple[str, str], float] = JournaledDict(self._journal)
        # uuid -> (update, next retry time, current retry interval)
        self._unacked: dict[str, tuple[StatusUpdate, float, float]] = JournaledDict(
            self._journal)
        # task id -> uuid of its newest update
        self._latest_uuid: dict[str, str] = JournaledDict(self._journal)
        self._dirty: set[str] = set()  # agents to consider at the next allocation
        # Kept up to date as offers and tasks come and go, so allocation stays O(changed):
        self._held: dict[str, list[float]] = {}  # framework -> [cpus, mem, disk] held
        self._cluster: Resources | None = None  # scalar total of live agents, when known
        if snapshot is not None:
            self._restore(snapshot)

    # -- restore -----------------------------------------------------------------------------

    def _restore(self, snapshot: Snapshot) -> None:
        """After a restart nobody is connected yet; agents get a full timeout to return."""
        now = self.clock()
        for agent in snapshot.agents:
            self.agents[agent.id] = replace(agent, last_seen=now)
            self._tasks_on.setdefault(agent.id, set())
        for fw in snapshot.frameworks:
            self.frameworks[fw.id] = replace(fw, active=False, stream_id=None,
                                             disconnected_at=None if fw.removed else now)
            if fw.removed:
                self._removed[fw.id] = next(self._removals)
        for task in snapshot.tasks:
            self.tasks[task.id] = replace(task, counted_by_agent=True)
            if not task.state.terminal:
                self._tasks_on.setdefault(task.agent_id, set()).add(task.id)
                self._hold(task.framework_id, task.resources, +1)
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
        self._offers_on = {}
        self._held = {}
        for task in self.tasks.values():
            if not task.state.terminal:
                self._tasks_on.setdefault(task.agent_id, set()).add(task.id)
                self._hold(task.framework_id, task.resources, +1)
        for offer in self.offers.values():
            self._offers_on.setdefault(offer.agent_id, set()).add(offer.id)
            self._hold(offer.framework_id, offer.resources, +1)
        self._cluster = None
        self._dirty = set(self.agents)

    def check_subscribe(self, framework_id: str | None) -> tuple[int, str] | None:
        """Why a SUBSCRIBE may not be made (HTTP status, message), or None."""
        fw = self.frameworks.get(framework_id) if framework_id else None
        if fw is not None and fw.removed:
            return 403, f"framework {framework_id} has been torn down"
        if fw is None and self.max_frameworks is not None:
            held = sum(1 for f in self.frameworks.values() if not f.removed)
            if held >= self.max_frameworks:
                return 503, (f"the master already holds {held} frameworks, its maximum "
                             f"(--max-frameworks {self.max_frameworks}); tear one down or "
                             "raise the limit")
        return None

    def check_call(self, framework_id: str | None, stream_id: str | None) -> tuple[int, str] | None:
        """Why a non-SUBSCRIBE call may not be made (HTTP status, message), or None."""
        if not framework_id:
            return 400, "framework_id: is required for every call but SUBSCRIBE"
        fw = self.frameworks.get(framework_id)
        if fw is None or fw.removed:
            return 403, f"framework {framework_id} is not subscribed"
        if not stream_id:
            return 400, "Mesos-Stream-Id: every call but SUBSCRIBE needs this header"
        if not fw.active or fw.stream_id != stream_id:
            return 400, (f"Mesos-Stream-Id: {stream_id} is not the stream currently "
                         f"subscribed for framework {framework_id}")
        return None

    # -- views --------------------------------------------------------------------------------

    @property
    def wants_allocation(self) -> bool:
        """Something changed that an `Allocate` might turn into offers."""
        return bool(self._dirty) and any(
            fw.active and not fw.suppressed and not fw.removed for fw in self.frameworks.values())

    def used(self, agent_id: str) -> Resources:
        """Resources of the tasks the master believes are on the agent and not finished."""
        total = Resources()
        for tid in self._tasks_on.get(agent_id, ()):
            total = total + self.tasks[tid].resources
        return total

    def offerable(self, agent_id: str) -> Resources:
        """What may still be offered on an agent: `unallocated` less what is out in offers."""
        avail = self.unallocated(agent_id)
        for oid in self._offers_on.get(agent_id, ()):
            avail = avail - self.offers[oid].resources
        return avail

    def unallocated(self, agent_id: str) -> Resources:
        """An agent's spare, less what the master knows the agent has not counted yet,
        capped by total - used, less the host ports of its live tasks."""
        agent = self.agents[agent_id]
        used = Resources()
        uncounted = Resources()
        task_ports: list[tuple[int, int]] = []
        for tid in self._tasks_on.get(agent_id, ()):
            task = self.tasks[tid]
            used = used + task.resources
            task_ports.extend(task.resources.ports)
            task_ports.extend(ports_of(m.host_port for m in task.spec.ports))
            if not task.counted_by_agent:
                uncounted = uncounted + task.resources
        avail = (agent.spare - uncounted).meet(agent.total - used)
        return avail - Resources(ports=tuple(task_ports))

    def offered(self, agent_id: str) -> Resources:
        """What of an agent is out in offers right now."""
        total = Resources()
        for oid in self._offers_on.get(agent_id, ()):
            total = total + self.offers[oid].resources
        return total

    def allocated(self, framework_id: str) -> Resources:
        total = Resources()
        for task in self.tasks.values():
            if task.framework_id == framework_id and not task.state.terminal:
                total = total + task.resources
        for offer in self.offers.values():
            if offer.framework_id == framework_id:
                total = total + offer.resources
        return total

    def live_agents(self) -> list[AgentRecord]:
        return [a for a in self.agents.values() if not a.lost]

    def pending_acks(self, framework_id: str | None = None) -> list[StatusUpdate]:
        return [u for u, _, _ in self._unacked.values()
                if framework_id is None or u.framework_id == framework_id]

    # -- agents -----------------------------------------------------------------------------

    def _on_register(self, ev: E.AgentRegister) -> list[object]:
        now = self.clock()
        agent_id = ev.agent_id or self._ids()
        old = self.agents.get(agent_id)
        out: list[object] = []
        if old is not None:
            out += self._drop_offers_on(agent_id, rescind=True)
        agent = AgentRecord(
            id=agent_id, hostname=ev.hostname, endpoint=ev.endpoint,
            attributes=dict(ev.attributes), total=ev.total, spare=ev.spare,
            registered_at=old.registered_at if old else now, last_seen=now, lost=False)
        self.agents[agent_id] = agent
        if old is not None and not old.lost:
            self._count_total(old.total, -1)
        self._count_total(agent.total, +1)
        self._tasks_on.setdefault(agent_id, set())
        out.append(C.SaveAgent(agent))
        for end in ev.ended:  # what the agent saw end while unheard: real ends, not LOST
            out += self._on_status(replace(end, agent_id=agent_id))

        keep, kill = [], []
        reported = set()
        for running in ev.running:
            reported.add(running.task_id)
            task = self.tasks.get(running.task_id)
            fw = self.frameworks.get(task.framework_id) if task else None
            if task is None or fw is None or fw.removed or task.agent_id != agent_id:
                kill.append(running.task_id)
            elif task.state is TaskState.LOST and not fw.partition_aware:
                # The framework was told LOST and has likely replaced it: no second copy.
                kill.append(running.task_id)
            elif task.state is TaskState.KILLING or (
                    task.state.terminal and task.state is not TaskState.LOST):
                kill.append(running.task_id)
            else:
                keep.append(running.task_id)
                state = running.state if running.state in (
                    TaskState.STARTING, TaskState.RUNNING) else TaskState.RUNNING
                out += self._set_state(task, state, source="SOURCE_AGENT",
                                       message="agent re-registered with this task running",
                                       container_id=running.container_id, counted=True)
        for tid in sorted(self._tasks_on.get(agent_id, set()) - reported):
            task = self.tasks[tid]
            gone = TaskState.KILLED if task.state is TaskState.KILLING else TaskState.LOST
            out += self._set_state(
                task, gone, reason=REASON_AGENT_RESTARTED,
                message=f"agent {ev.hostname} re-registered without this task")
        self._dirty.add(agent_id)
        out.append(C.AgentAccepted(agent_id, tuple(keep), tuple(kill),
                                   self.agent_heartbeat_seconds))
        return out

    def _live(self, agent_id: str) -> AgentRecord | None:
        agent = self.agents.get(agent_id)
        if agent is None or agent.lost:
            return None
        agent = replace(agent, last_seen=self.clock())
        self.agents[agent_id] = agent
        return agent

    def _rejected(self, agent_id: str) -> list[object]:
        known = agent_id in self.agents
        return [C.AgentRejected(agent_id, "agent was declared lost; register again" if known
                                else "unknown agent; register first")]

    def _on_heartbeat(self, ev: E.AgentHeartbeat) -> list[object]:
        return [] if self._live(ev.agent_id) else self._rejected(ev.agent_id)

    def _on_capacity(self, ev: E.AgentCapacity) -> list[object]:
        agent = self._live(ev.agent_id)
        if agent is None:
            return self._rejected(ev.agent_id)
        self.agents[agent.id] = replace(agent, total=ev.total, spare=ev.spare)
        if ev.total != agent.total:
            self._count_total(agent.total, -1)
            self._count_total(ev.total, +1)
        for tid in self._tasks_on.get(agent.id, ()):
            task = self.tasks[tid]
            if task.state is not TaskState.STAGING and not task.counted_by_agent:
                self.tasks[tid] = replace(task, counted_by_agent=True)
        out: list[object] = []
        # An agent that shrank below what is out in offers: take those offers back.
        offered = Resources()
        for oid in self._offers_on.get(agent.id, ()):
            offered = offered + self.offers[oid].resources
        if self._offers_on.get(agent.id) and not self.unallocated(agent.id).contains(offered):
            out += self._drop_offers_on(agent.id, rescind=True)
        self._dirty.add(agent.id)
        return out

    def _on_status(self, ev: E.AgentStatus) -> list[object]:
        if self._live(ev.agent_id) is None:
            return self._rejected(ev.agent_id)
        task = self.tasks.get(ev.task_id)
        if task is None or task.agent_id != ev.agent_id:
            if ev.state.terminal:
                return []
            return [C.KillOnAgent(ev.agent_id, ev.task_id, self.kill_grace_seconds)]
        reason, message = ev.reason, ev.message
        if reason and not reason.startswith("REASON_"):
            message, reason = (f"{reason}: {message}" if message else reason), None
        if reason is None:
            reason = _DEFAULT_REASON.get(ev.state)
        if ev.exit_code is not None and ev.state is TaskState.FAILED and (
                not message or "exit" not in message):
            message = f"{message + '; ' if message else ''}exit code {ev.exit_code}"
        try:
            return self._set_state(task, ev.state, reason=reason, message=message,
                                   source="SOURCE_EXECUTOR", container_id=ev.container_id,
                                   exit_code=ev.exit_code)
        except IllegalTransition:
            # The agent reports something the table forbids (e.g. RUNNING after KILLED):
            # keep what we have; the agent's bug must not corrupt the registry.
            return []

    def _on_metering(self, ev: E.AgentMetering) -> list[object]:
        if self._live(ev.agent_id) is None:
            return self._rejected(ev.agent_id)
        return [C.RecordMetering(ev.agent_id, ev.samples)] if ev.samples else []

    # -- frameworks -------------------------------------------------------------------------

    def _on_subscribe(self, ev: E.Subscribe) -> list[object]:
        now = self.clock()
        fid = ev.framework_id or self._ids()
        old = self.frameworks.get(fid)
        out: list[object] = []
        refusal = self.check_subscribe(fid)
        if refusal is not None:  # no SendSubscribed: the adapter answers with the refusal
            return [C.CloseStream(fid, ev.stream_id, refusal[1])]
        if old is not None and old.active and old.stream_id:
            out.append(C.CloseStream(fid, old.stream_id, "framework failed over"))
        fw = FrameworkRecord(
            id=fid, name=ev.name, user=ev.user, roles=ev.roles, capabilities=ev.capabilities,
            info=dict(ev.info), registered_at=old.registered_at if old else now, active=True,
            suppressed=old.suppressed if old else False, stream_id=ev.stream_id)
        self.frameworks[fid] = fw
        out.append(C.SaveFramework(fw))
        out.append(C.SendSubscribed(fid, ev.stream_id, self.framework_heartbeat_seconds))
        for update, _, _ in list(self._unacked.values()):
            if update.framework_id == fid:
                out.append(C.SendUpdate(fid, update))
        self._dirty.update(self.agents)
        return out

    def _on_stream_closed(self, ev: E.StreamClosed) -> list[object]:
        fw = self.frameworks.get(ev.framework_id)
        if fw is None or fw.stream_id != ev.stream_id:
            return []
        self.frameworks[fw.id] = replace(fw, active=False, stream_id=None,
                                         disconnected_at=self.clock())
        out = self._drop_offers_of(fw.id, rescind=False)
        if fw.failover_timeout == 0:  # Mesos: 0 means no failover; gone with its stream
            return out + self._on_teardown(E.Teardown(fw.id))
        return [C.SaveFramework(self.frameworks[fw.id]), *out]

    def _on_accept(self, ev: E.Accept) -> list[object]:
        now = self.clock()
        fid = ev.framework_id
        out: list[object] = []
        held = [self.offers.get(oid) for oid in ev.offer_ids]
        problem = None
        if not ev.offer_ids:
            problem = "no offer_ids given"
        elif any(o is None or o.framework_id != fid for o in held):
            bad = [oid for oid, o in zip(ev.offer_ids, held, strict=True)
                   if o is None or o.framework_id != fid]
            problem = (f"offer(s) {', '.join(bad)} are not outstanding for this framework "
                       "(used, declined, rescinded or expired)")
        elif len({o.agent_id for o in held}) > 1:
            problem = "offers from more than one agent cannot be combined"
        # Offers named in an ACCEPT are used up whatever happens next (Mesos does the same).
        agent_ids = set()
        pool = Resources()
        for offer in held:
            if offer is not None and offer.framework_id == fid:
                agent_ids.add(offer.agent_id)
                pool = pool + offer.resources
                self._remove_offer(offer.id)
        if problem is not None:
            for launch in ev.launches:
                if isinstance(launch, E.RefusedLaunch):  # its own problem says more
                    out.append(self._one_off_update(fid, launch.task_id, launch.agent_id,
                                                    TaskState.ERROR, REASON_TASK_INVALID,
                                                    launch.message))
                    continue
                out.append(self._one_off_update(
                    fid, launch.task_id, launch.agent_id, TaskState.LOST,
                    REASON_INVALID_OFFERS, problem))
            self._dirty.update(agent_ids)
            return out
        agent_id = held[0].agent_id
        agent = self.agents.get(agent_id)
        for launch in ev.launches:
            if isinstance(launch, E.RefusedLaunch):
                out.append(self._one_off_update(fid, launch.task_id, launch.agent_id,
                                                TaskState.ERROR, REASON_TASK_INVALID,
                                                launch.message))
                continue
            why = self._launch_problem(launch, agent_id, pool)
            if why is not None:
                out.append(self._one_off_update(fid, launch.task_id, launch.agent_id,
                                                TaskState.ERROR, REASON_TASK_INVALID, why))
                continue
            pool = pool - launch.resources
            task = TaskRecord(
                id=launch.task_id, framework_id=fid, agent_id=agent_id, name=launch.name,
                state=TaskState.STAGING, resources=launch.resources, spec=launch.spec,
                created_at=now, updated_at=now)
            self.tasks[task.id] = task
            self._tasks_on.setdefault(agent_id, set()).add(task.id)
            self._hold(fid, task.resources, +1)
            out.append(C.SaveTask(task))
            out.append(C.RecordStatus(task.id, task.state.value, None,
                                      f"launched on {agent.hostname if agent else agent_id}",
                                      now))
            out.append(C.LaunchOnAgent(agent_id, launch.spec))
        self._refuse(fid, agent_id, ev.refuse_seconds)
        self._dirty.add(agent_id)
        return out

    def _launch_problem(self, launch: E.TaskLaunch, agent_id: str, pool: Resources) -> str | None:
        if launch.task_id in self.tasks:
            return f"task_id: {launch.task_id} is already in use by another task"
        if launch.agent_id != agent_id:
            return f"agent_id: {launch.agent_id} is not the agent of the accepted offers"
        if launch.resources.cpus <= 0 or launch.resources.mem <= 0:
            return "resources: a task needs cpus > 0 and mem > 0"
        short = pool.shortfall(launch.resources)
        if short:
            return "resources: " + "; ".join(short)
        mapped = ports_of(m.host_port for m in launch.spec.ports)
        if not Resources(ports=launch.resources.ports).contains(Resources(ports=mapped)):
            return ("container.docker.port_mappings: host ports must be among the task's "
                    "'ports' resources")
        return None

    def _on_decline(self, ev: E.Decline) -> list[object]:
        agents = set()
        for oid in ev.offer_ids:
            offer = self.offers.get(oid)
            if offer is not None and offer.framework_id == ev.framework_id:
                agents.add(offer.agent_id)
                self._remove_offer(oid)
        for agent_id in agents:
            self._refuse(ev.framework_id, agent_id, ev.refuse_seconds)
        self._dirty.update(agents)
        return []

    def _refuse(self, framework_id: str, agent_id: str, refuse_seconds: float | None) -> None:
        seconds = DEFAULT_REFUSE_SECONDS if refuse_seconds is None else refuse_seconds
        if seconds > 0:
            self._refuse_until[(framework_id, agent_id)] = self.clock() + seconds
        else:
            self._refuse_until.pop((framework_id, agent_id), None)

    def _on_kill(self, ev: E.Kill) -> list[object]:
        task = self.tasks.get(ev.task_id)
        if task is None or task.framework_id != ev.framework_id:
            return [self._one_off_update(ev.framework_id, ev.task_id, ev.agent_id,
                                         TaskState.LOST, REASON_RECONCILIATION,
                                         "task is unknown to the master", track=False)]
        if task.state.terminal:
            return [C.SendUpdate(ev.framework_id, self._status_of(task))]
        return self._kill(task, "killed by the framework")

    def _kill(self, task: TaskRecord, message: str) -> list[object]:
        out: list[object] = []
        if task.state is not TaskState.KILLING:
            fw = self.frameworks.get(task.framework_id)
            if fw is not None and "TASK_KILLING_STATE" in fw.capabilities:
                out += self._set_state(task, TaskState.KILLING, message=message)
            else:  # the framework cannot read TASK_KILLING: record it, tell no one
                check_transition(task.state, TaskState.KILLING)
                now = self.clock()
                self.tasks[task.id] = replace(task, state=TaskState.KILLING, message=message,
                                              updated_at=now)
                out.append(C.SaveTask(self.tasks[task.id]))
                out.append(C.RecordStatus(task.id, TaskState.KILLING.value, None, message, now))
        out.append(C.KillOnAgent(task.agent_id, task.id, self.kill_grace_seconds))
        return out

    def _on_acknowledge(self, ev: E.Acknowledge) -> list[object]:
        held = self._unacked.get(ev.uuid)
        if held is not None and held[0].framework_id == ev.framework_id \
                and held[0].task_id == ev.task_id:
            del self._unacked[ev.uuid]
        return []

    def _on_reconcile(self, ev: E.Reconcile) -> list[object]:
        fid = ev.framework_id
        out: list[object] = []
        if not ev.tasks:
            for task in self.tasks.values():
                if task.framework_id == fid and not task.state.terminal:
                    out.append(C.SendUpdate(fid, self._status_of(task)))
            return out
        for task_id, agent_id in ev.tasks:
            task = self.tasks.get(task_id)
            if task is not None and task.framework_id == fid:
                out.append(C.SendUpdate(fid, self._status_of(task)))
            else:
                out.append(self._one_off_update(fid, task_id, agent_id, TaskState.LOST,
                                                REASON_RECONCILIATION,
                                                "task is unknown to the master", track=False))
        return out

    def _on_revive(self, ev: E.Revive) -> list[object]:
        fw = self.frameworks[ev.framework_id]
        for key in [k for k in self._refuse_until if k[0] == fw.id]:
            del self._refuse_until[key]
        self.frameworks[fw.id] = replace(fw, suppressed=False)
        self._dirty.update(self.agents)
        return [C.SaveFramework(self.frameworks[fw.id])] if fw.suppressed else []

    def _on_suppress(self, ev: E.Suppress) -> list[object]:
        fw = self.frameworks[ev.framework_id]
        if fw.suppressed:
            return []
        self.frameworks[fw.id] = replace(fw, suppressed=True)
        return [C.SaveFramework(self.frameworks[fw.id])]

    def _on_teardown(self, ev: E.Teardown) -> list[object]:
        fw = self.frameworks.get(ev.framework_id)
        if fw is None or fw.removed:
            return []
        out: list[object] = []
        for task in list(self.tasks.values()):
            if task.framework_id == fw.id and not task.state.terminal:
                out += self._kill(task, "framework torn down")
        out += self._drop_offers_of(fw.id, rescind=False)
        for key in [k for k in self._refuse_until if k[0] == fw.id]:
            del self._refuse_until[key]
        for uuid in [u for u, held in self._unacked.items() if held[0].framework_id == fw.id]:
            del self._unacked[uuid]
        self.frameworks[fw.id] = replace(fw, removed=True, active=False, stream_id=None)
        out.append(C.SaveFramework(self.frameworks[fw.id]))
        self._removed[fw.id] = next(self._removals)
        out += self._forget_removed()
        if fw.stream_id:
            out.append(C.CloseStream(fw.id, fw.stream_id, "framework torn down"))
        self._dirty.update(self.agents)
        return out

    def _forget_removed(self) -> list[object]:
        """Forget the oldest removed frameworks beyond `max_removed_frameworks`."""
        out: list[object] = []
        excess = len(self._removed) - self.max_removed_frameworks
        if excess > 0:
            for fid in sorted(self._removed, key=self._removed.__getitem__)[:excess]:
                del self._removed[fid]
                self.frameworks.pop(fid, None)
                self._held.pop(fid, None)
                out.append(C.ForgetFramework(fid))
        return out

    # -- time -------------------------------------------------------------------------------

    def _on_tick(self, ev: E.Tick) -> list[object]:
        now = self.clock()
        out: list[object] = []
        for offer in [o for o in self.offers.values() if o.expires_at <= now]:
            self._remove_offer(offer.id)
            out.append(C.SendRescind(offer.framework_id, offer.id))
            self._dirty.add(offer.agent_id)
        for agent in list(self.agents.values()):
            if not agent.lost and now - agent.last_seen >= self.agent_timeout:
                out += self._lose_agent(agent, now)
        for key in [k for k, until in self._refuse_until.items() if until <= now]:
            del self._refuse_until[key]
            self._dirty.add(key[1])
        for fw in list(self.frameworks.values()):
            timeout = fw.failover_timeout
            if timeout == 0:  # disconnected by a restart rather than by a closed stream
                timeout = self.reregister_seconds
            if not fw.active and not fw.removed and timeout is not None \
                    and fw.disconnected_at is not None and now - fw.disconnected_at >= timeout:
                out += self._on_teardown(E.Teardown(fw.id))
        for uuid, (update, due, interval) in list(self._unacked.items()):
            fw = self.frameworks.get(update.framework_id)
            if due <= now and fw is not None and fw.active:
                out.append(C.SendUpdate(update.framework_id, update))
                interval = min(interval * 2, 10 * self.status_retry_seconds)
                self._unacked[uuid] = (update, now + interval, interval)
        return out

    def _lose_agent(self, agent: AgentRecord, now: float) -> list[object]:
        self.agents[agent.id] = replace(agent, lost=True)
        self._count_total(agent.total, -1)
        out: list[object] = [C.SaveAgent(self.agents[agent.id])]
        out += self._drop_offers_on(agent.id, rescind=True)
        silent = now - agent.last_seen
        for tid in sorted(self._tasks_on.get(agent.id, set())):
            out += self._set_state(
                self.tasks[tid], TaskState.LOST, reason=REASON_AGENT_REMOVED,
                message=f"agent {agent.hostname} ({agent.id}) lost: no message for "
                        f"{silent:.1f}s (agent_timeout {self.agent_timeout:g}s)")
        for fw in self.frameworks.values():
            if fw.active:
                out.append(C.SendFailure(fw.id, agent.id))
        return out

    def _on_allocate(self, ev: E.Allocate) -> list[object]:
        dirty, self._dirty = self._dirty, set()
        now = self.clock()
        eligible = [fw.id for fw in self.frameworks.values()
                    if fw.active and not fw.suppressed and not fw.removed]
        if not eligible or not dirty:
            return []
        cluster = self._cluster_total()
        scalar_alloc = {fid: Resources(*self._held.get(fid, (0.0, 0.0, 0.0)))
                        for fid in eligible}
        order = {fid: self.frameworks[fid].registered_at for fid in eligible}
        batches: dict[str, list[OfferRecord]] = {}
        for agent_id in sorted(dirty):
            agent = self.agents.get(agent_id)
            if agent is None or agent.lost:
                continue
            avail = self.offerable(agent_id)
            if avail.cpus < MIN_OFFER_CPUS and avail.mem < MIN_OFFER_MEM:
                continue
            candidates = [fid for fid in eligible
                          if self._refuse_until.get((fid, agent_id), 0.0) <= now]
            fid = pick_next(candidates, scalar_alloc, cluster, order)
            if fid is None:
                continue
            offer = OfferRecord(
                id=self._ids(), framework_id=fid, agent_id=agent_id, hostname=agent.hostname,
                attributes=agent.attributes, resources=avail, created_at=now,
                expires_at=now + self.offer_timeout)
            self.offers[offer.id] = offer
            self._offers_on.setdefault(agent_id, set()).add(offer.id)
            self._hold(fid, avail, +1)
            scalar_alloc[fid] = scalar_alloc[fid] + self._scalar(avail)
            batches.setdefault(fid, []).append(offer)
        return [C.SendOffers(fid, tuple(offers)) for fid, offers in batches.items()]

    def _cluster_total(self) -> Resources:
        """cpus/mem/disk of all live agents (what dominant shares are shares of)."""
        if self._cluster is None:
            cpus = mem = disk = 0.0
            for agent in self.agents.values():
                if not agent.lost:
                    cpus += agent.total.cpus
                    mem += agent.total.mem
                    disk += agent.total.disk
            self._cluster = Resources(cpus, mem, disk)
        return self._cluster

    def _count_total(self, total: Resources, sign: int) -> None:
        if self._cluster is not None:
            c = self._cluster
            self._cluster = Resources(max(0.0, c.cpus + sign * total.cpus),
                                      max(0.0, c.mem + sign * total.mem),
                                      max(0.0, c.disk + sign * total.disk))

    def _hold(self, framework_id: str, r: Resources, sign: int) -> None:
        acc = self._held.setdefault(framework_id, [0.0, 0.0, 0.0])
        acc[0] = max(0.0, acc[0] + sign * r.cpus)
        acc[1] = max(0.0, acc[1] + sign * r.mem)
        acc[2] = max(0.0, acc[2] + sign * r.disk)

    def held(self, framework_id: str) -> Resources:
        """cpus/mem/disk a framework holds in live tasks and outstanding offers (for DRF)."""
        return Resources(*self._held.get(framework_id, (0.0, 0.0, 0.0)))

    @staticmethod
    def _scalar(r: Resources) -> Resources:
        return Resources(r.cpus, r.mem, r.disk)

    # -- helpers -----------------------------------------------------------------------------

    def _remove_offer(self, offer_id: str) -> OfferRecord | None:
        offer = self.offers.pop(offer_id, None)
        if offer is not None:
            self._offers_on.get(offer.agent_id, set()).discard(offer_id)
            self._hold(offer.framework_id, offer.resources, -1)
        return offer

    def _drop_offers_on(self, agent_id: str, rescind: bool) -> list[object]:
        return self._drop(list(self._offers_on.get(agent_id, ())), rescind)

    def _drop_offers_of(self, framework_id: str, rescind: bool) -> list[object]:
        return self._drop([o.id for o in self.offers.values()
                           if o.framework_id == framework_id], rescind)

    def _drop(self, offer_ids: Iterable[str], rescind: bool) -> list[object]:
        out: list[object] = []
        for oid in sorted(offer_ids):
            offer = self._remove_offer(oid)
            if offer is None:
                continue
            self._dirty.add(offer.agent_id)
            fw = self.frameworks.get(offer.framework_id)
            if rescind and fw is not None and fw.active:
                out.append(C.SendRescind(offer.framework_id, oid))
        return out

    def _status_of(self, task: TaskRecord, uuid: str | None = None,
                   reason: str | None = None, source: str = "SOURCE_MASTER") -> StatusUpdate:
        return StatusUpdate(
            task_id=task.id, framework_id=task.framework_id, agent_id=task.agent_id,
            state=task.state, reason=reason or task.reason or (
                REASON_RECONCILIATION if uuid is None else None),
            message=task.message, source=source, timestamp=task.updated_at, uuid=uuid,
            container_id=task.container_id, exit_code=task.exit_code)

    def _one_off_update(self, framework_id: str, task_id: str, agent_id: str | None,
                        state: TaskState, reason: str, message: str,
                        track: bool = True) -> C.SendUpdate:
        """An update about a task the registry does not hold (refused launch, unknown id)."""
        uuid = self._uuids() if track else None
        update = StatusUpdate(task_id=task_id, framework_id=framework_id, agent_id=agent_id,
                              state=state, reason=reason, message=message,
                              timestamp=self.clock(), uuid=uuid)
        if uuid is not None:
            self._track(update)
        return C.SendUpdate(framework_id, update)

    def _track(self, update: StatusUpdate) -> None:
        assert update.uuid is not None
        previous = self._latest_uuid.get(update.task_id)
        if previous is not None:
            self._unacked.pop(previous, None)  # superseded: only the newest is re-sent
        self._latest_uuid[update.task_id] = update.uuid
        self._unacked[update.uuid] = (update, self.clock() + self.status_retry_seconds,
                                      self.status_retry_seconds)

    def _set_state(self, task: TaskRecord, state: TaskState, *, reason: str | None = None,
                   message: str | None = None, source: str = "SOURCE_MASTER",
                   container_id: str | None = None, exit_code: int | None = None,
                   counted: bool = False) -> list[object]:
        """Move a task through the transition table; persist and tell its framework."""
        check_transition(task.state, state)
        now = self.clock()
        if state == task.state:
            # A repeat: remember what is new (container id, agent has counted it), tell no one.
            quiet = replace(task, container_id=container_id or task.container_id,
                            counted_by_agent=task.counted_by_agent or counted)
            if quiet != task:
                self.tasks[task.id] = quiet
                return [C.SaveTask(quiet)] if quiet.container_id != task.container_id else []
            return []
        updated = replace(
            task, state=state, reason=reason, message=message, updated_at=now,
            container_id=container_id or task.container_id,
            exit_code=exit_code if exit_code is not None else task.exit_code,
            counted_by_agent=task.counted_by_agent or counted)
        self.tasks[task.id] = updated
        if state.terminal != task.state.terminal:
            self._hold(task.framework_id, task.resources, -1 if state.terminal else +1)
        on_agent = self._tasks_on.setdefault(task.agent_id, set())
        if state.terminal:
            on_agent.discard(task.id)
        else:
            on_agent.add(task.id)
        self._dirty.add(task.agent_id)
        out: list[object] = [C.SaveTask(updated),
                             C.RecordStatus(task.id, state.value, reason, message, now)]
        fw = self.frameworks.get(task.framework_id)
        if fw is not None and not fw.removed and state is not TaskState.STAGING:
            update = self._status_of(updated, uuid=self._uuids(), source=source)
            self._track(update)
            if fw.active:
                out.append(C.SendUpdate(fw.id, update))
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
