"""The instance index: what the scheduler has seen of every task instance (observed state).

A job (`framework.jobs.Job`, what the user asked for) has instances (`TaskRecord`s). The
index keeps the records and, beside them, the indexes every event needs (by state, by
agent, by host, by slot, pending order), changed only by what changed in one record: so
that no status update, kill or offer round walks all 100,000 records.

The scheduler owns one `InstanceIndex` and reads its dicts directly, in hot loops through
aliases taken once: the index never rebinds `records`, `jobs`, `order`, `by_state`,
`held_on` or `daemons`, only changes them in place (it may replace a bucket of `by_state`:
hold none across a change).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from framework.jobs import Job
from framework.members import S
from framework.records import HELD, LIVE, TaskRecord, with_changes
from offers.states import TERMINAL, TaskState


class InstanceIndex:
    """Every known record and job, with the indexes kept in line by `put`/`forget`.

    `records` is in insertion order (a record's age); `order` maps a task id to that
    position, so that a record queued again keeps its place among the pending ones.
    """

    def __init__(self) -> None:
        self.records: dict[str, TaskRecord] = {}
        self.jobs: dict[str, Job] = {}
        self.order: dict[str, int] = {}  # task id -> position in `records` (its age)
        self._next_order = itertools.count()
        self.by_state: dict[TaskState, dict[str, None]] = {state: {} for state in TaskState}
        self._deleted = dict.fromkeys(TaskState, 0)  # keys deleted from each since rebuilt
        self._pending_unsorted = False  # a known record became PENDING again: re-sort once
        self.held_on: dict[str, dict[str, None]] = {}  # agent id -> HELD task ids
        self.daemons: dict[str, None] = {}  # wanted system job ids, oldest first

    # -- jobs ---------------------------------------------------------------------------

    def add_job(self, job: Job) -> Job:
        self.jobs[job.id] = job
        if job.wanted and job.daemon:
            self.daemons[job.id] = None
        return job

    def unwant(self, job: Job) -> None:
        job.wanted = False
        self.daemons.pop(job.id, None)

    # -- reading ------------------------------------------------------------------------

    def instances(self, job: Job) -> list[TaskRecord]:
        return [self.records[t] for t in job.instances if t in self.records]

    def pending(self) -> Iterator[TaskRecord]:
        """PENDING records of wanted jobs, oldest first."""
        if self._pending_unsorted:
            pending = self.by_state[S.PENDING]
            self.by_state[S.PENDING] = dict.fromkeys(sorted(pending, key=self.order.__getitem__))
            self._deleted[S.PENDING] = 0
            self._pending_unsorted = False
        records, jobs = self.records, self.jobs
        for task_id in self.by_state[S.PENDING]:
            record = records[task_id]
            if jobs[record.submission_id].wanted:
                yield record

    # -- writing ------------------------------------------------------------------------

    def put(self, record: TaskRecord) -> None:
        """Store a record and bring the indexes in line with it (only what changed)."""
        task_id = record.task_id
        records = self.records
        old = records.get(task_id)
        records[task_id] = record
        job = self.jobs[record.submission_id]
        state = record.state
        place = state in HELD
        if old is None:
            self.order[task_id] = next(self._next_order)
            if state not in TERMINAL:
                job.by_slot.setdefault(record.slot, {})[task_id] = None
        else:
            old_state = old.state
            same_place = old.agent_id == record.agent_id and old.hostname == record.hostname
            if old_state is state:
                if not same_place:
                    self._unplace(job, old)
                    self._place(job, record)
                return
            self._unlist(old_state, task_id)
            bucket = job.by_state[old_state]
            del bucket[task_id]
            if not bucket:
                del job.by_state[old_state]
            if old_state in HELD:
                if place and same_place:  # still on its host: only LIVE or not may change
                    self._relive(job, record, old_state in LIVE, state in LIVE)
                    place = False
                else:
                    self._unplace(job, old)
            if state in TERMINAL:
                if old_state not in TERMINAL:
                    discard(job.by_slot, old.slot, task_id)
            elif old_state in TERMINAL:  # a LOST one came back
                job.by_slot.setdefault(record.slot, {})[task_id] = None
            if state is S.PENDING:
                self._pending_unsorted = True  # back in the queue, at its old age
        self.by_state[state][task_id] = None
        bucket = job.by_state.get(state)
        if bucket is None:
            job.by_state[state] = {task_id: None}
        else:
            bucket[task_id] = None
        if place:
            self._place(job, record)

    def forget(self, record: TaskRecord) -> None:
        """Drop a record and its index entries (pruning)."""
        task_id = record.task_id
        del self.records[task_id]
        del self.order[task_id]
        self._unlist(record.state, task_id)
        job = self.jobs.get(record.submission_id)
        if job is not None:
            discard(job.by_state, record.state, task_id)
            self._unplace(job, record)
            if record.state not in TERMINAL:
                discard(job.by_slot, record.slot, task_id)

    def _unlist(self, state: TaskState, task_id: str) -> None:
        """Take a task id out of `by_state`. A dict keeps a dead slot for every key deleted
        from it until it grows again, and iterating it walks them all: once 100,000 pending
        tasks were launched, the empty PENDING bucket cost every `pending()` (every status
        update, through `has_work`) a walk of 100,000 slots. So a bucket is rebuilt once
        its deletions outnumber its keys: O(1) amortized, iteration O(keys)."""
        bucket = self.by_state[state]
        del bucket[task_id]
        deleted = self._deleted[state] + 1
        if deleted > len(bucket) + 1024:
            self.by_state[state] = dict(bucket)
            deleted = 0
        self._deleted[state] = deleted

    def _place(self, job: Job, record: TaskRecord) -> None:
        """Index where a launched record's container is (the agent/host indexes)."""
        if record.state not in HELD:
            return
        task_id = record.task_id
        if record.agent_id:
            self.held_on.setdefault(record.agent_id, {})[task_id] = None
        if record.hostname:
            job.hosts[record.hostname] = job.hosts.get(record.hostname, 0) + 1
        if record.state in LIVE:
            agent = record.agent_id or ""
            live = job.live_on.setdefault(agent, {})
            live[task_id] = None
            if len(live) > 1:
                job.crowded.add(agent)

    def _unplace(self, job: Job, record: TaskRecord) -> None:
        if record.state not in HELD:
            return
        task_id = record.task_id
        if record.agent_id:
            discard(self.held_on, record.agent_id, task_id)
        if record.hostname:
            left = job.hosts.get(record.hostname, 0) - 1
            if left > 0:
                job.hosts[record.hostname] = left
            else:
                job.hosts.pop(record.hostname, None)
        if record.state in LIVE:
            agent = record.agent_id or ""
            discard(job.live_on, agent, task_id)
            if len(job.live_on.get(agent, ())) <= 1:
                job.crowded.discard(agent)

    def _relive(self, job: Job, record: TaskRecord, was_live: bool, is_live: bool) -> None:
        """`_unplace` of the old record then `_place` of the new one, for a record that
        held its host and still does: the agent and host indexes keep their counts (their
        order is never read), a LIVE one still goes to the end of its agent's `live_on`."""
        if not was_live and not is_live:
            return
        task_id = record.task_id
        agent = record.agent_id or ""
        if was_live and is_live:
            live = job.live_on[agent]
            if len(live) > 1:
                del live[task_id]
                live[task_id] = None
        elif was_live:
            discard(job.live_on, agent, task_id)
            if len(job.live_on.get(agent, ())) <= 1:
                job.crowded.discard(agent)
        else:
            live = job.live_on.setdefault(agent, {})
            live[task_id] = None
            if len(live) > 1:
                job.crowded.add(agent)


def discard(index: dict, key: object, task_id: str) -> None:
    """Remove a task id from one bucket of an index; drop the bucket when it empties."""
    bucket = index.get(key)
    if bucket is not None:
        bucket.pop(task_id, None)
        if not bucket:
            del index[key]


__all__ = ["InstanceIndex", "discard", "with_changes"]
