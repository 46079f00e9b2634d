"""Autoscaled jobs in the framework process: evaluated from the framework's tick, on its
clock, every `interval` of their policy.

What to do is `framework.autoscaling.decide`'s to say, which jobs are due and with what
history `framework.autoscale_book`'s (shared with the simulator); this module fetches
the readings the policy's tree needs from the metric source (off the loop), asks, stores the decision
with its inputs and reason, and carries a change out through `JobOperations.scale` (so a
scale by the autoscaler is written and recovered like one by hand). With no metric source
configured every reading is missing, and a missing metric changes nothing.
"""

from __future__ import annotations

import asyncio

import structlog

from framework.autoscale_book import AutoscaleBook, scale_size
from framework.autoscale_store import AutoscaleStore
from framework.autoscaling import Decision, MetricSource, fetch
from framework.jobs import Job
from framework.process.job_operations import JobConflict, JobNotFound, JobOperations
from framework.store import StoreUnavailable

log = structlog.get_logger("berth.framework")


class Autoscaler:
    """The autoscaled jobs of one framework process and their decisions, by job name.
    Which jobs are due and what they are asked with is `AutoscaleBook`'s (the simulator
    keeps the same book); this class adds the I/O around it."""

    def __init__(self, jobs: JobOperations, source: MetricSource | None = None) -> None:
        self.jobs = jobs
        self.source = source
        self.store = AutoscaleStore(jobs.service.store.engine)
        self.book = AutoscaleBook()
        self._lock = asyncio.Lock()

    def load(self, history: dict[str, list[Decision]]) -> None:
        self.book.load(history)

    def decisions(self, name: str) -> list[Decision]:
        """The job's kept decisions, newest first."""
        return self.book.decisions(name)

    def last(self, name: str) -> Decision | None:
        return self.book.last(name)

    def next_evaluation(self, name: str) -> float | None:
        return self.book.next_evaluation(name)

    # -- the tick -----------------------------------------------------------------------

    async def tick(self) -> None:
        """Evaluate every autoscaled job that is due. A store that cannot be written
        defers the rest to the next tick."""
        async with self._lock:
            now = self.jobs.service.clock()
            book = self.book
            jobs = book.autoscaled(self.jobs.service.scheduler.jobs())
            gone = book.gone(jobs)
            if gone:
                await asyncio.to_thread(self.store.forget, gone)
                book.forget(gone)
            for job in book.due_jobs(jobs, now):
                try:
                    await self._evaluate(job, now)
                except StoreUnavailable as exc:
                    log.warning("autoscale_deferred", job=job.id, reason=exc.reason)
                    return
                book.evaluated(job, now)

    async def _evaluate(self, job: Job, now: float) -> None:
        book = self.book
        subject = book.subject(job, now)
        wanted = book.wanted(job, subject)
        try:
            readings = await asyncio.to_thread(fetch, self.source, wanted)
        except Exception as exc:  # the source is away: every reading is missing
            log.warning("autoscale_metrics_unreadable", job=job.id, error=str(exc))
            readings = {}
        decision = book.decide(job, subject, readings)
        await asyncio.to_thread(self.store.add, [decision])
        book.keep(decision)
        log.info("autoscale_decision", job=job.id, reason=decision.reason)
        if not decision.changed:
            return
        try:
            await self.jobs.scale(job.id, decision.desired, size=scale_size(decision))
        except (JobConflict, JobNotFound) as exc:
            log.warning("autoscale_not_carried_out", job=job.id, error=str(exc))
