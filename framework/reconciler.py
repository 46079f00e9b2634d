"""The reconciler: one job's desired state + its observed instances + now -> a plan.

Pure: it reads a `Job` and its open instances and returns what to start (a slot, not
before some time), what to stop and which waiting instances to drop, and the job's phase.
It changes nothing; the scheduler carries the plan out (Nomad's reconciler is the model).

`note_end` is the other half: when an instance ends, the job's policies decide what the
end means for its slot (done, restart after a delay, relaunch elsewhere, give up). It
only changes the job's slot bookkeeping; the next `reconcile` turns that into a plan.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from framework.jobs import MASTER, Job, Slot, SlotKey
from framework.members import FINAL, KIND, PHASE, WHEN, S
from framework.records import (
    HELD,
    LIVE,
    QUEUED_AFTER_SHUTDOWN,
    SPEC_ERROR_CODES,
    STOPPED_BY_SHUTDOWN,
    TaskRecord,
    default_reason,
)
from offers.job import Phase
from offers.states import TERMINAL, TaskState

NEVER = math.inf
_COUNTED = (KIND.BATCH, KIND.ARRAY)  # done once their instances exited 0


@dataclass(frozen=True)
class Start:
    """Create a PENDING instance for `slot` (None: a system job's next node)."""

    slot: SlotKey | None
    not_before: float = 0.0
    reason: str | None = None


@dataclass(frozen=True)
class Stop:
    """Kill a launched instance, or drop a PENDING one, for `reason` (not a failure)."""

    task_id: str
    reason: str


@dataclass(slots=True)
class Plan:
    starts: list[Start] = field(default_factory=list)
    stops: list[Stop] = field(default_factory=list)
    phase: Phase = Phase.PENDING
    reason: str | None = None
    counts: tuple[int, ...] | None = None  # the next step of a stepped scale was reached


# -- ends ---------------------------------------------------------------------------------


def note_end(job: Job, record: TaskRecord, now: float, code: str | None = None) -> None:
    """An instance reached a terminal state: apply the policy of its failure class."""
    if record.killed or not job.wanted or record.ending == "stop":
        return
    if record.reason == STOPPED_BY_SHUTDOWN:  # berth stopped, not the task: run it again
        if record.slot is not None:
            job.slot(record.slot).note = QUEUED_AFTER_SHUTDOWN
        else:
            job.note = QUEUED_AFTER_SHUTDOWN
        return  # killed on request, or stopped by berth for a reason that is no failure
    if code in SPEC_ERROR_CODES and record.state is S.ERROR:
        job.quarantined = record.reason or default_reason(S.ERROR)
        return
    if record.slot is None:
        _note_node_end(job, record, now)
        return
    slot = job.slot(record.slot)
    state, host = record.state, record.hostname or ""
    if state is S.FINISHED:
        slot.errors = 0
        if job.restart_when is WHEN.ON_FAILURE or _is_master_or_batch(job, record):
            _done(job, record.slot, slot)
        else:
            slot.retry_at = now + job.restart.delay
            job.restarts += 1
    elif record.ending == "deadline":
        _give_up(job, record.slot, slot, record.reason or "deadline exceeded")
    elif state is S.FAILED and record.ending == "undersized":
        # Launched smaller than it asked (intelligence) and out of memory: berth's doing, not
        # the task's. Run again at once (its job now keeps its request); nothing counted.
        slot.retry_at = now
        job.restarts += 1
    elif state is S.FAILED:
        slot.errors = 0
        slot.failures = [t for t in slot.failures if t > now - job.restart.interval]
        slot.failures.append(now)
        attempts = job.restart.attempts
        if attempts is not None and len(slot.failures) > attempts:
            _give_up(job, record.slot, slot, _spent(record, attempts, job.restart.interval))
        else:
            slot.retry_at = now + job.restart.delay_after(len(slot.failures))
            job.restarts += 1
    elif state is S.ERROR:
        slot.errors += 1
        limit = job.relaunch.errors
        if limit is not None and slot.errors >= limit:
            _give_up(job, record.slot, slot, record.reason or default_reason(S.ERROR))
        else:
            _relaunch(job, slot, record, now, delay=job.restart.delay_after(slot.errors))
    elif state is S.LOST or record.ending == "infrastructure":
        if state is S.LOST and record.running_at is None:
            return  # the launch went astray before it ran: placed again, nothing counted
        _relaunch(job, slot, record, now, delay=0.0)
    elif host:
        pass  # KILLED by someone else (the agent's operator): restarted as it wants


def _done(job: Job, key: SlotKey, slot: Slot) -> None:
    if not slot.done:
        slot.done = True
        job.done += 1


def _give_up(job: Job, key: SlotKey, slot: Slot, why: str) -> None:
    slot.gave_up = why
    job.given_up[key] = why


def _relaunch(job: Job, slot: Slot, record: TaskRecord, now: float, delay: float) -> None:
    slot.relaunches += 1
    attempts = job.relaunch.attempts
    if attempts is not None and slot.relaunches > attempts:
        _give_up(job, record.slot, slot, record.reason or default_reason(record.state))
        return
    if record.hostname and job.relaunch.avoid > 0:
        slot.avoid[record.hostname] = now + job.relaunch.avoid
    slot.retry_at = now + delay
    job.restarts += 1


def _note_node_end(job: Job, record: TaskRecord, now: float) -> None:
    """A system job's instance ended on a node: the node is that instance's slot. It is
    retried there, backed off; given up after `restart.attempts` failures within the
    interval, or `relaunch.errors` ERRORs in a row there."""
    host = record.hostname
    if not host or record.state not in (S.FAILED, S.ERROR):
        return
    node = job.on_node.setdefault(host, Slot())
    if record.state is S.ERROR:
        node.errors += 1
        spent = job.relaunch.errors is not None and node.errors >= job.relaunch.errors
    else:
        node.failures = [t for t in node.failures if t > now - job.restart.interval]
        node.failures.append(now)
        attempts = job.restart.attempts
        spent = attempts is not None and len(node.failures) > attempts
    if spent:
        node.gave_up = record.reason or default_reason(record.state)
        job.retry_after[host] = NEVER
    else:
        tries = max(len(node.failures), node.errors)
        job.retry_after[host] = now + job.restart.delay_after(tries)
        job.restarts += 1


def note_running(job: Job, record: TaskRecord) -> None:
    """An instance runs: the ERRORs in a row of its slot (or node) are over."""
    if record.slot is not None:
        job.slot(record.slot).errors = 0
    elif record.hostname in job.on_node:
        job.on_node[record.hostname].errors = 0


def _is_master_or_batch(job: Job, record: TaskRecord) -> bool:
    return job.kind is KIND.BATCH or (record.slot is not None and record.slot[0] == MASTER)


def _spent(record: TaskRecord, attempts: int, interval: float) -> str:
    ended = record.reason or default_reason(record.state)
    tries = "no restart allowed" if attempts == 0 else (
        f"restarted {attempts} time{'s' if attempts != 1 else ''} within {interval:g} s")
    return f"{ended} ({tries})"


# -- plans --------------------------------------------------------------------------------


def reconcile(job: Job, records: Mapping[str, TaskRecord], now: float,
              cause: SlotKey | None = None) -> Plan:
    """What to do so that `job`'s instances match what it wants. `cause`: the slot whose
    instance changed, when nothing else did; then only that slot (and, for a batch job,
    the next indexes to start) is looked at, so an update costs the same in a job of ten
    instances as in one of ten thousand."""
    plan = Plan()
    if job.kind is KIND.SYSTEM:
        return _system(job, records, plan)
    counts = _stepped(job, plan) if job.steps else job.counts
    plan.phase, plan.reason = _phase(job, counts)
    final = plan.phase in FINAL or not job.wanted or bool(job.quarantined)
    if (cause is not None and not final and plan.counts is None and len(counts) == 1
            and job.kind is not KIND.PARALLEL):
        return _focused(job, records, now, cause, counts[0], plan)
    wanted = {} if final else _wanted_slots(job, counts, records)
    for key in list(job.by_slot):
        _keep_slot(job, records, key, key in wanted, plan)
    for key, slot in wanted.items():
        if key not in job.by_slot:
            plan.starts.append(Start(key, slot.retry_at, _start_reason(slot, now)))
    job.cursor = 0
    return plan


def _focused(job: Job, records: Mapping[str, TaskRecord], now: float, key: SlotKey,
             count: int, plan: Plan) -> Plan:
    """`reconcile` for one slot of a single-template job (not parallel)."""
    slot = job.slots.get(key)
    wanted = key[1] < count and not (slot is not None and (slot.done or slot.gave_up))
    if not wanted or len(job.by_slot.get(key, ())) > 1:
        _keep_slot(job, records, key, wanted, plan)
    limit = job.parallelism if job.kind is KIND.BATCH and job.parallelism else None
    busy = len(job.by_slot)
    if plan.stops:
        busy -= sum(1 for s in plan.stops if records[s.task_id].state is S.PENDING)
    if wanted and key not in job.by_slot and (limit is None or busy < limit):
        plan.starts.append(Start(key, slot.retry_at if slot else 0.0,
                                 _start_reason(slot, now) if slot else None))
        busy += 1
    if limit is not None:  # the next indexes, lowest first, as far as parallelism allows
        while busy < limit and job.cursor < count:
            index = job.cursor
            job.cursor += 1
            other = job.slots.get((0, index))
            if (0, index) in job.by_slot or (0, index) == key or (
                    other is not None and (other.done or other.gave_up)):
                continue
            other = job.slot((0, index))
            plan.starts.append(Start((0, index), other.retry_at, _start_reason(other, now)))
            busy += 1
    return plan


def _keep_slot(job: Job, records: Mapping[str, TaskRecord], key: SlotKey, wanted: bool,
               plan: Plan) -> None:
    """One slot's open instances: all stopped if it is not wanted; else never two live
    (the newest launch stays) and no waiting one beside a live one."""
    ids = job.by_slot.get(key, ())
    if wanted and len(ids) < 2:
        return  # one instance (the usual case) is never a duplicate
    instances = [records[t] for t in ids]
    if not wanted:
        why = _unwanted_reason(job, plan.phase, key)
        plan.stops += [Stop(r.task_id, why) for r in instances if r.state is not S.KILLING]
        return
    live = [r for r in instances if r.state in LIVE]
    if len(live) > 1:  # a lost instance came back: keep the newest launch
        keep = max(live, key=_newest)
        plan.stops += [Stop(r.task_id, f"duplicate of {keep.task_id}")
                       for r in live if r is not keep]
    if live:
        plan.stops += [Stop(r.task_id, f"not needed: {live[0].task_id} is running")
                       for r in instances if r.state is S.PENDING]


def _stepped(job: Job, plan: Plan) -> tuple[int, ...]:
    """A stepped scale moves to its next step once every instance of this one runs."""
    if job.steps and _running(job) >= sum(job.counts):
        plan.counts = (job.steps[0],)
        return plan.counts
    return job.counts


def _running(job: Job) -> int:
    return len(job.by_state.get(S.RUNNING, ()))


def _wanted_slots(job: Job, counts: tuple[int, ...],
                  records: Mapping[str, TaskRecord]) -> dict[SlotKey, Slot]:
    """The slots that should have an instance now, in start order."""
    out: dict[SlotKey, Slot] = {}
    if job.kind is KIND.PARALLEL:
        master = job.slot((MASTER, 0))
        if master.done or master.gave_up:
            return out
        out[(MASTER, 0)] = master
        if not _master_runs(job, records):
            return out  # workers need the master's host and ports
    limit = job.parallelism if job.kind is KIND.BATCH and job.parallelism else None
    busy = 0
    for template, count in enumerate(counts):
        for index in range(count):
            key = (template, index)
            slot = job.slots.get(key) or job.slot(key)
            if slot.done or slot.gave_up:
                continue
            if limit is not None:
                if key not in job.by_slot and busy >= limit:
                    continue
                busy += 1
            out[key] = slot
    return out


def _master_runs(job: Job, records: Mapping[str, TaskRecord]) -> bool:
    return any(records[t].state is S.RUNNING for t in job.by_slot.get((MASTER, 0), ()))


def _phase(job: Job, counts: tuple[int, ...]) -> tuple[Phase, str | None]:
    """The job's phase from its counters: O(1) but for a final check of completion."""
    if job.quarantined:
        return PHASE.FAILED, job.quarantined
    given_up = job.given_up
    if job.kind is KIND.PARALLEL:
        master = job.slot((MASTER, 0))
        if master.done:
            return PHASE.COMPLETE, "the master exited with status 0"
        if master.gave_up:
            return PHASE.FAILED, f"master: {master.gave_up}"
    elif given_up and job.kind in _COUNTED:
        key = min(given_up)
        return PHASE.FAILED, f"{_slot_name(job, key)}: {given_up[key]}"
    # An array of no units is not done but idle: it waits to be scaled (JuliaRun's
    # JuliaParBatchWorkers start with none).
    if (job.kind in _COUNTED and job.done >= sum(counts) and sum(counts) > 0
            and _all_done(job, counts)):
        done = sum(counts)
        return PHASE.COMPLETE, f"{done} instance{'s' if done != 1 else ''} exited 0"
    if not job.wanted:
        return PHASE.STOPPED, "stopped on request"
    if given_up and len(given_up) >= sum(counts) and not any(
            job.by_state.get(s) for s in LIVE):
        key = min(given_up)
        return PHASE.FAILED, f"{_slot_name(job, key)}: {given_up[key]}"
    if job.by_state.get(S.RUNNING):
        return PHASE.RUNNING, None
    return PHASE.PENDING, None


def _all_done(job: Job, counts: tuple[int, ...]) -> bool:
    slots = job.slots
    for t, count in enumerate(counts):
        for i in range(count):
            slot = slots.get((t, i))
            if slot is None or not slot.done:
                return False
    return True


def _unwanted_reason(job: Job, phase: Phase, key: SlotKey) -> str:
    if phase is PHASE.COMPLETE:
        return "the job is complete"
    if phase is PHASE.FAILED:
        return "the job failed"
    if not job.wanted:
        return "the job was stopped"
    if key[0] != MASTER and job.kind is KIND.PARALLEL and job.slot((MASTER, 0)):
        return "waiting for the job's master to run again"
    return "scaled down"


def _start_reason(slot: Slot, now: float) -> str | None:
    if slot.note:
        return slot.note
    if slot.retry_at > now:
        return f"restarting after a failure, not before t={slot.retry_at:.0f}"
    return None


def _slot_name(job: Job, key: SlotKey) -> str:
    if key[0] == MASTER:
        return "master"
    if len(job.templates) > 1:
        return f"tasks[{key[0]}] index {key[1]}"
    return f"index {key[1]}"


def _newest(record: TaskRecord) -> tuple[float, str]:
    return (record.launched_at or 0.0, record.task_id)


# -- system jobs --------------------------------------------------------------------------


def _system(job: Job, records: Mapping[str, TaskRecord], plan: Plan) -> Plan:
    """One instance per eligible node: second instances on one agent are stopped; one
    instance is kept not finished (PENDING until a node takes it). O(crowded agents)."""
    if job.quarantined:
        plan.phase, plan.reason = PHASE.FAILED, job.quarantined
    elif not job.wanted:
        plan.phase, plan.reason = PHASE.STOPPED, "stopped on request"
    else:
        plan.phase = PHASE.RUNNING if job.by_state.get(S.RUNNING) else PHASE.PENDING
    if plan.phase in FINAL:
        for ids in job.by_slot.values():
            plan.stops += [Stop(t, _unwanted_reason(job, plan.phase, (0, 0))) for t in ids
                           if records[t].state is not S.KILLING]
        return plan
    for agent in sorted(job.crowded):
        live = [records[t] for t in job.live_on.get(agent, ())]
        keep = max(live, key=_newest)
        plan.stops += [Stop(r.task_id, f"second instance on agent {agent}; "
                                       f"{keep.task_id} stays") for r in live if r is not keep]
    if not any(job.by_state.get(state) for state in _OPEN):
        plan.starts.append(Start(None, reason=job.note))
    return plan


_OPEN = tuple(state for state in TaskState if state not in TERMINAL)
__all__ = ["HELD", "Plan", "Start", "Stop", "note_end", "note_running", "reconcile"]
