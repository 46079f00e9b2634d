"""The Charmander scheduler: events in, commands out, time from an injected clock.

It keeps the pending queue, places pending tasks on each batch of offers with the
`offers.placement` core, and keeps the SLAs over time:

- `singleton`: at most one live instance cluster-wide; relaunched when LOST or FAILED;
  when a lost instance comes back while a replacement exists, the older one is killed.
- `one-per-node`: one live instance on every eligible agent, agents that join later
  included; a second instance on one agent is killed.
- none: placed once.

A task whose launch fails for a reason in its own spec is quarantined: it ends `ERROR`
with that reason and is not launched again (a singleton ending `ERROR` is not relaunched;
a one-per-node task rejected as invalid by the master is placed nowhere any more, and one
that fails on a node is retried there, backed off, `max_node_errors` times at most). A spec
read back from the store that fails today's checks is quarantined the same way.

Shutting berth down is not killing: what ends while it stops ends "stopped: berth was shut
down", and the next start queues such tasks again.

Reshuffle kills every running reshuffleable task (not one-per-node ones) and queues it
again, to be placed with the `intelligence` strategy on its metered peak usage.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from framework import commands as cmd
from framework import events as ev
from framework.records import (
    LAUNCHED,
    LIVE,
    QUEUED_AFTER_SHUTDOWN,
    SPEC_ERROR_CODES,
    STOPPED_BY_SHUTDOWN,
    TaskRecord,
)
from offers import placement as placement_core
from offers.cluster import ClusterState
from offers.offer import Offer, OfferBatch, cluster_from_offers
from offers.resources import RESOURCES
from offers.states import TaskState, check_transition
from offers.task import SLA, TaskSpec

S = TaskState
INTELLIGENCE = "intelligence"
WAITING = "waiting for an offer"
OPEN = tuple(state for state in TaskState if not state.terminal)
HELD = LIVE | {S.KILLING}  # a container holds the host: what SLAs count as "runs there"


@dataclass
class _Submission:
    """What the user asked for (desired state); its instances are TaskRecords.

    The indexes below are kept by `CharmanderScheduler._put`, so that SLA upkeep on one
    status update does not walk all 10,000 instances of a one-per-node task."""

    id: str
    spec: TaskSpec
    created_at: float
    wanted: bool = True  # False once someone asked to kill it
    instances: dict[str, None] = field(default_factory=dict)  # task ids, oldest first
    next_instance: int = 1
    failures: int = 0
    retry_after: dict[str, float] = field(default_factory=dict)  # hostname -> time (one-per-node)
    by_state: dict[TaskState, dict[str, None]] = field(default_factory=dict)
    live_on: dict[str, dict[str, None]] = field(default_factory=dict)  # agent id -> LIVE ids
    crowded: set[str] = field(default_factory=set)  # agent ids with more than one LIVE
    hosts: dict[str, int] = field(default_factory=dict)  # hostname -> HELD instances
    quarantined: str | None = None  # why its spec cannot run: never launched again
    errors_on: dict[str, int] = field(default_factory=dict)  # hostname -> ERRORs in a row


class CharmanderScheduler:
    """The framework's decision logic. Feed it events with `handle`; carry out what it returns.

    `clock` gives seconds (real or virtual); `refuse_seconds` is the decline filter for
    offers that were not used; failed SLA tasks are retried after `backoff_seconds`,
    doubling up to `max_backoff_seconds`; a launch with no status after
    `staging_timeout` seconds is reconciled; a one-per-node task is given up on a node
    after `max_node_errors` launches there in a row ended `ERROR`.
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
    ) -> None:
        if clock is None:
            raise TypeError("CharmanderScheduler needs a clock: a callable returning seconds")
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
        self.framework_id: str | None = None
        self._records: dict[str, TaskRecord] = {}
        self._subs: dict[str, _Submission] = {}
        self._usage: dict[str, tuple[float, float]] = {}  # submission id -> peak (cpus, mem)
        self._agents: dict[str, str] = {}  # agent id -> hostname
        self._suppressed = False
        self._changed: dict[str, TaskRecord] = {}
        self._unwanted: list[str] = []
        self._finished: deque[str] = deque()  # terminal record ids, oldest first, for pruning
        # Indexes kept by `_put`/`_forget`, so no event walks every record:
        self._order: dict[str, int] = {}  # task id -> position in `_records` (its age)
        self._next_order = itertools.count()
        self._by_state: dict[TaskState, dict[str, None]] = {state: {} for state in TaskState}
        self._pending_unsorted = False  # a known record became PENDING again: re-sort once
        self._held_on: dict[str, dict[str, None]] = {}  # agent id -> HELD task ids
        self._daemons: dict[str, None] = {}  # wanted one-per-node submission ids, oldest first
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
        }

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

    def pending_reason(self, task_id: str) -> str | None:
        """Why a PENDING task is not running yet; None if it is not pending."""
        record = self._records.get(task_id)
        if record is None or record.state is not S.PENDING:
            return None
        return record.reason or WAITING

    def usage(self) -> dict[str, tuple[float, float]]:
        """Peak observed (cpus, mem MiB) per submission id, metered tasks only."""
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

    def changed_unwanted(self) -> list[str]:
        """Submission ids someone asked to kill since the last call (desired state)."""
        out, self._unwanted = self._unwanted, []
        return out

    def has_work(self) -> bool:
        """True while some task waits for offers (pending, or a one-per-node SLA to keep)."""
        return bool(self._daemons) or any(True for _ in self._pending_records())

    # -- events -----------------------------------------------------------------------

    def _submitted(self, e: ev.TaskSubmitted) -> list[cmd.Command]:
        if e.task_id in self._subs:
            return []  # a repeat (e.g. replayed from the store): already queued
        sub = self._add_submission(_Submission(e.task_id, e.spec, self.clock()))
        self._new_instance(sub, e.task_id)
        if e.invalid:
            self._quarantine(sub, e.invalid)
        return self._revive_if_needed()

    def _recovered(self, e: ev.TaskRecovered) -> list[cmd.Command]:
        sub = self._subs.get(e.submission_id)
        if sub is None:
            sub = self._add_submission(_Submission(e.submission_id, e.spec, e.created_at))
        record = TaskRecord(
            task_id=e.task_id, submission_id=e.submission_id, spec=e.spec, state=e.state,
            created_at=e.created_at, reason=e.reason, agent_id=e.agent_id,
            hostname=e.hostname, container_id=e.container_id, by_usage=e.by_usage,
            killed=e.killed, launched_spec=e.launched_spec, updated_at=self.clock())
        if not e.wanted:
            self._unwant(sub)
        if e.task_id not in sub.instances:
            sub.instances[e.task_id] = None
            suffix = e.task_id[len(sub.id) + 1:]
            if suffix.isdigit():
                sub.next_instance = max(sub.next_instance, int(suffix) + 1)
        self._put(record)
        if e.agent_id and e.hostname:
            self._agents[e.agent_id] = e.hostname
        if e.state.terminal:
            self._finished.append(e.task_id)
        if e.invalid:
            self._quarantine(sub, e.invalid)
        return self._revive_if_needed()

    def _subscribed(self, e: ev.Subscribed) -> list[cmd.Command]:
        """A (re)subscription: ask about every task that may have a container, then revive."""
        self.framework_id = e.framework_id
        self._suppressed = False
        for sub in list(self._subs.values()):
            self._upkeep(sub)
        out: list[cmd.Command] = []
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
        self._reconciling.pop(e.task_id, None)
        if e.agent_id and e.hostname:
            self._agents[e.agent_id] = e.hostname
        record = self._records.get(e.task_id)
        if record is None:
            if e.state in LIVE:  # a container we do not know: an orphan, never a duplicate
                self.counters["kills"] += 1
                return [cmd.Kill(e.task_id, e.agent_id)]
            return []
        out: list[cmd.Command] = []
        if e.state in LIVE and (record.state is S.KILLING or record.killed or (
                record.state.terminal and record.state is not S.LOST)):
            # Alive (or alive again) but meant to be gone: ask again, change nothing.
            self.counters["kills"] += 1
            return [cmd.Kill(e.task_id, e.agent_id or record.agent_id)]
        try:
            check_transition(record.state, e.state)
        except Exception:
            return out  # stale or out-of-order news from the master: nothing changes
        now = self.clock()
        changes: dict[str, object] = {"state": e.state, "updated_at": now}
        # A container the shutdown stops (the agent may say KILLING first) ends "stopped by
        # shutdown", unless someone had asked to kill it before.
        by_shutdown = (self.stopping and e.state in (S.KILLING, S.KILLED, S.FAILED)
                       and not record.killed and (record.state is not S.KILLING
                                                  or record.reason == STOPPED_BY_SHUTDOWN))
        if by_shutdown:
            changes["reason"] = STOPPED_BY_SHUTDOWN
        elif e.reason is not None:
            changes["reason"] = e.reason
        elif e.state.terminal:
            keep = record.state is S.KILLING and record.reason
            changes["reason"] = record.reason if keep else _default_reason(e.state)
        elif e.state is S.RUNNING:
            changes["reason"] = None
        if e.agent_id:
            changes["agent_id"] = e.agent_id
        hostname = e.hostname or self._agents.get(e.agent_id or "", None)
        if hostname:
            changes["hostname"] = hostname
        if e.container_id:
            changes["container_id"] = e.container_id
        if e.state is S.RUNNING and record.running_at is None:
            changes["running_at"] = now
        record = self._replace(record, **changes)
        sub = self._subs[record.submission_id]
        if self.stopping:
            return out  # nothing is relaunched while berth stops; the next start decides
        if e.state is S.RUNNING:
            sub.failures = 0
            sub.errors_on.pop(record.hostname or "", None)
        elif e.state in (S.FAILED, S.ERROR):
            sub.failures += 1
            if record.hostname:
                sub.retry_after[record.hostname] = now + self._backoff(sub)
        if e.state is S.ERROR:
            out += self._after_error(sub, record, e.code)
        out += self._upkeep(sub, cause=record)
        if e.state.terminal and self._old_copy_stopped(sub):
            # The last copy a reshuffle replaced has stopped: ask for offers again now
            # rather than after the decline filters of the rounds the copies waited through.
            self._suppressed = False
            return [*out, cmd.Revive()]
        return out + self._revive_if_needed()

    def _agent_lost(self, e: ev.AgentLost) -> list[cmd.Command]:
        out: list[cmd.Command] = []
        held = sorted(self._held_on.get(e.agent_id, ()), key=self._order.__getitem__)
        for record in [self._records[task_id] for task_id in held]:
            if record.agent_id == e.agent_id and record.state in HELD:
                out += self._status(ev.TaskStatusChanged(
                    record.task_id, S.LOST, f"agent {e.agent_id} was lost", e.agent_id))
        return out

    def _kill(self, e: ev.KillRequested) -> list[cmd.Command]:
        out: list[cmd.Command] = []
        matched: list[str] = []
        for sub in self._subs.values():
            if sub.id.startswith(e.prefix) and sub.wanted:
                self._unwant(sub)
                self._unwanted.append(sub.id)
        for record in list(self._records.values()):
            if not record.task_id.startswith(e.prefix) or (
                    record.state.terminal and record.state is not S.LOST):
                continue
            if record.state is S.KILLING and record.killed:
                matched.append(record.task_id)
                continue
            matched.append(record.task_id)
            out += self._kill_record(record, "killed on request", user=True)
        out.insert(0, cmd.KillMatched(e.prefix, tuple(matched)))
        return out + self._suppress_if_idle()

    def _shutdown(self, e: ev.ShutdownStarted) -> list[cmd.Command]:
        self.stopping = True
        return []

    def _after_error(self, sub: _Submission, record: TaskRecord,
                     code: str | None) -> list[cmd.Command]:
        """An instance could not be started. Its own spec's fault (the master says the
        TaskInfo is invalid), or a singleton's: the task is quarantined, since launching the
        same spec again fails the same way. A one-per-node task failing on one node (an
        image missing there) says nothing of the others: that node is retried, backed off,
        and given up after `max_node_errors` failures in a row."""
        if code in SPEC_ERROR_CODES or sub.spec.sla is SLA.SINGLETON:
            self._quarantine(sub, record.reason or _default_reason(S.ERROR))
        elif sub.spec.sla is SLA.ONE_PER_NODE and record.hostname:
            errors = sub.errors_on[record.hostname] = sub.errors_on.get(record.hostname, 0) + 1
            if errors >= self.max_node_errors:
                sub.retry_after[record.hostname] = float("inf")
        return []

    def _quarantine(self, sub: _Submission, reason: str) -> None:
        """Launch this task no more: its waiting instances end ERROR with the reason.
        Instances already running keep running (Docker took them); none replaces them."""
        sub.quarantined = reason
        self._daemons.pop(sub.id, None)
        for task_id in list(sub.by_state.get(S.PENDING, ())):
            self._replace(self._records[task_id], state=S.ERROR, reason=reason,
                          updated_at=self.clock())

    def _reshuffle(self, e: ev.ReshuffleRequested) -> list[cmd.Command]:
        out: list[cmd.Command] = []
        for record in list(self._records.values()):
            sub = self._subs[record.submission_id]
            if (record.state is not S.RUNNING or not record.spec.reshuffleable
                    or record.spec.sla is SLA.ONE_PER_NODE or not sub.wanted
                    or sub.quarantined):
                continue
            replacement = self._new_instance(sub, by_usage=True)
            out += self._kill_record(record, f"reshuffled: replaced by {replacement.task_id}")
            self._reshuffling[sub.id] = None
        self._reshuffle_deadline = self.clock() + self.staging_timeout
        return out + self._revive_if_needed()

    def _usage_observed(self, e: ev.UsageObserved) -> list[cmd.Command]:
        record = self._records.get(e.task_id)
        if record is None or record.spec.notmetered:
            return []
        cpus, mem = self._usage.get(record.submission_id, (0.0, 0.0))
        self._usage[record.submission_id] = (max(cpus, e.cpus), max(mem, e.mem))
        return []

    def _tick(self, e: ev.Tick) -> list[cmd.Command]:
        now = self.clock()
        out: list[cmd.Command] = []
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
                and any(r.not_before <= now for r in self._pending_records())):
            self._suppressed = False
            out.append(cmd.Revive())
        return out

    # -- offers and placement -----------------------------------------------------------

    def _offers(self, e: ev.OffersReceived) -> list[cmd.Command]:
        batch = OfferBatch.of(e.offers)
        if not len(batch):
            return []
        if self.stopping:  # nothing starts while berth stops
            self.counters["offers_declined"] += len(batch)
            return [cmd.Decline(tuple(batch.ids), self.refuse_seconds)]
        self._rounds += 1
        self.counters["offers_received"] += len(batch)
        self._agents.update(zip(batch.agent_ids, batch.hostnames, strict=True))
        now = self.clock()
        cluster, agent_of_row, row_of_offer = cluster_from_offers(batch)
        row_of_host = cluster.host_index()

        by_usage, regular, waiting = [], [], []
        repacking = not self._old_copies_hold()
        for record in self._pending_records():
            if record.not_before > now:
                waiting.append(record)
            elif record.by_usage:
                if not repacking or self._replaced_copy_holds(record):
                    # Placed together once the old copies have stopped, so that what they
                    # held counts as free and all are packed in one round: otherwise the
                    # repacking a reshuffle is for would not happen.
                    self._note_reason(record, "waiting for the reshuffled copies to stop")
                else:
                    by_usage.append(record)
            elif record.spec.sla is not SLA.ONE_PER_NODE:
                regular.append(record)
        for record in waiting:
            self._note_reason(record, f"retrying after a failure, not before "
                                      f"t={record.not_before:.0f}")
        launches: dict[int, list[tuple[str, TaskSpec]]] = {}

        if by_usage:
            # Placed with exactly the (rounded) spec that is launched, not re-sized from
            # the peak, so the launch never asks for more than the offer it was placed on.
            specs = [self._usage_spec(r) for r in by_usage]
            placement = placement_core.place(
                cluster, specs, keys=[r.task_id for r in by_usage], strategy=INTELLIGENCE,
                seed=self.seed + self._rounds, running=self._running_hosts(by_usage),
                margin=self.margin)
            placed = self._apply(placement.rows(), by_usage, specs, agent_of_row, row_of_host,
                                 launches)
            cluster = _without(cluster, placed)

        opn = self._daemons_missing_on(cluster)
        if regular or opn:
            work = regular + [self._placeholder(sub) for sub in opn]
            specs = [r.spec for r in work]
            # Keyed by task instance: two submissions may share a user id.
            placement = placement_core.place(
                cluster, specs, keys=[r.task_id for r in work], strategy=self.strategy,
                seed=self.seed + self._rounds, running=self._running_hosts(work))
            self._apply(placement.rows(), work, specs, agent_of_row, row_of_host, launches)

        # One ACCEPT per agent that got tasks, then one DECLINE for every other offer.
        out: list[cmd.Command] = []
        ids = batch.ids
        accepted = np.isin(row_of_offer, list(launches))
        offers_of: dict[int, list[int]] = {row: [] for row in launches}
        for i, row in zip(np.flatnonzero(accepted).tolist(),
                          row_of_offer[accepted].tolist(), strict=True):
            offers_of[row].append(i)
        for row in sorted(launches):
            used = offers_of[row]
            self.counters["offers_accepted"] += len(used)
            self.counters["launches"] += 1
            out.append(cmd.Launch(tuple(ids[i] for i in used), agent_of_row[row],
                                  tuple(launches[row])))
        declined = np.flatnonzero(~accepted).tolist()
        if declined:
            self.counters["offers_declined"] += len(declined)
            out.append(cmd.Decline(tuple(ids[i] for i in declined), self.refuse_seconds))
        return out + self._suppress_if_idle()

    def _daemons_missing_on(self, cluster: ClusterState) -> list[_Submission]:
        """One-per-node tasks that some offered agent of their nodetype does not run yet:
        the others have nothing to place in this round."""
        eligible: dict[str | None, set[str]] = {}
        out = []
        for sub in map(self._subs.__getitem__, self._daemons):
            nodetype = sub.spec.nodetype
            hosts = eligible.get(nodetype)
            if hosts is None:
                rows = (np.arange(cluster.size) if nodetype is None else
                        np.flatnonzero(cluster.nodetype == cluster.nodetype_code(nodetype)))
                hosts = eligible[nodetype] = {cluster.hostnames[i] for i in rows.tolist()}
            if not sub.hosts.keys() >= hosts or (not hosts and sub.by_state.get(S.PENDING)):
                out.append(sub)  # (a pending one with no eligible agent learns why)
        return out

    def _apply(self, rows: Iterable, work: list[TaskRecord], specs: list[TaskSpec],
               agent_of_row: list[str], row_of_host: dict[str, int],
               launches: dict[int, list[tuple[str, TaskSpec]]]) -> list[tuple[int, TaskSpec]]:
        """Turn placement rows into launches; unplaced tasks keep the reason."""
        placed: list[tuple[int, TaskSpec]] = []
        used: set[int] = set()
        reasons: dict[int, str] = {}
        now = self.clock()
        for row in rows:
            index = row.task_index
            if row.hostname is None:
                reasons.setdefault(index, row.reason or "no offer fits")
                continue
            record = work[index]
            sub = self._subs[record.submission_id]
            node = row_of_host[row.hostname]
            if sub.spec.sla is SLA.ONE_PER_NODE:
                if sub.retry_after.get(row.hostname, 0.0) > now:
                    continue
                current = self._records.get(record.task_id)
                if index in used or current is None or current.state is not S.PENDING:
                    record = self._new_instance(sub)
            elif index in used:
                continue  # a non-one-per-node task is placed once, whatever the rows say
            used.add(index)
            spec = specs[index]
            self._replace(record, state=check_transition(record.state, S.STAGING),
                          agent_id=agent_of_row[node], hostname=row.hostname,
                          launched_spec=spec, reason=None, updated_at=now, launched_at=now)
            launches.setdefault(node, []).append((record.task_id, spec))
            placed.append((node, spec))
            self.counters["tasks_placed"] += 1
        for index, reason in reasons.items():
            if index not in used:
                self.counters["tasks_unplaced"] += 1
                self._note_reason(work[index], reason)
        return placed

    def _usage_spec(self, record: TaskRecord) -> TaskSpec:
        """The spec a reshuffled task is placed and launched with: sized by its metered peak
        plus the margin, rounded to what people read (placement sees the rounded size)."""
        peak = self._usage.get(record.submission_id)
        if peak is None or record.spec.notmetered:
            return record.spec
        [(cpus, mem, _disk)] = placement_core.effective_demands(
            (record.spec,), {record.task_id: peak}, self.margin, (record.task_id,))
        return record.spec.model_copy(update={"mem": round(mem, 3), "cpus": round(cpus, 3)})

    def _running_hosts(self, work: list[TaskRecord]) -> dict[str, Collection[str]]:
        """Per placement key, hosts that already run an instance of that task (SLA)."""
        out: dict[str, set[str]] = {}
        for record in work:
            sub = self._subs[record.submission_id]
            if sub.spec.sla is None:
                continue
            if sub.hosts:
                out[record.task_id] = sub.hosts.keys()
        return out

    def _placeholder(self, sub: _Submission) -> TaskRecord:
        """What a one-per-node task is placed as: its PENDING instance if it has one, else
        a stand-in that becomes a real instance only if a new node gets it (so a task that
        runs everywhere does not show a PENDING copy)."""
        pending = sub.by_state.get(S.PENDING)
        if pending:
            return self._records[min(pending, key=self._order.__getitem__)]
        return TaskRecord(task_id=f"{sub.id}.next", submission_id=sub.id, spec=sub.spec,
                          state=S.PENDING, created_at=self.clock())

    # -- SLA upkeep ---------------------------------------------------------------------

    def _upkeep(self, sub: _Submission, cause: TaskRecord | None = None) -> list[cmd.Command]:
        """Bring one submission's instances back in line with its SLA."""
        if not sub.wanted or sub.quarantined or self.stopping:
            return []
        if sub.spec.sla is SLA.ONE_PER_NODE:
            return self._upkeep_daemon(sub)
        out: list[cmd.Command] = []
        instances = self._instances(sub)
        live = [r for r in instances if r.state in LIVE]
        pending = [r for r in instances if r.state is S.PENDING]
        if not live and not pending and instances and _stopped_by_shutdown(instances[-1]):
            # berth was stopped while this ran, not the task killed: run it again.
            self._new_instance(sub, by_usage=instances[-1].by_usage,
                               reason=QUEUED_AFTER_SHUTDOWN)
            return out
        if sub.spec.sla is SLA.SINGLETON:
            if len(live) > 1:  # a lost instance came back: keep the newest launch
                keep = max(live, key=self._newest_first_key(sub))
                for record in live:
                    if record is not keep:
                        out += self._kill_record(
                            record, f"duplicate of singleton instance {keep.task_id}")
            if live:
                for record in pending:
                    self._drop(record, f"not needed: {live[0].task_id} is running again")
            elif not pending and cause is not None and cause.state in (S.LOST, S.FAILED):
                delay = self._backoff(sub) if cause.state is S.FAILED else 0.0
                self._new_instance(sub, by_usage=cause.by_usage,
                                   not_before=self.clock() + delay)
        elif not instances:
            self._new_instance(sub)
        elif (cause is not None and cause.state is S.LOST and cause.running_at is None
              and not live and not pending):
            # Lost before it ever ran (the launch went astray): it was never placed.
            self._new_instance(sub, by_usage=cause.by_usage)
        return out

    def _upkeep_daemon(self, sub: _Submission) -> list[cmd.Command]:
        """one-per-node: kill second instances on one agent; keep one instance not finished
        (PENDING until a node takes it). Works from the indexes: one status costs O(1)."""
        out: list[cmd.Command] = []
        order = self._order.__getitem__
        crowds = sorted((sorted(sub.live_on[agent], key=order) for agent in sub.crowded),
                        key=lambda ids: order(ids[0]))
        for ids in crowds:
            records = [self._records[task_id] for task_id in ids]
            keep = max(records, key=self._newest_first_key(sub))
            for record in records:
                if record is not keep:
                    out += self._kill_record(
                        record, f"second instance on agent {record.agent_id}; "
                                f"{keep.task_id} stays")
        if not any(sub.by_state.get(state) for state in OPEN):
            instances = self._instances(sub)
            again = bool(instances) and _stopped_by_shutdown(instances[-1])
            self._new_instance(sub, reason=QUEUED_AFTER_SHUTDOWN if again else None)
        return out

    def _newest_first_key(self, sub: _Submission) -> Callable[[TaskRecord], tuple[float, int]]:
        """Order instances by launch time, then by instance number: the max is the newest."""
        order = self._order
        return lambda r: (r.launched_at or 0.0, order.get(r.task_id, -1))

    def _backoff(self, sub: _Submission) -> float:
        exponent = max(sub.failures - 1, 0)
        return min(self.backoff_seconds * 2 ** min(exponent, 30), self.max_backoff_seconds)

    # -- record keeping -------------------------------------------------------------------

    def _new_instance(self, sub: _Submission, task_id: str | None = None, *,
                      by_usage: bool = False, not_before: float = 0.0,
                      reason: str | None = None) -> TaskRecord:
        if task_id is None:
            task_id = f"{sub.id}.{sub.next_instance}"
            sub.next_instance += 1
        now = self.clock()
        if reason is None:
            reason = (f"retrying after a failure, not before t={not_before:.0f}"
                      if not_before > now else WAITING)
        record = TaskRecord(task_id=task_id, submission_id=sub.id, spec=sub.spec,
                            state=S.PENDING, created_at=now, reason=reason, by_usage=by_usage,
                            not_before=not_before, updated_at=now)
        sub.instances[task_id] = None
        self._put(record)
        self._changed[task_id] = record
        return record

    def _old_copies_hold(self) -> bool:
        """Does some task of the last reshuffle still hold its old copy? False (and the
        reshuffle is over) once none does or `staging_timeout` has passed."""
        if self._reshuffling and self.clock() >= self._reshuffle_deadline:
            self._reshuffling.clear()
        return bool(self._reshuffling)

    def _old_copy_stopped(self, sub: _Submission) -> bool:
        """After a terminal update: True if it stopped the last old copy of a reshuffle."""
        if sub.id not in self._reshuffling or any(sub.by_state.get(s) for s in HELD):
            return False
        del self._reshuffling[sub.id]
        return not self._reshuffling

    def _replaced_copy_holds(self, record: TaskRecord) -> bool:
        """Does another instance of this task still hold resources on some node?"""
        sub = self._subs[record.submission_id]
        return any(sub.by_state.get(state) for state in HELD)

    def _instances(self, sub: _Submission) -> list[TaskRecord]:
        return [self._records[t] for t in sub.instances if t in self._records]

    def _pending_records(self) -> Iterator[TaskRecord]:
        """PENDING records of wanted submissions, oldest first."""
        if self._pending_unsorted:
            pending = self._by_state[S.PENDING]
            self._by_state[S.PENDING] = dict.fromkeys(sorted(pending, key=self._order.__getitem__))
            self._pending_unsorted = False
        records, subs = self._records, self._subs
        for task_id in self._by_state[S.PENDING]:
            record = records[task_id]
            if subs[record.submission_id].wanted:
                yield record

    # -- indexes ------------------------------------------------------------------------

    def _add_submission(self, sub: _Submission) -> _Submission:
        self._subs[sub.id] = sub
        if sub.wanted and sub.spec.sla is SLA.ONE_PER_NODE:
            self._daemons[sub.id] = None
        return sub

    def _unwant(self, sub: _Submission) -> None:
        sub.wanted = False
        self._daemons.pop(sub.id, None)

    def _put(self, record: TaskRecord) -> None:
        """Store a record and bring the indexes in line with it (only what changed)."""
        task_id = record.task_id
        old = self._records.get(task_id)
        self._records[task_id] = record
        sub = self._subs[record.submission_id]
        if old is None:
            self._order[task_id] = next(self._next_order)
        elif old.state is record.state:
            if old.agent_id == record.agent_id and old.hostname == record.hostname:
                return
            self._unplace(sub, old)
            self._place(sub, record)
            return
        else:
            del self._by_state[old.state][task_id]
            _discard(sub.by_state, old.state, task_id)
            self._unplace(sub, old)
            if record.state is S.PENDING:
                self._pending_unsorted = True  # back in the queue, at its old age
        self._by_state[record.state][task_id] = None
        sub.by_state.setdefault(record.state, {})[task_id] = None
        self._place(sub, record)

    def _place(self, sub: _Submission, record: TaskRecord) -> None:
        """Index where a launched record's container is (the agent/host indexes)."""
        if record.state not in HELD:
            return
        task_id = record.task_id
        if record.agent_id:
            self._held_on.setdefault(record.agent_id, {})[task_id] = None
        if record.hostname:
            sub.hosts[record.hostname] = sub.hosts.get(record.hostname, 0) + 1
        if record.state in LIVE:
            agent = record.agent_id or ""
            live = sub.live_on.setdefault(agent, {})
            live[task_id] = None
            if len(live) > 1:
                sub.crowded.add(agent)

    def _unplace(self, sub: _Submission, record: TaskRecord) -> None:
        if record.state not in HELD:
            return
        task_id = record.task_id
        if record.agent_id:
            _discard(self._held_on, record.agent_id, task_id)
        if record.hostname:
            left = sub.hosts.get(record.hostname, 0) - 1
            if left > 0:
                sub.hosts[record.hostname] = left
            else:
                sub.hosts.pop(record.hostname, None)
        if record.state in LIVE:
            agent = record.agent_id or ""
            _discard(sub.live_on, agent, task_id)
            if len(sub.live_on.get(agent, ())) <= 1:
                sub.crowded.discard(agent)

    def _forget(self, record: TaskRecord) -> None:
        """Drop a record and its index entries (pruning)."""
        task_id = record.task_id
        del self._records[task_id]
        del self._order[task_id]
        del self._by_state[record.state][task_id]
        sub = self._subs.get(record.submission_id)
        if sub is not None:
            _discard(sub.by_state, record.state, task_id)
            self._unplace(sub, record)

    def _replace(self, record: TaskRecord, **changes: object) -> TaskRecord:
        old_state = record.state
        record = _with(record, **changes)
        self._put(record)
        self._changed[record.task_id] = record
        if record.state.terminal and not old_state.terminal:
            self._finished.append(record.task_id)
            self._prune()
        return record

    def _note_reason(self, record: TaskRecord, reason: str) -> None:
        """A pending task's reason is news for people, not state: it is not persisted."""
        if record.task_id in self._records and record.reason != reason:
            self._records[record.task_id] = _with(record, reason=reason)

    def _kill_record(self, record: TaskRecord, reason: str, *, user: bool = False
                     ) -> list[cmd.Command]:
        if record.state is S.PENDING:
            self._replace(record, state=check_transition(record.state, S.KILLED),
                          reason=reason, killed=user, updated_at=self.clock())
            return []
        if record.state.terminal and record.state is not S.LOST:
            return []
        self._replace(record, state=check_transition(record.state, S.KILLING), reason=reason,
                      killed=user or record.killed, updated_at=self.clock())
        self.counters["kills"] += 1
        return [cmd.Kill(record.task_id, record.agent_id)]

    def _drop(self, record: TaskRecord, reason: str) -> None:
        self._replace(record, state=check_transition(record.state, S.KILLED), reason=reason,
                      updated_at=self.clock())

    def _prune(self) -> None:
        """Forget the oldest terminal records beyond `retain_finished`."""
        while len(self._finished) > self.retain_finished:
            task_id = self._finished.popleft()
            record = self._records.get(task_id)
            if record is None or not record.state.terminal:
                continue
            self._forget(record)
            sub = self._subs.get(record.submission_id)
            if sub is not None:
                del sub.instances[task_id]
                # Nothing left to keep: a finished task's submission goes too (kept, it
                # would be relaunched by the upkeep on the next re-subscription).
                if not sub.instances and sub.id not in self._daemons:
                    del self._subs[sub.id]
                    self._usage.pop(sub.id, None)

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


