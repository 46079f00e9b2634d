"""Placement glue: one batch of offers in, launches and declines out.

Pending instances are split into those placed on their metered peak (a reshuffle, with
the `intelligence` strategy) and the rest (the scheduler's strategy, one-per-node tasks
included through a stand-in; under `intelligence`, metered tasks sized by their job's or
their kind's metered use, `framework.kind_usage`); both go through the `offers.placement` core, and the rows
it returns become `Launch` commands, one per agent, and one `Decline` for the other
offers. An instance that fits nowhere keeps the placement's reason with its counts.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Mapping

import numpy as np

from framework import commands as cmd
from framework import events as ev
from framework.instance_index import InstanceIndex
from framework.jobs import Job
from framework.kind_usage import KindUsage, kind_key
from framework.members import KIND, SLAS, S
from framework.records import TaskRecord
from offers import placement as placement_core
from offers.cluster import ClusterState
from offers.filters import eligible_nodes
from offers.offer import OfferBatch, cluster_from_offers
from offers.resources import RESOURCES
from offers.states import check_transition
from offers.task import SLA, TaskSpec

INTELLIGENCE = "intelligence"
SIZED_CACHE = 100_000  # sized specs kept between rounds (a backlog is placed every round)
AVOIDS_NONE: frozenset[int] = frozenset()


class OfferRound:
    """The offer handlers of `CharmanderScheduler` (a mixin: it has no state of its own).

    It reads the scheduler's settings (`strategy`, `seed`, `margin`, `refuse_seconds`,
    `stopping`, `clock`) and the instance index through the scheduler's aliases
    (`_records`, `_subs`, `_order`, `_daemons`); it changes `_rounds`, `_agents`,
    `_revocable` and `counters`, and records through `_update`, `_new_instance` and `_note_reason`.
    """

    strategy: str
    seed: int
    margin: float
    refuse_seconds: float
    stopping: bool
    clock: Callable[[], float]
    counters: dict[str, int]
    _index: InstanceIndex
    _records: dict[str, TaskRecord]
    _subs: dict[str, Job]
    _order: dict[str, int]
    _daemons: dict[str, None]
    _agents: dict[str, str]
    _usage: dict[str, tuple[float, float]]
    _kinds: KindUsage
    _keep_size: set[str]
    _sized: dict[tuple[str, float, float], TaskSpec]
    _rounds: int
    # revocable cpus, mem per row of the round's cluster (None: none offered); set per round
    _revocable: np.ndarray | None = None

    def _offers(self, e: ev.OffersReceived) -> list[cmd.Command]:
        batch, doubled = OfferBatch.of(e.offers).one_agent_per_host()
        if not len(batch):
            return []
        if self.stopping:  # nothing starts while berth stops
            self.counters["offers_declined"] += len(batch) + len(doubled)
            return [cmd.Decline((*batch.ids, *doubled), self.refuse_seconds)]
        self._rounds += 1
        self.counters["offers_received"] += len(batch) + len(doubled)
        self._agents.update(zip(batch.agent_ids, batch.hostnames, strict=True))
        now = self.clock()
        cluster, agent_of_row, row_of_offer = cluster_from_offers(batch)
        row_of_host = cluster.host_index()
        self._revocable = batch.revocable_of_rows(cluster.size, row_of_offer)

        by_usage, regular, waiting = [], [], []
        avoiding: dict[frozenset[int], list[TaskRecord]] = {}  # rows a relaunch must avoid
        repacking = not self._old_copies_hold()
        for record in self._admitted(self._built(self._index.pending())):
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
            elif record.slot is not None:
                avoided = self._avoided(record, now, row_of_host)
                if avoided:
                    avoiding.setdefault(avoided, []).append(record)
                else:
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
            placed = self._apply(placement, by_usage, specs, agent_of_row, row_of_host,
                                 launches)
            cluster = without(cluster, placed)

        for rows, work in avoiding.items():
            # Relaunched after an infrastructure failure: placed first (they were placed
            # before), on the offered nodes but the ones they avoid for a while.
            placed = self._place(without_rows(cluster, rows), work, agent_of_row,
                                 row_of_host, launches)
            cluster = without(cluster, placed)

        opn = self._daemons_missing_on(cluster)
        if regular or opn:
            work = regular + [self._placeholder(sub) for sub in opn]
            self._place(cluster, work, agent_of_row, row_of_host, launches)

        # One ACCEPT per agent that got tasks, then one DECLINE for every other offer.
        out: list[cmd.Command] = []
        ids = batch.ids
        taken = np.zeros(len(agent_of_row), dtype=bool)
        taken[list(launches)] = True
        accepted = taken[row_of_offer]
        offers_of: dict[int, list[int]] = {row: [] for row in launches}
        for i, row in zip(np.flatnonzero(accepted).tolist(),
                          row_of_offer[accepted].tolist(), strict=True):
            offers_of[row].append(i)
        for row in sorted(launches):
            used = offers_of[row]
            self.counters["offers_accepted"] += len(used)
            self.counters["launches"] += 1
            out.append(cmd.Launch(tuple([ids[i] for i in used]), agent_of_row[row],
                                  tuple(launches[row])))
        declined = (*itertools.compress(ids, (~accepted).tolist()), *doubled)
        if declined:
            self.counters["offers_declined"] += len(declined)
            out.append(cmd.Decline(declined, self.refuse_seconds))
        return out + self._suppress_if_idle()

    def _place(self, cluster: ClusterState, work: list[TaskRecord], agent_of_row: list[str],
               row_of_host: dict[str, int],
               launches: dict[int, list[tuple[str, TaskSpec]]]) -> list[tuple[int, TaskSpec]]:
        """Place with the scheduler's strategy. Keyed by task instance (two Charmander
        tasks may share a user id); counting constraints count over the whole job."""
        revocable = self._revocable
        if revocable is None:
            return self._place_on(cluster, work, agent_of_row, row_of_host, launches)
        # Revocable capacity (taken back from elastic tasks) is for elastic work only:
        # work that keeps its size is placed first, on the rest.
        fixed = [r for r in work if not r.spec.elastic]
        elastic = [r for r in work if r.spec.elastic]
        placed = self._place_on(cluster, fixed, agent_of_row, row_of_host, launches) \
            if fixed else []
        if elastic:
            grown = with_revocable(without(cluster, placed), revocable)
            placed += self._place_on(grown, elastic, agent_of_row, row_of_host, launches)
        return placed

    def _place_on(self, cluster: ClusterState, work: list[TaskRecord],
                  agent_of_row: list[str], row_of_host: dict[str, int],
                  launches: dict[int, list[tuple[str, TaskSpec]]]
                  ) -> list[tuple[int, TaskSpec]]:
        specs = [r.spec for r in work]
        if self.strategy == INTELLIGENCE:
            specs = self._sized_specs(work, specs)
        placement = placement_core.place(
            cluster, specs, keys=[r.task_id for r in work], strategy=self.strategy,
            seed=self.seed + self._rounds, running=self._running_hosts(work),
            groups=[r.submission_id for r in work])
        return self._apply(placement, work, specs, agent_of_row, row_of_host, launches)

    def _avoided(self, record: TaskRecord, now: float,
                 row_of_host: dict[str, int]) -> frozenset[int]:
        """Offered rows this instance's slot avoids after an infrastructure failure there
        (the relaunch policy's `avoid`)."""
        slot = self._subs[record.submission_id].slots.get(record.slot)
        if slot is None or not slot.avoid:
            return AVOIDS_NONE
        return frozenset(row_of_host[host] for host, until in slot.avoid.items()
                         if until > now and host in row_of_host)

    def _daemons_missing_on(self, cluster: ClusterState) -> list[Job]:
        """System jobs (one-per-node tasks) that some offered agent they may run on does
        not run yet: the others have nothing to place in this round. (One that runs on
        every offered agent, as most do most rounds, needs no look at which it may run on.)"""
        if not self._daemons:
            return []
        eligible: dict[tuple, list[bool]] = {}  # (nodetype, constraints) -> per row
        out = []
        offered = cluster.host_index()  # hostname -> row
        for job in map(self._subs.__getitem__, self._daemons):
            pending = job.by_state.get(S.PENDING)
            hosts = job.hosts
            lacking = () if hosts.keys() >= offered.keys() else [
                host for host in offered if host not in hosts]
            if not lacking and not pending:
                continue
            spec = job.templates[0]
            where = (spec.nodetype, spec.constraints)
            rows = eligible.get(where)
            if rows is None:
                rows = eligible[where] = eligible_nodes(cluster, spec).tolist()
            if any(rows[offered[host]] for host in lacking) or (pending and not any(rows)):
                out.append(job)  # (a pending one with no eligible agent learns why)
        return out

    def _apply(self, placement: placement_core.Placement, work: list[TaskRecord],
               specs: list[TaskSpec], agent_of_row: list[str], row_of_host: dict[str, int],
               launches: dict[int, list[tuple[str, TaskSpec]]]) -> list[tuple[int, TaskSpec]]:
        """Turn placement rows into launches; unplaced tasks keep the reason. (The rows are
        read from the placement's arrays: a row object each would cost more than the rest.)"""
        placed: list[tuple[int, TaskSpec]] = []
        used: set[int] = set()
        reasons: dict[int, str] = {}
        now = self.clock()
        hostnames, why = placement.hostnames, placement.reasons
        for index, node, reason_id in zip(placement.task_index.tolist(),
                                          placement.node.tolist(),
                                          placement.reason_id.tolist(), strict=True):
            if node < 0:
                reason = why[reason_id] if reason_id >= 0 else None
                reasons.setdefault(index, (reason.message if reason else None)
                                   or "no offer fits")
                continue
            hostname = hostnames[node]
            record = work[index]
            sub = self._subs[record.submission_id]
            row = row_of_host[hostname]
            if sub.kind is KIND.SYSTEM:  # (`sub.daemon`)
                if sub.retry_after.get(hostname, 0.0) > now:
                    continue
                current = self._records.get(record.task_id)
                if index in used or current is None or current.state is not S.PENDING:
                    record = self._new_instance(sub)
            elif index in used:
                continue  # a non-one-per-node task is placed once, whatever the rows say
            used.add(index)
            spec = specs[index]
            self._update(record, {
                "state": check_transition(record.state, S.STAGING),
                "agent_id": agent_of_row[row], "hostname": hostname, "launched_spec": spec,
                "reason": None, "updated_at": now, "launched_at": now})
            launches.setdefault(row, []).append((record.task_id, spec))
            placed.append((row, spec))
            self.counters["tasks_placed"] += 1
        for index, reason in reasons.items():
            if index not in used:
                self.counters["tasks_unplaced"] += 1
                self._note_reason(work[index], reason)
        return placed

    def _sized_specs(self, work: list[TaskRecord], specs: list[TaskSpec]) -> list[TaskSpec]:
        """`intelligence` on new work: each metered task sized by its job's own metered
        peak when known, else by its kind's (framework.kind_usage), within its request and
        above the floor; placed and launched at that size (the container's limits)."""
        now = self.clock()
        kinds, usage, keep, cache = self._kinds, self._usage, self._keep_size, self._sized
        out = []
        for record, spec in zip(work, specs, strict=True):
            if spec.notmetered or spec.sla is SLA.ONE_PER_NODE \
                    or record.submission_id in keep:
                out.append(spec)
                continue
            size = kinds.size(spec, now, usage.get(record.submission_id))
            if size is None:
                out.append(spec)
                continue
            cpus, mem = min(round(size[0], 3), spec.cpus), min(round(size[1], 3), spec.mem)
            if cpus >= spec.cpus and mem >= spec.mem:
                out.append(spec)
                continue
            key = (record.task_id, cpus, mem)
            sized = cache.get(key)
            if sized is None:
                if len(cache) >= SIZED_CACHE:
                    cache.clear()
                sized = cache[key] = spec.model_copy(update={"cpus": cpus, "mem": mem})
            out.append(sized)
        return out

    def _usage_spec(self, record: TaskRecord) -> TaskSpec:
        """The spec a reshuffled task is placed and launched with: sized by its metered peak
        plus the margin, rounded to what people read (placement sees the rounded size)."""
        peak = self._usage.get(record.submission_id) or self._kinds.peak(
            kind_key(record.spec), self.clock())
        if peak is None or record.spec.notmetered or record.submission_id in self._keep_size:
            return record.spec
        [(cpus, mem, _disk)] = placement_core.effective_demands(
            (record.spec,), {record.task_id: peak}, self.margin, (record.task_id,))
        return record.spec.model_copy(update={"mem": round(mem, 3), "cpus": round(cpus, 3)})

    def _running_hosts(self, work: list[TaskRecord]) -> dict[str, Mapping[str, int]]:
        """Per placement key, where its job already runs (hostname -> instances): what a
        singleton, a system job and counting constraints (UNIQUE, MAX_PER, GROUP_BY) need."""
        out: dict[str, Mapping[str, int]] = {}
        for record in work:
            job = self._subs[record.submission_id]
            if job.hosts and (job.daemon or job.sla is SLAS.SINGLETON
                              or record.spec.constraints):
                out[record.task_id] = job.hosts
        return out

    def _placeholder(self, sub: Job) -> TaskRecord:
        """What a one-per-node task is placed as: its PENDING instance if it has one, else
        a stand-in that becomes a real instance only if a new node gets it (so a task that
        runs everywhere does not show a PENDING copy)."""
        pending = sub.by_state.get(S.PENDING)
        if pending:
            return self._records[min(pending, key=self._order.__getitem__)]
        return TaskRecord(task_id=f"{sub.id}.next", submission_id=sub.id,
                          spec=sub.templates[0], state=S.PENDING, created_at=self.clock(),
                          slot=None)



def without_rows(cluster: ClusterState, rows: frozenset[int]) -> ClusterState:
    """The cluster with nothing free on `rows`."""
    free = cluster.free.copy()
    free[sorted(rows)] = 0.0
    return dataclasses.replace(cluster, free=free)


def with_revocable(cluster: ClusterState, revocable: np.ndarray) -> ClusterState:
    """The cluster with each row's revocable cpus and mem added to what is free."""
    free = cluster.free.copy()
    free[:, :2] += revocable
    return dataclasses.replace(cluster, free=free)


def without(cluster: ClusterState, placed: list[tuple[int, TaskSpec]]) -> ClusterState:
    """The cluster after the given launches: their resources and host ports taken."""
    if not placed:
        return cluster
    free = cluster.free.copy()
    nodes = [node for node, _ in placed]
    demands = np.array([spec.demand() for _, spec in placed], dtype=np.float64)
    np.subtract.at(free, nodes, demands[:, : len(RESOURCES)])  # in order, as one by one
    used = list(cluster.used_ports)
    for node, spec in placed:
        if spec.host_ports:
            used[node] = used[node] | frozenset(spec.host_ports)
    return dataclasses.replace(cluster, free=np.maximum(free, 0.0), used_ports=tuple(used))
