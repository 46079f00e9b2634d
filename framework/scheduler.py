"""The framework's scheduler: events in, commands out, time and ids injected.

It keeps jobs true over time: every workload is a job (a Charmander task is one too), and
after every event that touches a job the pure reconciler says what to start and stop. One
idea per module, all of them parts of the one `Scheduler`:

- `framework.jobs`: the jobs (desired state) and their slots' policy bookkeeping;
- `framework.instance_index`: what was seen of every instance (observed state) and the
  indexes that spare every event a walk over all of them;
- `framework.reconciler`: desired + observed + now -> a plan (pure);
- `framework.requests`: what users ask (submit, scale, stop, delete, kill);
- `framework.upkeep`: carrying plans out, quarantine, time limits, shutdown;
- `framework.reshuffle`: kill and re-place running tasks on their metered peak;
- `framework.offer_round`: offers in, launches and declines out (placement glue);
- this module: the event table, the record changes every rule goes through, and the
  read-only views the service and the store use.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable

from framework import commands as cmd
from framework import events as ev
from framework import reconciler
from framework.client_parameters import resolve
from framework.instance_index import InstanceIndex
from framework.jobs import MASTER, Job, SlotKey
from framework.kind_usage import KindSettings
from framework.members import KIND, PHASE, S
from framework.namespace_limits import NamespaceLimits
from framework.offer_round import OfferRound
from framework.records import (
    HELD,
    LAUNCHED,
    LIVE,
    STOPPED_BY_SHUTDOWN,
    TaskRecord,
    changed,
    default_reason,
    new_record,
    with_changes,
)
from framework.requests import Requests
from framework.reshuffle import Reshuffle
from framework.upkeep import Upkeep, ends_by_shutdown
from framework.usage_learning import UsageLearning
from offers.image_template import image_key
from offers.job import charmander_policies
from offers.offer import Offer
from offers.quota import CreditUnit
from offers.states import ALLOWED, TERMINAL, check_transition
from offers.task import SLA, TaskSpec

WAITING = "waiting for an offer"


class Scheduler(Requests, Upkeep, Reshuffle, OfferRound, NamespaceLimits, UsageLearning):
    """The framework's decision logic. Feed it events with `handle`; carry out what it returns.

    `clock` gives seconds (real or virtual); `refuse_seconds` is the decline filter for
    offers that were not used; failed Charmander SLA tasks are retried after
    `backoff_seconds`, doubling up to `max_backoff_seconds` (a job says its own); a launch
    with no status after `staging_timeout` seconds is reconciled; a one-per-node task is
    given up on a node after `max_node_errors` launches there in a row ended `ERROR`.
    """

    def __init__(
        self,
        strategy: str = "binpack",
        seed: int = 0,
        clock: Callable[[], float] | None = None,
        *,
        refuse_seconds: float = 5.0,
        margin: float = 0.1,
        backoff_seconds: float = 5.0,
        max_backoff_seconds: float = 300.0,
        staging_timeout: float = 60.0,
        retain_finished: int = 10_000,
        max_node_errors: int = 3,
        ids: Callable[[str], str] | None = None,
        credit_unit: CreditUnit | None = None,
        kinds: KindSettings | None = None,
    ) -> None:
        if clock is None:
            raise TypeError("CharmanderScheduler needs a clock: a callable returning seconds")
        # Where new ids come from (`name` -> a unique id): injected like the clock, so that
        # what runs in the core (a schedule firing) can name what it creates.
        self.new_id = ids or counting_ids()
        self.strategy = strategy
        self.seed = seed
        self.clock = clock
        self.refuse_seconds = refuse_seconds
        self.margin = margin
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.staging_timeout = staging_timeout
        self.retain_finished = retain_finished
        self.max_node_errors = max_node_errors
        self.stopping = False  # berth is shutting down: place nothing, relaunch nothing
        self._init_limits(credit_unit)
        self.framework_id: str | None = None
        # What was seen of every instance. The scheduler and its mixins read the index's
        # dicts through these aliases (the index never rebinds them): no attribute chain in
        # the loops over records.
        self._index = index = InstanceIndex()
        self._records = index.records
        self._subs = self._jobs = index.jobs
        self._order = index.order
        self._by_state = index.by_state
        self._held_on = index.held_on
        self._daemons = index.daemons
        self._put = index.put  # every record change goes through it
        self._init_usage(kinds or KindSettings(margin=margin))
        self._sized: dict[tuple[str, float, float], TaskSpec] = {}  # (task id, size) -> spec
        self._agents: dict[str, str] = {}  # agent id -> hostname
        self._suppressed = False
        self._changed: dict[str, TaskRecord] = {}
        self._noted: dict[str, None] = {}  # tasks whose reason changed (not persisted)
        self._changed_jobs: dict[str, None] = {}  # job ids whose phase or count changed
        self._timed: dict[str, None] = {}  # job ids with a startup_timeout or max_runtime
        self._charmander = {sla: charmander_policies(sla, backoff_seconds,
                                                     max_backoff_seconds, max_node_errors)
                            for sla in (None, *SLA)}
        self._unwanted: list[str] = []
        # (namespace, client) -> its parameters, resolved into each new instance's spec.
        self._client_parameters: dict[tuple[str, str], dict[str, str]] = {}
        self._finished: deque[str] = deque()  # terminal record ids, oldest first, for pruning
        self._reconciling: dict[str, float] = {}  # task id -> when we last asked
        self._rounds = 0
        # Submissions of the last reshuffle whose old copy still holds its node: all the
        # copies wait until none does (or `staging_timeout` passes), then are placed
        # together in one round.
        self._reshuffling: dict[str, None] = {}
        self._reshuffle_deadline = 0.0
        self.counters = {"offers_received": 0, "offers_accepted": 0, "offers_declined": 0,
                         "tasks_placed": 0, "tasks_unplaced": 0, "launches": 0, "kills": 0}
        self._handlers: dict[type, Callable[[object], list[cmd.Command]]] = {
            ev.TaskSubmitted: self._submitted,
            ev.TaskRecovered: self._recovered,
            ev.JobSubmitted: self._job_submitted,
            ev.JobScaled: self._job_scaled,
            ev.JobStopped: self._job_stopped,
            ev.JobDeleted: self._job_deleted,
            ev.Subscribed: self._subscribed,
            ev.OffersReceived: self._offers,
            ev.OfferRescinded: lambda e: [],  # offers are never held past their batch
            ev.TaskStatusChanged: self._status,
            ev.AgentLost: self._agent_lost,
            ev.KillRequested: self._kill,
            ev.ReshuffleRequested: self._reshuffle,
            ev.UsageObserved: self._usage_observed,
            ev.ShutdownStarted: self._shutdown,
            ev.Tick: self._tick,
            ev.QuotasChanged: self._quotas_changed,
            ev.BalancesChanged: self._balances_changed,
            ev.ClientParametersChanged: self._client_parameters_changed,
            ev.ImagesBuilding: self._images_building,
            ev.SlotVolumesChanged: self._slot_volumes_changed,
        }
        self._building_images: frozenset[str] = frozenset()
        self._image_registry: str | None = None

    def _images_building(self, e: ev.ImagesBuilding) -> list[cmd.Command]:
        self._building_images, self._image_registry = e.names, e.registry
        return self._revive_if_needed()

    def _built(self, pending):
        """The pending instances whose image is not being built; the others wait with
        that reason."""
        if not self._building_images:
            return pending
        ready = []
        for record in pending:
            name = image_key(record.spec.dockerimage, self._image_registry)
            if name in self._building_images:
                self._note_reason(record, f"image {name} is building")
            else:
                ready.append(record)
        return ready

    # -- the one entry point ----------------------------------------------------------

    def handle(self, event: ev.Event) -> list[cmd.Command]:
        """Apply one event; return the commands it calls for, in order."""
        return self._handlers[type(event)](event)

    # -- read-only views --------------------------------------------------------------

    def tasks(self) -> list[TaskRecord]:
        """Every known task instance, oldest first (terminal ones kept for a while)."""
        return list(self._records.values())

    def task(self, task_id: str) -> TaskRecord | None:
        return self._records.get(task_id)

    def job(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def jobs(self) -> list[Job]:
        """Every known job, oldest first (a Charmander task is one too)."""
        return list(self._jobs.values())

    def job_instances(self, job: Job) -> list[TaskRecord]:
        return self._index.instances(job)

    def running_instances(self, job: Job) -> list[TaskRecord]:
        """The job's RUNNING instances (what its health counts are of)."""
        records = self._records
        return [records[task_id] for task_id in job.by_state.get(S.RUNNING, ())
                if task_id in records]

    def pending_reason(self, task_id: str) -> str | None:
        """Why a PENDING task is not running yet; None if it is not pending."""
        record = self._records.get(task_id)
        if record is None or record.state is not S.PENDING:
            return None
        return record.reason or WAITING

    def usage(self) -> dict[str, tuple[float, float]]:
        """Peak observed (cpus, mem MiB) per job id, metered tasks only."""
        return dict(self._usage)

    def agents(self) -> dict[str, str]:
        """Agent ids seen in offers or updates, with their hostnames."""
        return dict(self._agents)

    @property
    def suppressed(self) -> bool:
        return self._suppressed

    def changed_records(self) -> list[TaskRecord]:
        """Records changed since the last call: what the store must persist."""
        out = list(self._changed.values())
        self._changed.clear()
        return out

    def changed_reasons(self) -> list[TaskRecord]:
        """Records whose pending reason changed since the last call, as they are now: news
        for the event stream's readers, not for the store."""
        records = self._records
        out = [records[t] for t in self._noted if t in records]
        self._noted.clear()
        return out

    def changed_unwanted(self) -> list[str]:
        """Job ids someone asked to kill or stop since the last call (desired state)."""
        out, self._unwanted = self._unwanted, []
        return out

    def changed_jobs(self) -> list[Job]:
        """Jobs whose phase, count or steps changed since the last call."""
        out = [self._jobs[j] for j in self._changed_jobs if j in self._jobs]
        self._changed_jobs.clear()
        return out

    def has_work(self) -> bool:
        """True while some task waits for offers (pending, or a system job to keep)."""
        return bool(self._daemons) or any(True for _ in self._index.pending())

    # -- events: what the cluster says ------------------------------------------------

    def _recovered(self, e: ev.TaskRecovered) -> list[cmd.Command]:
        job = self._jobs.get(e.submission_id)
        if job is None:
            job = self._index.add_job(Job.from_task(
                e.submission_id, e.spec, e.created_at, self._charmander[e.spec.sla]))
        slot = e.slot if not job.daemon else None
        spec = e.spec if job.charmander else self._instance_spec(job, slot)
        record = TaskRecord(
            task_id=e.task_id, submission_id=e.submission_id, spec=spec, state=e.state,
            created_at=e.created_at, reason=e.reason, agent_id=e.agent_id,
            hostname=e.hostname, container_id=e.container_id, by_usage=e.by_usage,
            killed=e.killed, launched_spec=e.launched_spec, updated_at=e.updated_at or
            self.clock(), slot=slot, exit_code=e.exit_code,
            running_at=e.updated_at if e.state is S.RUNNING else None)
        if not e.wanted:
            self._index.unwant(job)
        if e.task_id not in job.instances:
            job.instances[e.task_id] = None
            suffix = e.task_id[len(job.id) + 1:]
            if suffix.isdigit():
                job.next_instance = max(job.next_instance, int(suffix) + 1)
        self._put(record)
        if e.agent_id and e.hostname:
            self._agents[e.agent_id] = e.hostname
        if e.state in TERMINAL:
            self._finished.append(e.task_id)
            # Replayed: what this end meant for its slot (done, failures, given up).
            reconciler.note_end(job, record, record.updated_at)
        if e.invalid:
            self._quarantine(job, e.invalid)
        return self._revive_if_needed()

    def _subscribed(self, e: ev.Subscribed) -> list[cmd.Command]:
        """A (re)subscription: ask about every task that may have a container, then revive."""
        self.framework_id = e.framework_id
        self._suppressed = False
        out: list[cmd.Command] = []
        for job in list(self._jobs.values()):
            out += self._upkeep(job)
        launched = tuple((r.task_id, r.agent_id) for r in self._records.values()
                         if r.state in LAUNCHED)
        if launched:
            now = self.clock()
            self._reconciling.update((task_id, now) for task_id, _ in launched)
            out.append(cmd.Reconcile(launched))
        # The master may remember an old SUPPRESS across a re-subscription: say it anew.
        if self.has_work():
            out.append(cmd.Revive())
        else:
            self._suppressed = True
            out.append(cmd.Suppress())
        return out

    def _status(self, e: ev.TaskStatusChanged) -> list[cmd.Command]:
        # The path of every status update (half of all events): kept to plain lookups.
        task_id, state, agent_id = e.task_id, e.state, e.agent_id
        if self._reconciling:
            self._reconciling.pop(task_id, None)
        if agent_id and e.hostname:
            self._agents[agent_id] = e.hostname
        record = self._records.get(task_id)
        if record is None:
            if state in LIVE:  # a container we do not know: an orphan, never a duplicate
                self.counters["kills"] += 1
                return [cmd.Kill(task_id, agent_id)]
            return []
        old = record.state
        if state in LIVE and (old is S.KILLING or record.killed or (
                old in TERMINAL and old is not S.LOST)):
            # Alive (or alive again) but meant to be gone: ask again, change nothing.
            self.counters["kills"] += 1
            return [cmd.Kill(task_id, agent_id or record.agent_id)]
        ending = record.ending
        if ending == "deadline" and state is S.KILLED:
            state = S.FAILED  # killed for running too long: that is the task's failure
        if state != old and state not in ALLOWED[old]:
            return []  # stale or out-of-order news from the master: nothing changes
        now = self.clock()
        terminal = state in TERMINAL
        changes: dict[str, object] = {"state": state, "updated_at": now}
        if self.stopping and ends_by_shutdown(True, record, state):
            changes["reason"] = STOPPED_BY_SHUTDOWN
        elif terminal and ending in ("deadline", "infrastructure"):
            changes["reason"] = record.reason
        elif state in (S.KILLING, S.KILLED) and old is S.KILLING and record.reason:
            changes["reason"] = record.reason  # berth asked for it and said why
        elif e.reason is not None:
            changes["reason"] = e.reason
        elif terminal:
            keep = old is S.KILLING and record.reason
            changes["reason"] = record.reason if keep else default_reason(state)
        elif state is S.RUNNING:
            changes["reason"] = None
        if agent_id:
            changes["agent_id"] = agent_id
        hostname = e.hostname or self._agents.get(agent_id or "", None)
        if hostname:
            changes["hostname"] = hostname
        if e.container_id:
            changes["container_id"] = e.container_id
        if e.exit_code is not None:
            changes["exit_code"] = e.exit_code
        if state is not S.RUNNING:
            changes["healthy"] = None  # health is of a running instance
        elif e.healthy is not None:
            changes["healthy"] = e.healthy
        if state is S.RUNNING and record.running_at is None:
            changes["running_at"] = now
        if state is S.FAILED and self._out_of_memory(record, e.reason):
            changes["ending"] = "undersized"
        record = self._update(record, changes)
        job = self._jobs[record.submission_id]
        if self.stopping:
            return []  # nothing is relaunched while berth stops; the next start decides
        if state is S.RUNNING:
            reconciler.note_running(job, record)
        elif terminal:
            reconciler.note_end(job, record, now, e.code)
            if job.quarantined and job.phase is not PHASE.FAILED:
                self._quarantine(job, job.quarantined)
        out = self._upkeep(job, record.slot)
        if terminal and self._reshuffling and self._old_copy_stopped(job):
            # The last copy a reshuffle replaced has stopped: ask for offers again now
            # rather than after the decline filters of the rounds the copies waited through.
            self._suppressed = False
            return [*out, cmd.Revive()]
        if self._suppressed:
            out += self._revive_if_needed()
        return out

    def _agent_lost(self, e: ev.AgentLost) -> list[cmd.Command]:
        out: list[cmd.Command] = []
        held = sorted(self._held_on.get(e.agent_id, ()), key=self._order.__getitem__)
        for record in [self._records[task_id] for task_id in held]:
            if record.agent_id == e.agent_id and record.state in HELD:
                out += self._status(ev.TaskStatusChanged(
                    record.task_id, S.LOST, f"agent {e.agent_id} was lost", e.agent_id))
        return out

    def _tick(self, e: ev.Tick) -> list[cmd.Command]:
        now = self.clock()
        out: list[cmd.Command] = self._overdue(now) if self._timed else []
        in_flight = itertools.chain(self._by_state[S.STAGING], self._by_state[S.STARTING],
                                    self._by_state[S.KILLING])
        overdue = [r for r in map(self._records.__getitem__, in_flight)
                   if now - max(r.updated_at, self._reconciling.get(r.task_id, 0.0))
                   >= self.staging_timeout]
        overdue.sort(key=lambda r: self._order[r.task_id])  # oldest first, as before
        stale = tuple((r.task_id, r.agent_id) for r in overdue)
        if stale:
            self._reconciling.update((task_id, now) for task_id, _ in stale)
            out.append(cmd.Reconcile(stale))
        if (self._suppressed and not self.stopping
                and any(r.not_before <= now for r in self._index.pending())):
            self._suppressed = False
            out.append(cmd.Revive())
        return out + self._meter_credits(now)

    def _client_parameters_changed(self, e: ev.ClientParametersChanged) -> list[cmd.Command]:
        self._client_parameters[(e.namespace, e.client)] = dict(e.parameters)
        return []

    def _slot_volumes_changed(self, e: ev.SlotVolumesChanged) -> list[cmd.Command]:
        job = self._jobs.get(e.job)
        if job is None:
            return []
        if e.volumes:
            job.slot_volumes[e.slot] = e.volumes
        else:
            job.slot_volumes.pop(e.slot, None)
        record = self._records.get(e.restart or "")
        if record is None or record.submission_id != job.id or record.slot != e.slot:
            return []
        return self._kill_record(record, "restarted to change its volumes", ending="restart")

    def client_parameters(self, namespace: str, client: str) -> dict[str, str] | None:
        return self._client_parameters.get((namespace, client))

    # -- record keeping -------------------------------------------------------------------

    def _new_instance(self, job: Job, task_id: str | None = None, *,
                      slot: SlotKey | object | None = ..., by_usage: bool = False,
                      not_before: float = 0.0, reason: str | None = None) -> TaskRecord:
        if task_id is None:
            task_id = f"{job.id}.{job.next_instance}"
            job.next_instance += 1
        if slot is ...:
            slot = None if job.daemon else (0, 0)
        now = self.clock()
        if reason is None:
            reason = (f"retrying after a failure, not before t={not_before:.0f}"
                      if not_before > now else WAITING)
        record = new_record(task_id=task_id, submission_id=job.id,
                            spec=self._instance_spec(job, slot), state=S.PENDING,
                            created_at=now, reason=reason, by_usage=by_usage,
                            not_before=not_before, updated_at=now, slot=slot)
        job.instances[task_id] = None
        self._put(record)
        self._changed[task_id] = record
        return record

    def _instance_spec(self, job: Job, slot: SlotKey | None) -> TaskSpec:
        """What an instance of `slot` runs: its template, plus the job's environment."""
        if job.charmander:
            return job.templates[0]
        if slot is None:
            return self._with_client(job, job.templates[0])
        spec = self._with_client(job, job.template(slot[0]))
        env = {"BERTH_JOB_INDEX": str(slot[1])}
        if job.kind is KIND.PARALLEL and slot[0] != MASTER:
            master = self._master_of(job)
            if master is not None:
                env["BERTH_MASTER_HOST"] = master.hostname or ""
                env["BERTH_MASTER_PORTS"] = ",".join(
                    str(p) for p in (master.launched_spec or master.spec).host_ports)
        update: dict[str, object] = {"env": {**spec.env, **env}}
        if slot in job.slot_volumes:
            update["volumes"] = (*spec.volumes, *job.slot_volumes[slot])
        return spec.model_copy(update=update)

    def _with_client(self, job: Job, spec: TaskSpec) -> TaskSpec:
        """The template with its client's parameters as they are now (a job's own env
        wins)."""
        client = job.spec.client if job.spec is not None else None
        if client is None:
            return spec
        return resolve(spec, self._client_parameters.get((job.namespace, client), {}))

    def _master_of(self, job: Job) -> TaskRecord | None:
        for task_id in job.by_slot.get((MASTER, 0), ()):
            record = self._records[task_id]
            if record.state is S.RUNNING:
                return record
        return None

    def _replace(self, record: TaskRecord, **changes: object) -> TaskRecord:
        return self._update(record, changes)

    def _update(self, record: TaskRecord, changes: dict[str, object]) -> TaskRecord:
        """`_replace` with the changes in a dict: every record change goes through here."""
        old_state = record.state
        record = changed(record, changes)
        self._put(record)
        self._changed[record.task_id] = record
        if record.state in TERMINAL and old_state not in TERMINAL:
            self._finished.append(record.task_id)
            self._prune()
        return record

    def _note_reason(self, record: TaskRecord, reason: str) -> None:
        """A pending task's reason is news for people, not state: it is not persisted."""
        if record.task_id in self._records and record.reason != reason:
            self._records[record.task_id] = with_changes(record, reason=reason)
            self._noted[record.task_id] = None

    def _kill_record(self, record: TaskRecord, reason: str, *, user: bool = False,
                     ending: str | None = None) -> list[cmd.Command]:
        if record.state is S.PENDING:
            self._replace(record, state=check_transition(record.state, S.KILLED),
                          reason=reason, killed=user, updated_at=self.clock(),
                          ending=ending)
            return []
        if record.state in TERMINAL and record.state is not S.LOST:
            return []
        self._replace(record, state=check_transition(record.state, S.KILLING), reason=reason,
                      killed=user or record.killed, updated_at=self.clock(), ending=ending)
        self.counters["kills"] += 1
        return [cmd.Kill(record.task_id, record.agent_id)]

    def _drop(self, record: TaskRecord, reason: str) -> None:
        self._replace(record, state=check_transition(record.state, S.KILLED), reason=reason,
                      updated_at=self.clock(), ending="stop")

    def _prune(self) -> None:
        """Forget the oldest terminal records beyond `retain_finished`."""
        while len(self._finished) > self.retain_finished:
            task_id = self._finished.popleft()
            record = self._records.get(task_id)
            if record is None or record.state not in TERMINAL:
                continue
            self._index.forget(record)
            job = self._jobs.get(record.submission_id)
            if job is not None:
                job.instances.pop(task_id, None)
                # Nothing left to keep: a finished Charmander task's job goes too (kept,
                # it would be run again by the upkeep on the next re-subscription).
                if not job.instances and job.charmander and not job.daemon:
                    del self._jobs[job.id]
                    self._usage.pop(job.id, None)
                    self._keep_size.discard(job.id)

    def _revive_if_needed(self) -> list[cmd.Command]:
        if self._suppressed and self.has_work():
            self._suppressed = False
            return [cmd.Revive()]
        return []

    def _suppress_if_idle(self) -> list[cmd.Command]:
        if not self._suppressed and not self.has_work():
            self._suppressed = True
            return [cmd.Suppress()]
        return []


def counting_ids() -> Callable[[str], str]:
    """`<name>-<n>`, n counting up from 1: deterministic ids for tests and the simulator."""
    numbers = itertools.count(1)
    return lambda name: f"{name}-{next(numbers)}"


CharmanderScheduler = Scheduler  # the name the Charmander surface has always used

__all__ = ["CharmanderScheduler", "Offer", "Scheduler", "TaskRecord"]
