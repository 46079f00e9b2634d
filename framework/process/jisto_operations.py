"""What Jisto's users do to their jobs (create, add a task, run, stop, cancel, delete),
over berth's job operations.

A Jisto job is a draft until it runs: kept in the Jisto tables (framework.jisto_store),
written before it is answered. RunJob submits the berth job it stands for
(`offers.jisto.job_spec`, named `berth_name`), so from then on what runs, and how far it
got, is that berth job's and nothing here repeats it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Callable
from typing import Protocol

from framework.jisto_store import JistoStore
from framework.jobs import Job
from framework.process.job_operations import Driver, JobConflict, JobOperations
from offers.jisto import (
    MAX_TEMPLATES,
    JistoJob,
    JistoTask,
    JobOptions,
    job_spec,
    templates,
)
from offers.job import MAX_INSTANCES


class JistoDriver(Driver, Protocol):
    """What Jisto's operations need of the framework's driver: its job operations too."""

    jobs: JobOperations


class JistoNotFound(LookupError):
    """No Jisto job with that UUID."""


class JistoConflict(JobConflict):
    """The operation does not fit the job's state (the API answers 409)."""


class JistoOperations:
    """The Jisto jobs of one framework process, in memory and on disk."""

    def __init__(self, service: JistoDriver, new_uuid: Callable[[], str]) -> None:
        """`new_uuid`: where Jisto's job and task UUIDs come from (the driver's)."""
        self.service = service
        self.store = JistoStore(service.store.engine)
        self.new_uuid = new_uuid
        self._jobs: dict[str, JistoJob] = {}
        self._lock = asyncio.Lock()  # one change at a time: read, write, then keep

    @property
    def berth_jobs(self) -> JobOperations:
        return self.service.jobs

    def load(self, jobs: list[JistoJob]) -> None:
        """What the store held at start."""
        self._jobs = {job.uuid: job for job in jobs}

    def jobs(self) -> list[JistoJob]:
        return list(self._jobs.values())

    def get(self, uuid: str) -> JistoJob:
        job = self._jobs.get(uuid)
        if job is None:
            raise JistoNotFound(f"no job with UUID {uuid!r}")
        return job

    def berth_job(self, job: JistoJob) -> Job | None:
        """The berth job a Jisto job runs as, once RunJob submitted it."""
        found = self.service.scheduler.job(job.berth_name)
        return found if found is not None and found.namespace == job.namespace else None

    # -- changes ---------------------------------------------------------------------

    async def create(self, name: str, namespace: str, tasks: tuple[JistoTask, ...] = (),
                     options: JobOptions | None = None) -> JistoJob:
        """A new job (with the tasks a job source gives it); on disk when it returns."""
        async with self._lock:
            taken = {job.berth_name for job in self._jobs.values()}
            while True:  # its berth job's name must be its own
                job = JistoJob(self.new_uuid(), name, namespace, self.service.clock(),
                               tasks, options)
                if job.berth_name not in taken and \
                        self.service.scheduler.job(job.berth_name) is None:
                    break
            await self._write(self.store.create, job)
            self._jobs[job.uuid] = job
        return job

    async def add_task(self, uuid: str, image: str, env: dict[str, str],
                       name: str | None = None) -> JistoTask:
        """One more run of `image` with `env` in the job (not while it runs)."""
        async with self._lock:
            job = self.get(uuid)
            berth = self.berth_job(job)
            if berth is not None and not berth.phase.final:
                raise JistoConflict(f"the job is {berth.phase}: stop it before adding "
                                    "tasks, or create a new job")
            task = JistoTask(self.new_uuid(), image, tuple(sorted(env.items())), 1, name)
            grown = dataclasses.replace(job, tasks=(*job.tasks, task))
            kinds = templates(grown)
            if len(kinds) > MAX_TEMPLATES:
                raise JistoConflict(f"the job has {MAX_TEMPLATES} different image and env "
                                    "pairs already; at most "
                                    f"{MAX_TEMPLATES}: create another job")
            if grown.iterations > MAX_INSTANCES:
                raise JistoConflict(f"the job has {job.iterations} tasks already; at most "
                                    f"{MAX_INSTANCES}")
            await self._write(self.store.add_task, job, task)
            self._jobs[uuid] = grown
        return task

    async def run(self, uuid: str) -> JistoJob:
        """Submit its berth job (again, once a run before it ended)."""
        async with self._lock:
            job = self.get(uuid)
            if not job.tasks:
                raise JistoConflict("a job cannot run before it has a task: add one with "
                                    "POST /v1/task")
            spec = job_spec(job)
            berth = self.berth_job(job)
            if berth is not None and not berth.phase.final:
                raise JistoConflict(f"the job is {berth.phase} already")
            job = await self._set_op(job, "RunJob")
            if berth is not None:  # the run before, ended: this run starts over
                await self.berth_jobs.delete(berth.id, force=True)
            await self.berth_jobs.submit(spec)
        return job

    async def stop(self, uuid: str, op: str) -> JistoJob:
        """StopJob or CancelJob: its instances killed, none started; the job is kept and
        may run again. A job that has ended is left as it is."""
        async with self._lock:
            job = self.get(uuid)
            berth = self.berth_job(job)
            if berth is None:
                raise JistoConflict("the job has not run: there is nothing to stop")
            if berth.phase.final:
                return job
            job = await self._set_op(job, op)
            await self.berth_jobs.stop(berth.id)
        return job

    async def delete(self, uuid: str) -> JistoJob:
        """The job, its tasks and its berth job (stopped first if it runs)."""
        async with self._lock:
            job = self.get(uuid)
            berth = self.berth_job(job)
            if berth is not None:
                await self.berth_jobs.delete(berth.id, force=True)
            await self._write(self.store.delete, uuid)
            del self._jobs[uuid]
        return job

    async def _set_op(self, job: JistoJob, op: str) -> JistoJob:
        await self._write(self.store.set_op, job.uuid, op)
        job = dataclasses.replace(job, op=op)
        self._jobs[job.uuid] = job
        return job

    async def _write(self, method: Callable, *args: object) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, functools.partial(method, *args))