def _with(record: TaskRecord, **changes: object) -> TaskRecord:
    """`dataclasses.replace` without re-running __init__: records change often, and the
    fields are plain values (10x faster, which matters with 100,000 pending tasks)."""
    new = object.__new__(TaskRecord)
    fields = new.__dict__
    fields.update(record.__dict__)
    fields.update(changes)
    return new


def _discard(index: dict, key: object, task_id: str) -> None:
    """Remove a task id from one bucket of an index; drop the bucket when it empties."""
    bucket = index.get(key)
    if bucket is not None:
        bucket.pop(task_id, None)
        if not bucket:
            del index[key]


def _stopped_by_shutdown(record: TaskRecord) -> bool:
    return (record.state in (S.KILLED, S.FAILED) and not record.killed
            and record.reason == STOPPED_BY_SHUTDOWN)


def _default_reason(state: TaskState) -> str:
    return {
        S.FINISHED: "the container exited with status 0",
        S.FAILED: "the container exited with an error",
        S.KILLED: "killed",
        S.LOST: "the agent running it was lost",
        S.ERROR: "the task could not be started",
    }.get(state, str(state))


def _without(cluster: ClusterState, placed: list[tuple[int, TaskSpec]]) -> ClusterState:
    """The cluster after the given launches: their resources and host ports taken."""
    if not placed:
        return cluster
    free = cluster.free.copy()
    used = [set(ports) for ports in cluster.used_ports]
    for node, spec in placed:
        free[node] -= np.asarray(spec.demand(), dtype=np.float64)[: len(RESOURCES)]
        used[node].update(spec.host_ports)
    return dataclasses.replace(cluster, free=np.maximum(free, 0.0),
                               used_ports=tuple(frozenset(u) for u in used))


__all__ = ["CharmanderScheduler", "Offer", "TaskRecord"]
