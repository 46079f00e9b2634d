"""Upkeep: carry out the reconciler's plans, and the rules around them (quarantine,
start-up and run-time limits, shutdown).

A task whose launch fails for a reason in its own spec is quarantined: it ends `ERROR`
with that reason and is not launched again. Shutting berth down is not killing: what ends
while it stops ends "stopped: berth was shut down", and the next start queues it again.
"""

from __future__ import annotations

from collections.abc import Callable

from framework import commands as cmd
from framework import events as ev
from framework import reconciler
from framework.instance_index import InstanceIndex
from framework.jobs import Job, SlotKey
from framework.members import FINAL, PHASE, S
from framework.records import STOPPED_BY_SHUTDOWN, TaskRecord
from offers.states import TaskState


class Upkeep:
    """The plan-applying half of the scheduler (a mixin, no state of its own).

    It reads `clock`, `stopping`, the instance index (`_index`, `_records`) and changes
    records only through the scheduler's `_new_instance`, `_replace`, `_kill_record` and
    `_drop`; a job whose phase or count changed goes to `_changed_jobs`.
    """

    clock: Callable[[], float]
    stopping: bool
    _index: InstanceIndex
    _records: dict[str, TaskRecord]
    _daemons: dict[str, None]
    _changed_jobs: dict[str, None]
    _timed: dict[str, None]

    def _upkeep(self, job: Job, cause: SlotKey | None = None) -> list[cmd.Command]:
        """Bring one job's instances back in line with what it wants (`cause`: only the
        instance of that slot changed)."""
        if self.stopping:
            return []
        plan = reconciler.reconcile(job, self._records, self.clock(), cause)
        if plan.counts is not None:
            job.counts = plan.counts
            job.steps.pop(0)
            self._changed_jobs[job.id] = None
        out: list[cmd.Command] = []
        for stop in plan.stops:
            record = self._records[stop.task_id]
            if record.state is S.PENDING:
                self._drop(record, stop.reason)
            else:
                out += self._kill_record(record, stop.reason, ending="stop")
        for start in plan.starts:
            self._new_instance(job, slot=start.slot, not_before=start.not_before,
                               reason=start.reason)
        if plan.starts:
            for start in plan.starts:
                if start.slot is not None:
                    job.slot(start.slot).note = None
        if plan.phase is not job.phase or plan.reason != job.phase_reason:
            job.phase, job.phase_reason = plan.phase, plan.reason
            self._changed_jobs[job.id] = None
            if plan.phase in FINAL:
                self._daemons.pop(job.id, None)
        return out

    # -- quarantine -------------------------------------------------------------------

    def _quarantine(self, job: Job, reason: str) -> None:
        """The job's spec cannot run: its waiting instances end ERROR with `reason`."""
        job.quarantined = reason
        self._daemons.pop(job.id, None)
        for task_id in list(job.by_state.get(S.PENDING, ())):
            self._replace(self._records[task_id], state=S.ERROR, reason=reason,
                          updated_at=self.clock())
        job.phase, job.phase_reason = PHASE.FAILED, reason
        self._changed_jobs[job.id] = None

    # -- limits -----------------------------------------------------------------------

    def _overdue(self, now: float) -> list[cmd.Command]:
        """Kill instances past their job's start-up timeout (relaunched elsewhere, as an
        infrastructure failure) or maximum run time (ended FAILED)."""
        out: list[cmd.Command] = []
        for job_id in list(self._timed):
            job = self._index.jobs.get(job_id)
            if job is None or job.phase in FINAL:
                self._timed.pop(job_id, None)
                continue
            for state in (S.STAGING, S.STARTING, S.RUNNING):
                for task_id in list(job.by_state.get(state, ())):
                    record = self._records[task_id]
                    if (job.startup_timeout is not None and state is not S.RUNNING
                            and record.launched_at is not None
                            and now - record.launched_at >= job.startup_timeout):
                        out += self._kill_record(
                            record, f"not running {job.startup_timeout:g} s after its "
                                    "launch (startup_timeout): relaunched elsewhere",
                            ending="infrastructure")
                    elif (job.max_runtime is not None and state is S.RUNNING
                          and record.running_at is not None
                          and now - record.running_at >= job.max_runtime):
                        out += self._kill_record(
                            record, f"deadline exceeded: ran longer than max_runtime "
                                    f"{job.max_runtime:g} s", ending="deadline")
        return out

    # -- shutdown ---------------------------------------------------------------------

    def _shutdown(self, e: ev.ShutdownStarted) -> list[cmd.Command]:
        """From now on nothing is placed or relaunched: the next start decides."""
        self.stopping = True
        return []


def ends_by_shutdown(stopping: bool, record: TaskRecord, state: TaskState) -> bool:
    """Does this update end a container the shutdown stops (the agent may say KILLING
    first)? Not if someone had asked to kill it before."""
    return (stopping and state in (S.KILLING, S.KILLED, S.FAILED)
            and not record.killed and (record.state is not S.KILLING
                                       or record.reason == STOPPED_BY_SHUTDOWN))
