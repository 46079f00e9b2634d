"""The instance index: what the scheduler has seen of every task instance (observed state).

A submission (`Submission`, what the user asked for) has instances (`TaskRecord`s). The
index keeps the records and, beside them, the indexes every event needs (by state, by
agent, by host, pending order), changed only by what changed in one record: so that no
status update, kill or offer round walks all 100,000 records.

The scheduler owns one `InstanceIndex` and reads its dicts directly, in hot loops through
aliases taken once: the index never rebinds `records`, `subs`, `order`, `by_state`,
`held_on` or `daemons`, only changes them in place.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

from framework.records import HELD, LIVE, TaskRecord
from offers.states import TaskState
from offers.task import SLA, TaskSpec

S = TaskState


@dataclass
class Submission:
    """What the user asked for (desired state); its instances are TaskRecords.

    The indexes below are kept by `InstanceIndex.put`, so that SLA upkeep on one status
    update does not walk all 10,000 instances of a one-per-node task."""

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


class InstanceIndex:
    """Every known record and submission, with the indexes kept in line by `put`/`forget`.

    `records` is in insertion order (a record's age); `order` maps a task id to that
    position, so that a record queued again keeps its place among the pending ones.
    """

    def __init__(self) -> None:
        self.records: dict[str, TaskRecord] = {}
        self.subs: dict[str, Submission] = {}
        self.order: dict[str, int] = {}  # task id -> position in `records` (its age)
        self._next_order = itertools.count()
        self.by_state: dict[TaskState, dict[str, None]] = {state: {} for state in TaskState}
        self._pending_unsorted = False  # a known record became PENDING again: re-sort once
        self.held_on: dict[str, dict[str, None]] = {}  # agent id -> HELD task ids
        self.daemons: dict[str, None] = {}  # wanted one-per-node submission ids, oldest first

    # -- submissions --------------------------------------------------------------------

    def add_submission(self, sub: Submission) -> Submission:
        self.subs[sub.id] = sub
        if sub.wanted and sub.spec.sla is SLA.ONE_PER_NODE:
            self.daemons[sub.id] = None
        return sub

    def unwant(self, sub: Submission) -> None:
        sub.wanted = False
        self.daemons.pop(sub.id, None)

    # -- reading ------------------------------------------------------------------------

    def instances(self, sub: Submission) -> list[TaskRecord]:
        return [self.records[t] for t in sub.instances if t in self.records]

    def pending(self) -> Iterator[TaskRecord]:
        """PENDING records of wanted submissions, oldest first."""
        if self._pending_unsorted:
            pending = self.by_state[S.PENDING]
            self.by_state[S.PENDING] = dict.fromkeys(sorted(pending, key=self.order.__getitem__))
            self._pending_unsorted = False
        records, subs = self.records, self.subs
        for task_id in self.by_state[S.PENDING]:
            record = records[task_id]
            if subs[record.submission_id].wanted:
                yield record

    # -- writing ------------------------------------------------------------------------

    def put(self, record: TaskRecord) -> None:
        """Store a record and bring the indexes in line with it (only what changed)."""
        task_id = record.task_id
        old = self.records.get(task_id)
        self.records[task_id] = record
        sub = self.subs[record.submission_id]
        if old is None:
            self.order[task_id] = next(self._next_order)
        elif old.state is record.state:
            if old.agent_id == record.agent_id and old.hostname == record.hostname:
                return
            self._unplace(sub, old)
            self._place(sub, record)
            return
        else:
            del self.by_state[old.state][task_id]
            discard(sub.by_state, old.state, task_id)
            self._unplace(sub, old)
            if record.state is S.PENDING:
                self._pending_unsorted = True  # back in the queue, at its old age
        self.by_state[record.state][task_id] = None
        sub.by_state.setdefault(record.state, {})[task_id] = None
        self._place(sub, record)

    def forget(self, record: TaskRecord) -> None:
        """Drop a record and its index entries (pruning)."""
        task_id = record.task_id
        del self.records[task_id]
        del self.order[task_id]
        del self.by_state[record.state][task_id]
        sub = self.subs.get(record.submission_id)
        if sub is not None:
            discard(sub.by_state, record.state, task_id)
            self._unplace(sub, record)

    def _place(self, sub: Submission, record: TaskRecord) -> None:
        """Index where a launched record's container is (the agent/host indexes)."""
        if record.state not in HELD:
            return
        task_id = record.task_id
        if record.agent_id:
            self.held_on.setdefault(record.agent_id, {})[task_id] = None
        if record.hostname:
            sub.hosts[record.hostname] = sub.hosts.get(record.hostname, 0) + 1
        if record.state in LIVE:
            agent = record.agent_id or ""
            live = sub.live_on.setdefault(agent, {})
            live[task_id] = None
            if len(live) > 1:
                sub.crowded.add(agent)

    def _unplace(self, sub: Submission, record: TaskRecord) -> None:
        if record.state not in HELD:
            return
        task_id = record.task_id
        if record.agent_id:
            discard(self.held_on, record.agent_id, task_id)
        if record.hostname:
            left = sub.hosts.get(record.hostname, 0) - 1
            if left > 0:
                sub.hosts[record.hostname] = left
            else:
                sub.hosts.pop(record.hostname, None)
        if record.state in LIVE:
            agent = record.agent_id or ""
            discard(sub.live_on, agent, task_id)
            if len(sub.live_on.get(agent, ())) <= 1:
                sub.crowded.discard(agent)


def with_changes(record: TaskRecord, **changes: object) -> TaskRecord:
    """`dataclasses.replace` without re-running __init__: records change often, and the
    fields are plain values (10x faster, which matters with 100,000 pending tasks)."""
    new = object.__new__(TaskRecord)
    fields = new.__dict__
    fields.update(record.__dict__)
    fields.update(changes)
    return new


def discard(index: dict, key: object, task_id: str) -> None:
    """Remove a task id from one bucket of an index; drop the bucket when it empties."""
    bucket = index.get(key)
    if bucket is not None:
        bucket.pop(task_id, None)
        if not bucket:
            del index[key]
