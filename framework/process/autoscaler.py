"""Autoscaled jobs in the framework process: evaluated from the framework's tick, on its
clock, every `interval` of their policy.

What to do is `framework.autoscaling.decide`'s to say; this module fetches the readings
the policy's tree needs from the metric source (off the loop), asks, stores the decision
with its inputs and reason, and carries a change out through `JobOperations.scale` (so a
scale by the autoscaler is written and recovered like one by hand). With no metric source
configured every reading is missing, and a missing metric changes nothing.
"""

from __future__ import annotations

import asyncio
from collections import deque

import structlog

from framework.autoscale_store import KEEP, AutoscaleStore
from framework.autoscaling import Decision, MetricSource, Subject, decide, fetch, queries
from framework.jobs import Job
from framework.process.job_operations import JobConflict, JobNotFound, JobOperations
from framework.store import StoreUnavailable
from offers.states import TaskState

log = structlog.get_logger("berth.framework")


class Autoscaler:
    """The autoscaled jobs of one framework process and their decisions, by job name."""

    def __init__(self, jobs: JobOperations, source: MetricSource | None = None) -> None:
        self.jobs = jobs
        self.source = source
        self.store = AutoscaleStore(jobs.service.store.engine)
        self.history: dict[str, deque[Decision]] = {}
        self._due: dict[str, float] = {}  # job -> its next evaluation
        self._lock = asyncio.Lock()

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
        return self._due.get(name)

    # -- the tick -----------------------------------------------------------------------

    async def tick(self) -> None:
        """Evaluate every autoscaled job that is due. A store that cannot be written
        defers the rest to the next tick."""
        async with self._lock:
            now = self.jobs.service.clock()
            jobs = {job.id: job for job in self.jobs.service.scheduler.jobs()
                    if job.spec is not None and job.spec.autoscale is not None}
            await self._forget_gone(jobs)
            for job in jobs.values():
                if job.phase.final or not job.wanted or job.steps:
                    continue
                due = self._due.get(job.id)
                if due is not None and now < due:
                    continue
                try:
                    await self._evaluate(job, now)
                except StoreUnavailable as exc:
                    log.warning("autoscale_deferred", job=job.id, reason=exc.reason)
                    return
                self._due[job.id] = now + job.spec.autoscale.every

    async def _forget_gone(self, jobs: dict[str, Job]) -> None:
        """Decisions of jobs deleted, or of an older job of the same name."""
        gone = [name for name, kept in self.history.items()
                if name not in jobs or (kept and kept[0].at < jobs[name].created_at)]
        for name in list(self._due):
            if name not in jobs or name in gone:
                del self._due[name]
        if gone:
            await asyncio.to_thread(self.store.forget, gone)
            for name in gone:
                del self.history[name]

    async def _evaluate(self, job: Job, now: float) -> None:
        policy = job.spec.autoscale
        running = tuple(job.by_state.get(TaskState.RUNNING, ()))
        subject = Subject(job.id, job.namespace, running, job.desired(), now)
        wanted = queries(policy.tree, subject)
        try:
            readings = await asyncio.to_thread(fetch, self.source, wanted)
        except Exception as exc:  # the source is away: every reading is missing
            log.warning("autoscale_metrics_unreadable", job=job.id, error=str(exc))
            readings = {}
        kept = self.history.setdefault(job.id, deque(maxlen=KEEP))
        decision = decide(policy, subject, readings, list(kept))
        await asyncio.to_thread(self.store.add, [decision])
        kept.append(decision)
        log.info("autoscale_decision", job=job.id, reason=decision.reason)
        if not decision.changed:
            return
        size = decision.size
        try:
            await self.jobs.scale(job.id, decision.desired,
                                  size=(size["cpus"], size["mem"]) if size else None)
        except (JobConflict, JobNotFound) as exc:
            log.warning("autoscale_not_carried_out", job=job.id, error=str(exc))
