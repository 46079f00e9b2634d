"""What users do to jobs (submit, scale, stop, delete, wait), carried out by the driver.

As for tasks, a request's change of desired state is on disk before the core hears of
it: a job is written before it is queued (so a `201` means it survives a restart), a
scale's count, a stop and a delete before the core acts. A write that fails raises
StoreUnavailable and the core never saw the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
from collections.abc import Awaitable, Callable
from typing import Protocol

from framework import commands as cmd
from framework import events as ev
from framework.client_parameters import ClientParameters
from framework.jobs import Job
from framework.scheduler import Scheduler
from framework.schedules import ScheduleState
from framework.store import FrameworkStore, JobExists, JobState
from offers.job import JobSpec, JobType
from offers.problems import FieldProblem, SpecError


class Driver(Protocol):
    """What the operations need of the framework's driver."""

    scheduler: Scheduler
    store: FrameworkStore
    clock: Callable[[], float]

    def apply(self, event: ev.Event) -> list[cmd.Command]: ...

    def scheduled(self, name: str) -> ScheduleState | None: ...

    def settle(self) -> Awaitable[None]: ...


SCALABLE = (JobType.SERVICE, JobType.ARRAY, JobType.PARALLEL)


class JobNotFound(LookupError):
    """No job of that name."""


class JobConflict(Exception):
    """The request does not fit the job's type or phase (the API answers 409)."""


def job_state(job: Job) -> JobState:
    """What the store keeps of a job's changing desired state."""
    count = job.counts[0] if job.spec is not None and job.spec.tasks is None else None
    return JobState(job.id, count, tuple(job.steps), job.wanted, job.size)


def images_of(spec: JobSpec) -> list[tuple[str, str]]:
    """(field, image) of each template of a job."""
    if spec.tasks is not None:
        return [(f"tasks[{i}].dockerimage", t.dockerimage) for i, t in enumerate(spec.tasks)]
    return [("task.dockerimage", spec.task.dockerimage)] if spec.task is not None else []


class JobOperations:
    """The job requests of one framework process; `changed` wakes `wait`ers."""

    def __init__(self, service: Driver,
                 image_refusals: Callable[[list[tuple[str, str]]], list[FieldProblem]]
                 | None = None) -> None:
        """`image_refusals`: the images of a submission berth cannot run (a build that
        failed), as problems naming the field (framework.images.ImageBook.refusals)."""
        self.service = service
        self.image_refusals = image_refusals
        self._lock = asyncio.Lock()  # one job write at a time: names are checked, then taken
        self._waiters: dict[str, list[asyncio.Future]] = {}

    def get(self, name: str) -> Job:
        job = self.service.scheduler.job(name)
        if job is None:
            raise JobNotFound(f"no job named {name!r}")
        return job

    async def submit(self, spec: JobSpec, *, schedule: ScheduleState | None = None) -> Job:
        """Persist, then queue. JobExists if the name is taken (nothing is written).
        `schedule`: the scheduled job this is a run of, as it is with the run, written in
        the same transaction. SpecError naming `task.dockerimage` when an image it uses failed
        to build (a scheduled run is not checked: its template was)."""
        if self.image_refusals is not None and schedule is None:
            problems = self.image_refusals(images_of(spec))
            if problems:
                raise SpecError(problems)
        async with self._lock:
            self._check_free(spec.name)
            now = self.service.clock()
            await self._write(jobs=[(spec, now)], schedules=[schedule] if schedule else ())
            self.service.apply(ev.JobSubmitted(spec, now))
        await self.service.settle()
        return self.get(spec.name)

    async def submit_scheduled(self, spec: JobSpec) -> ScheduleState:
        """Persist a scheduled job (a template the core never runs itself)."""
        async with self._lock:
            self._check_free(spec.name)
            state = ScheduleState(spec, self.service.clock())
            await self._write(new_schedules=[state])
        return state

    async def save_schedules(self, *, changed: list[ScheduleState] = (),
                             deleted: list[str] = ()) -> None:
        async with self._lock:
            await self._write(schedules=changed, deleted_schedules=deleted)

    async def set_client_parameters(self, params: ClientParameters) -> None:
        """Persist a client's parameters, then tell the core (new instances get them)."""
        async with self._lock:
            await self._write(client_parameters=[params])
            self.service.apply(ev.ClientParametersChanged(params.namespace, params.client,
                                                          dict(params.values)))

    def _check_free(self, name: str) -> None:
        if self.service.scheduler.job(name) is not None or self.service.scheduled(name):
            raise JobExists(f"a job named {name!r} exists already")

    async def scale(self, name: str, count: int | None = None,
                    steps: tuple[int, ...] = (),
                    size: tuple[float, float] | None = None) -> Job:
        """`size`: the (cpus, mem) instances started from now on have (the autoscaler's
        preset), None: as before."""
        job = self.get(name)
        if job.kind not in SCALABLE or job.charmander:
            raise JobConflict(f"a {job.kind} job cannot be scaled; scale a service, "
                              "array or parallel job")
        if job.spec is not None and job.spec.tasks is not None:
            raise JobConflict("a job of several templates is scaled by each template's "
                              "count; submit it again")
        if job.phase.final:
            raise JobConflict(f"the job is {job.phase}; submit it again to run it")
        first = steps[0] if steps else count
        async with self._lock:
            await self._write(job_states=[JobState(name, first, tuple(steps[1:]), True,
                                                   size or job.size)])
            self.service.apply(ev.JobScaled(name, count or 0, tuple(steps), size))
        await self.service.settle()
        return job

    async def stop(self, name: str) -> Job:
        job = self.get(name)
        async with self._lock:
            await self._write(job_states=[dataclasses.replace(job_state(job), wanted=False)])
            self.service.apply(ev.JobStopped(name))
        await self.service.settle()
        return job

    async def delete(self, name: str, force: bool = False) -> Job:
        job = self.get(name)
        if not job.phase.final and not force:
            raise JobConflict(f"the job is {job.phase}: stop it first, or delete with "
                              "force=true")
        async with self._lock:
            await self._write(deleted_jobs=[name])
            self.service.apply(ev.JobDeleted(name))
        await self.service.settle()
        self._wake(name)
        return job

    async def wait(self, name: str, timeout: float) -> Job:
        """Until the job is complete, failed or stopped, or `timeout` seconds pass."""
        job = self.get(name)
        loop = asyncio.get_running_loop()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(timeout, 0.0)):
                while not job.phase.final and self.service.scheduler.job(name) is job:
                    future = loop.create_future()
                    self._waiters.setdefault(name, []).append(future)
                    await future
        return job

    def changed(self, jobs: list[Job]) -> None:
        for job in jobs:
            self._wake(job.id)

    def _wake(self, name: str) -> None:
        for future in self._waiters.pop(name, ()):
            if not future.done():
                future.set_result(None)

    async def _write(self, **changes) -> None:
        """A request's write, in its own transaction (a taken name fails only it)."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, functools.partial(self.service.store.write,
                                                           **changes))
