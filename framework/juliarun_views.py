"""What JuliaRun's monitoring calls answer about a berth job: its status tuple, its scale
and its endpoint, read from the scheduler's views of the job and its instances."""

from __future__ import annotations

from collections.abc import Iterable

from framework.jobs import MASTER, Job
from framework.juliarun import KINDS, endpoint_ports, juliarun_type
from framework.records import TaskRecord
from offers.job import JobType, Phase
from offers.states import TaskState


def _workers(job: Job, instances: Iterable[TaskRecord]) -> list[TaskRecord]:
    return [r for r in instances if r.slot is None or r.slot[0] != MASTER]


def has_workers(job: Job) -> bool:
    kind = KINDS.get(juliarun_type(job.spec) or "")
    return kind is not None and kind.workers


def status(job: Job, instances: Iterable[TaskRecord]) -> list:
    """`[completed, workers succeeded, workers, created, notebook]`, as the seed's
    `(true,0,0,true,false)`: `workers` is the requested parallelism of a job with workers
    (0 otherwise); `created` once an instance was launched (or the job ended)."""
    instances = list(instances)
    workers = has_workers(job) and job.kind is not JobType.SERVICE
    succeeded = sum(1 for key, slot in job.slots.items() if slot.done and key[0] != MASTER)
    created = job.phase.final or any(r.launched_at is not None for r in instances)
    return [job.phase is Phase.COMPLETE, succeeded if workers else 0,
            job.desired() if workers else 0, created,
            juliarun_type(job.spec) == "Notebook"]


def scale(job: Job, instances: Iterable[TaskRecord]) -> list[int]:
    """`[running, requested]` workers; a job of one process has a scale of 0."""
    if not has_workers(job):
        return [0, 0]
    running = sum(1 for r in _workers(job, instances) if r.state is TaskState.RUNNING)
    return [running, job.desired()]


def endpoint(job: Job, instances: Iterable[TaskRecord]) -> list:
    """`[hosts, {port name: port}]`: where the running process (a parallel job's master)
    listens, its ports being the agents' host ports."""
    running = [r for r in instances if r.state is TaskState.RUNNING and r.hostname
               and (job.kind is not JobType.PARALLEL or (r.slot and r.slot[0] == MASTER))]
    hosts = sorted({r.hostname for r in running if r.hostname})
    return [hosts, endpoint_ports(job.spec) if job.spec is not None else {}]
