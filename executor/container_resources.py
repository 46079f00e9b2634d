"""What the Docker backend does with a running container's resources: meter it (from its
cgroup where readable, else Docker's stats) and, for elasticity, resize or preempt it.

A mixin of executor/docker_backend.py's DockerBackend, kept apart so that the backend's
launch/watch/kill life cycle reads in one sitting; it uses the backend's `tasks`,
`client`, `clock`, `cgroups`, `_call` and `kill`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import docker
import structlog
from docker.errors import DockerException, NotFound

from executor.capacity import Amounts
from executor.cgroup_usage import CgroupReader
from executor.container_spec import resource_kwargs
from executor.docker_errors import docker_text
from executor.tasks import TrackedTask, UsageSample
from offers.elasticity import Tenant
from offers.states import TaskState

log = structlog.get_logger("executor.docker")

MIB = 1024 * 1024


class ContainerResources:
    """Metering, resizing and preemption of the backend's running containers."""

    tasks: dict[str, TrackedTask]
    client: docker.DockerClient
    clock: Callable[[], float]
    cgroups: CgroupReader

    _call: Callable[..., Awaitable[Any]]  # an SDK call on the backend's threads
    kill: Callable[..., Awaitable[None]]

    # -- elasticity --------------------------------------------------------------------

    def tenants(self, usage: dict[str, UsageSample]) -> list[Tenant]:
        """The running tasks as offers/elasticity.py sees them. A task Docker cannot
        resize keeps its size (it counts as not elastic)."""
        out = []
        for task in self.tasks.values():
            if task.state is not TaskState.RUNNING or not task.container_id \
                    or task.preempted:
                continue
            sample = usage.get(task.task_id)
            used = Amounts(sample.cpus, sample.mem, 0.0) if sample else Amounts()
            current = task.current
            out.append(Tenant(task.task_id, Amounts(task.allocated.cpus, task.allocated.mem),
                              used, task.priority, task.started_at,
                              task.elastic and task.resizable,
                              Amounts(current.cpus, current.mem)))
        return out

    async def resize(self, task_id: str, limits: Amounts) -> bool:
        """`docker update` a running container's CPU quota and memory (and swap) limit.

        False when Docker refuses (the container is not resized again) or it is gone."""
        task = self.tasks.get(task_id)
        if task is None or not task.container_id or not task.resizable:
            return False
        try:
            await self._call(self.client.api.update_container, task.container_id,
                             **resource_kwargs(limits.cpus, limits.mem))
        except NotFound:
            return False
        except DockerException as exc:
            task.resizable = False
            log.warning("resize_refused", task_id=task_id, error=docker_text(exc))
            return False
        task.limits = Amounts(limits.cpus, limits.mem, task.allocated.disk)
        log.info("task_resized", task_id=task_id, cpus=round(limits.cpus, 3),
                 mem=round(limits.mem, 1))
        return True

    async def preempt(self, task_id: str, reason: str) -> None:
        """End a task at once for the node's own load; it ends LOST with `reason`, so its
        job's relaunch policy places it elsewhere."""
        task = self.tasks.get(task_id)
        if task is None or task.preempted or task.kill_requested:
            return
        task.preempted = reason
        log.warning("task_preempted", task_id=task_id, reason=reason)
        await self.kill(task_id, 0.0)

    # -- metering ----------------------------------------------------------------------

    async def meter(self) -> list[UsageSample]:
        """One usage sample per running container (CPU needs two looks, so a container's
        first look only sets its mark). Includes notmetered tasks: the agent needs their
        usage for the incumbent arithmetic, and leaves them out of what it ships."""
        tasks = [t for t in self.tasks.values()
                 if t.state is TaskState.RUNNING and t.container_id]
        samples = []
        asked = []
        for task in tasks:  # from the cgroup where it can be read: no wait for Docker
            read = self.cgroups.read(task.container_id)
            if read is None:
                asked.append(task)
            else:
                sample = self._sample(task, *read)
                if sample is not None:
                    samples.append(sample)
        results = await asyncio.gather(
            *(self._call(self.client.api.stats, t.container_id, stream=False, one_shot=True)
              for t in asked), return_exceptions=True)
        for task, stats in zip(asked, results, strict=True):
            if isinstance(stats, BaseException) or not stats:
                continue
            sample = self._usage(task, stats)
            if sample is not None:
                samples.append(sample)
        return samples

    def _usage(self, task: TrackedTask, stats: dict) -> UsageSample | None:
        now = self.clock()
        cpu_ns = float(((stats.get("cpu_stats") or {}).get("cpu_usage") or {})
                       .get("total_usage") or 0.0)
        memory = stats.get("memory_stats") or {}
        detail = memory.get("stats") or {}
        cache = detail.get("total_inactive_file", detail.get("inactive_file", 0))
        mem_bytes = max(float(memory.get("usage") or 0) - float(cache or 0), 0.0)
        return self._sample(task, cpu_ns, mem_bytes, now)

    def _sample(self, task: TrackedTask, cpu_ns: float, mem_bytes: float,
                now: float | None = None) -> UsageSample | None:
        now = self.clock() if now is None else now
        mem = mem_bytes / MIB
        previous, task.last_cpu = task.last_cpu, (now, cpu_ns)
        if previous is None or now <= previous[0]:
            return None
        cpus = max(cpu_ns - previous[1], 0.0) / 1e9 / (now - previous[0])
        times, task.response_times = task.response_times, []
        fields = {"response_time": sum(times) / len(times)} if times else {}
        return UsageSample(task.task_id, now, cpus, mem, task.current, fields)
