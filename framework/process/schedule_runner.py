"""Scheduled jobs in the framework process: kept here, fired from the framework's tick.

A scheduled job is a template: the core never sees it, only its runs, which are ordinary
jobs submitted through `JobOperations.submit`, so a run is on disk (with the schedule's
new last firing, in the same transaction) before the core hears of it. What to do is
`framework.schedules.decide`'s to say; this module reads the runs' phases from the core,
asks, and carries the answer out: stop (replace), start, forget (history limits).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

import structlog

from framework.jobs import Job
from framework.process.job_operations import JobConflict, JobNotFound, JobOperations
from framework.schedules import (
    Decision,
    Run,
    ScheduleState,
    beyond_history,
    decide,
    manual_run_name,
    next_firing,
    run_name,
)
from framework.store import JobExists, StoreUnavailable
from offers.job import JobSpec

log = structlog.get_logger("berth.framework")


class ScheduleRunner:
    """The scheduled jobs of one framework process, by name."""

    def __init__(self, jobs: JobOperations) -> None:
        self.jobs = jobs
        self.states: dict[str, ScheduleState] = {}
        self._lock = asyncio.Lock()  # one tick, launch or delete at a time
        # name -> its next firing after its last: until then a tick only looks at its runs
        self._next_due: dict[str, float] = {}

    def load(self, states: list[ScheduleState]) -> None:
        self.states = {state.name: state for state in states}

    def get(self, name: str) -> ScheduleState | None:
        return self.states.get(name)

    def runs(self, state: ScheduleState) -> list[tuple[Run, Job]]:
        """Its runs the core still knows, with their jobs (phase, reason)."""
        out = []
        for run in state.runs:
            job = self.jobs.service.scheduler.job(run.name)
            if job is not None:
                out.append((dataclasses.replace(run, phase=job.phase), job))
        return out

    def next_firing(self, state: ScheduleState) -> float:
        return next_firing(state.spec.schedule, max(state.since, self.jobs.service.clock()))

    # -- requests ---------------------------------------------------------------------------

    async def create(self, spec: JobSpec) -> ScheduleState:
        state = await self.jobs.submit_scheduled(spec)
        self.states[state.name] = state
        return state

    async def launch(self, name: str) -> Job:
        """A run now (manual launch): concurrency and the last firing are not touched."""
        async with self._lock:
            state = self._state(name)
            now = self.jobs.service.clock()
            nth = 1
            while self._taken(manual_run_name(name, now, nth)):
                nth += 1
            child = _run_spec(state.spec, manual_run_name(name, now, nth))
            changed = dataclasses.replace(state, runs=(*state.runs, Run(child.name, now,
                                                                       manual=True)))
            try:
                job = await self.jobs.submit(child, schedule=changed)
            except JobExists:  # taken meanwhile by a job submitted by hand
                raise JobConflict(f"{child.name!r} exists already; launch again") from None
            self.states[name] = changed
            return job

    def _taken(self, name: str) -> bool:
        return self.jobs.service.scheduler.job(name) is not None or name in self.states

    async def delete(self, name: str, force: bool) -> ScheduleState:
        """Forget the scheduled job and its runs; refused while a run is active unless
        `force` (which stops them)."""
        async with self._lock:
            state = self._state(name)
            runs = self.runs(state)
            active = [run.name for run, job in runs if not job.phase.final]
            if active and not force:
                raise JobConflict(f"runs {', '.join(active)} are active: stop them first, "
                                  "or delete with force=true")
            await self.jobs.save_schedules(deleted=[name])
            del self.states[name]
            self._next_due.pop(name, None)
            for run, _job in runs:
                with contextlib.suppress(JobNotFound):
                    await self.jobs.delete(run.name, force=True)
            return state

    # -- the tick -----------------------------------------------------------------------------

    async def tick(self) -> None:
        """Carry out every schedule's decision at the clock's now. A store that cannot be
        written leaves the schedule as it was: the firing is still due at the next tick."""
        async with self._lock:
            for name in list(self.states):
                try:
                    await self._tick_one(self.states[name])
                except StoreUnavailable as exc:
                    log.warning("schedule_deferred", job=name, reason=exc.reason)
                    return

    async def _tick_one(self, state: ScheduleState) -> None:
        now = self.jobs.service.clock()
        runs = [run for run, _job in self.runs(state)]
        schedule = state.spec.schedule
        due = self._next_due.get(state.name)
        if due is None:
            due = self._next_due[state.name] = next_firing(schedule, state.since)
        if now < due and len(runs) == len(state.runs) and not beyond_history(schedule, runs):
            return  # nothing due, no run gone, none to forget: no need to ask
        self._next_due.pop(state.name, None)
        decision = decide(schedule, state.since, now, runs)
        if not decision.changes and len(runs) == len(state.runs):
            return
        for name in decision.stop:
            with contextlib.suppress(JobNotFound, JobConflict):
                await self.jobs.stop(name)
        state = dataclasses.replace(state, runs=tuple(runs))
        for firing in decision.start:
            state = await self._start(state, firing)
        for when, why in decision.skipped:
            log.info("schedule_firing_skipped", job=state.name, firing=when, reason=why)
        forgotten = set(decision.forget)
        for name in decision.forget:
            with contextlib.suppress(JobNotFound, JobConflict):
                await self.jobs.delete(name)
        state = dataclasses.replace(
            state, last_firing=_later(state.last_firing, decision.last_firing),
            runs=tuple(r for r in state.runs if r.name not in forgotten))
        await self.jobs.save_schedules(changed=[state])
        self.states[state.name] = state

    async def _start(self, state: ScheduleState, firing: float) -> ScheduleState:
        """One run for `firing`, written with the firing as the last one."""
        child = _run_spec(state.spec, run_name(state.name, firing))
        changed = dataclasses.replace(state, last_firing=_later(state.last_firing, firing),
                                      runs=(*state.runs, Run(child.name, firing)))
        try:
            await self.jobs.submit(child, schedule=changed)
        except JobExists:  # a job of that name was submitted by hand: this firing is done
            log.warning("schedule_run_name_taken", job=state.name, run=child.name)
            return dataclasses.replace(state, last_firing=changed.last_firing)
        log.info("schedule_fired", job=state.name, run=child.name, firing=firing)
        self.states[state.name] = changed
        return changed

    def _state(self, name: str) -> ScheduleState:
        state = self.states.get(name)
        if state is None:
            raise JobNotFound(f"no scheduled job named {name!r}")
        return state


def _run_spec(template: JobSpec, name: str) -> JobSpec:
    return template.model_copy(update={"name": name, "schedule": None})


def _later(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


__all__ = ["Decision", "ScheduleRunner"]
