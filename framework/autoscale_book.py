"""Which autoscaled jobs are due, what each is asked with, and the decisions kept: the
autoscaler's bookkeeping, shared by the framework process (framework/process/autoscaler.py,
which reads the metrics store and writes decisions off its loop) and the simulator
(simulator/autoscale.py, on its virtual clock with in-memory metrics), so a live run and
a simulated one evaluate the same jobs at the same times with the same history.

Pure: jobs, now and readings come in; decisions and the scale to carry out go out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from framework.autoscaling import Decision, Query, Readings, Subject, decide, queries
from framework.jobs import Job
from offers.states import TaskState

KEEP = 100  # decisions kept per job


class AutoscaleBook:
    """The decisions of each autoscaled job (newest last, `KEEP` at most) and when each is
    next due, by job name."""

    def __init__(self) -> None:
        self.history: dict[str, deque[Decision]] = {}
        self.due: dict[str, float] = {}  # job -> its next evaluation

    def load(self, history: dict[str, list[Decision]]) -> None:
        self.history = {job: deque(decisions, maxlen=KEEP)
                        for job, decisions in history.items()}

    def decisions(self, name: str) -> list[Decision]:
        """The job's kept decisions, newest first."""
        return list(reversed(self.history.get(name, ())))

    def last(self, name: str) -> Decision | None:
        kept = self.history.get(name)
        return kept[-1] if kept else None

    def next_evaluation(self, name: str) -> float | None:
        return self.due.get(name)

    # -- one tick -----------------------------------------------------------------------

    @staticmethod
    def autoscaled(jobs: Iterable[Job]) -> dict[str, Job]:
        return {job.id: job for job in jobs
                if job.spec is not None and job.spec.autoscale is not None}

    def gone(self, jobs: dict[str, Job]) -> list[str]:
        """Jobs whose decisions are to be forgotten: deleted, or an older job of the same
        name. Their due times are forgotten at once; `forget` drops the decisions (once
        the store has, live)."""
        gone = [name for name, kept in self.history.items()
                if name not in jobs or (kept and kept[0].at < jobs[name].created_at)]
        for name in list(self.due):
            if name not in jobs or name in gone:
                del self.due[name]
        return gone

    def forget(self, names: Iterable[str]) -> None:
        for name in names:
            self.history.pop(name, None)

    def due_jobs(self, jobs: dict[str, Job], now: float) -> list[Job]:
        """The jobs to evaluate now: running, not stepping through a scale, and due."""
        out = []
        for job in jobs.values():
            if job.phase.final or not job.wanted or job.steps:
                continue
            due = self.due.get(job.id)
            if due is None or now >= due:
                out.append(job)
        return out

    @staticmethod
    def subject(job: Job, now: float) -> Subject:
        running = tuple(job.by_state.get(TaskState.RUNNING, ()))
        return Subject(job.id, job.namespace, running, job.desired(), now)

    @staticmethod
    def wanted(job: Job, subject: Subject) -> list[Query]:
        """The readings the job's policy needs for `subject`."""
        return queries(job.spec.autoscale.tree, subject)

    def decide(self, job: Job, subject: Subject, readings: Readings) -> Decision:
        """The job's decision from these readings and its kept history (not kept yet:
        `keep` it once it is stored)."""
        return decide(job.spec.autoscale, subject, readings,
                      list(self.history.get(job.id, ())))

    def keep(self, decision: Decision) -> None:
        self.history.setdefault(decision.job, deque(maxlen=KEEP)).append(decision)

    def evaluated(self, job: Job, now: float) -> None:
        """The job was evaluated at `now`: it is next due an interval later."""
        self.due[job.id] = now + job.spec.autoscale.every


def scale_size(decision: Decision) -> tuple[float, float] | None:
    """The (cpus, mem) of the instances a change adds, when its preset picks one."""
    size = decision.size
    return (size["cpus"], size["mem"]) if size else None
