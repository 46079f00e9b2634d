"""What users ask of the scheduler: submit a task or a job, scale, stop, delete, kill.

Each request changes what is wanted (desired state) and lets the reconciler say what that
means for the instances. Part of `framework.scheduler.Scheduler` (a mixin).
"""

from __future__ import annotations

from collections.abc import Callable

from framework import commands as cmd
from framework import events as ev
from framework.instance_index import InstanceIndex
from framework.jobs import Job
from framework.members import S
from framework.records import TaskRecord
from offers.job import Policies
from offers.states import TERMINAL
from offers.task import SLA


class Requests:
    """The request handlers of `Scheduler` (no state of their own: they change jobs and
    records through the scheduler's `_new_instance`, `_kill_record`, `_upkeep`,
    `_quarantine` and the instance index)."""

    clock: Callable[[], float]
    _index: InstanceIndex
    _jobs: dict[str, Job]
    _records: dict[str, TaskRecord]
    _daemons: dict[str, None]
    _timed: dict[str, None]
    _usage: dict[str, tuple[float, float]]
    _keep_size: set[str]
    _unwanted: list[str]
    _changed: dict[str, TaskRecord]
    _changed_jobs: dict[str, None]
    _charmander: dict[SLA | None, Policies]

    def _submitted(self, e: ev.TaskSubmitted) -> list[cmd.Command]:
        if e.task_id in self._jobs:
            return []  # a repeat (e.g. replayed from the store): already queued
        job = self._index.add_job(Job.from_task(e.task_id, e.spec, self.clock(),
                                                self._charmander[e.spec.sla]))
        self._new_instance(job, e.task_id)
        if e.invalid:
            self._quarantine(job, e.invalid)
        return self._revive_if_needed()

    def _job_submitted(self, e: ev.JobSubmitted) -> list[cmd.Command]:
        if e.spec.name in self._jobs:
            return []
        job = Job.from_spec(e.spec, e.created_at if e.created_at is not None
                            else self.clock(), scaled=e.count)
        job.wanted = e.wanted
        job.steps = list(e.steps)
        job.resize(e.size)
        self._index.add_job(job)
        if job.startup_timeout is not None or job.max_runtime is not None:
            self._timed[job.id] = None
        if e.recovering:
            return []  # instances follow; the upkeep runs on SUBSCRIBED
        self._changed_jobs[job.id] = None  # a new row for the event stream's readers
        return self._upkeep(job) + self._revive_if_needed()

    def _job_scaled(self, e: ev.JobScaled) -> list[cmd.Command]:
        job = self._jobs[e.job_id]
        job.resize(e.size)
        if e.steps:
            job.steps = list(e.steps[1:])
            job.counts = (e.steps[0],)
        else:
            job.steps = []
            job.counts = (e.count,)
        self._changed_jobs[job.id] = None
        return self._upkeep(job) + self._revive_if_needed() + self._suppress_if_idle()

    def _job_stopped(self, e: ev.JobStopped, reason: str = "the job was stopped"
                     ) -> list[cmd.Command]:
        job = self._jobs[e.job_id]
        out: list[cmd.Command] = []
        if job.wanted:
            self._index.unwant(job)
            self._unwanted.append(job.id)
            for task_id in list(job.instances):
                record = self._records.get(task_id)
                if record is not None and not (record.state in TERMINAL
                                               and record.state is not S.LOST):
                    out += self._kill_record(record, reason, user=True)
            out += self._upkeep(job)
            self._changed_jobs[job.id] = None
        return out + self._suppress_if_idle()

    def _job_deleted(self, e: ev.JobDeleted) -> list[cmd.Command]:
        """Forget a job (stopped first if it still runs: the caller said `force`)."""
        out = self._job_stopped(ev.JobStopped(e.job_id))
        job = self._jobs.pop(e.job_id)
        self._daemons.pop(job.id, None)
        self._timed.pop(job.id, None)
        self._usage.pop(job.id, None)
        self._keep_size.discard(job.id)
        for task_id in list(job.instances):
            record = self._records.get(task_id)
            if record is not None:  # updates about it from now on are about no one's task
                self._index.forget(record)
                self._changed.pop(task_id, None)
        return out

    def kill_targets(self, prefix: str, namespaces: frozenset[str]) -> frozenset[str]:
        """The jobs and live instances a kill of `prefix` would reach in `namespaces`: what
        a caller limited to them may kill (written ahead as exact ids)."""
        jobs = {job.id for job in self._jobs.values() if job.id.startswith(prefix)
                and job.wanted and job.namespace in namespaces}
        instances = {r.task_id for r in self._records.values()
                     if r.task_id.startswith(prefix) and r.spec.namespace in namespaces
                     and not (r.state.terminal and r.state is not S.LOST)}
        return frozenset(jobs | instances)

    def _kill(self, e: ev.KillRequested) -> list[cmd.Command]:
        out: list[cmd.Command] = []
        matched: list[str] = []
        only = e.ids
        for job in self._jobs.values():
            if job.id.startswith(e.prefix) and job.wanted and (only is None or job.id in only):
                self._index.unwant(job)
                self._unwanted.append(job.id)
        for record in list(self._records.values()):
            if not record.task_id.startswith(e.prefix) or (
                    record.state in TERMINAL and record.state is not S.LOST) or (
                    only is not None and record.task_id not in only):
                continue
            matched.append(record.task_id)
            if record.state is S.KILLING and record.killed:
                continue
            out += self._kill_record(record, "killed on request", user=True)
        out.insert(0, cmd.KillMatched(e.prefix, tuple(matched)))
        return out + self._suppress_if_idle()
