"""The Docker backend's side of health checks: start a task's check loop
(executor/health_monitor.py) with the container's address and `docker exec`, and act on
its verdicts (report a change of health, kill after too many failures).

A mixin of executor/docker_backend.py's DockerBackend; it uses the backend's `tasks`,
`client`, `health`, `on_status`, `_call` and `kill`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import docker
import structlog

from executor.health import CheckResult, Step
from executor.health_monitor import HealthMonitor
from executor.tasks import StatusUpdate, TrackedTask
from offers.states import TaskState

log = structlog.get_logger("executor.docker")


class HealthChecking:
    """Health checks of the backend's running containers."""

    tasks: dict[str, TrackedTask]
    client: docker.DockerClient
    health: HealthMonitor
    on_status: Callable[[StatusUpdate], None]
    unhealthy_kill_grace: float
    _health_kills: set[asyncio.Task]

    _call: Callable[..., Awaitable[Any]]  # an SDK call on the backend's threads
    kill: Callable[..., Awaitable[None]]

    def _check_health(self, task: TrackedTask) -> None:
        """Start the task's health-check loop (executor/health_monitor.py), if it has one."""
        check = task.health_check
        if check is None or task.container_id is None:
            return
        task_id, container_id = task.task_id, task.container_id
        self.health.start(task_id, check, lambda: self._address(container_id),
                          lambda argv: self._exec(container_id, argv))

    async def _address(self, container_id: str) -> str | None:
        """Where the agent reaches the container: its bridge address, or the host's own
        for host networking (a check's port is then a host port)."""
        info = await self._call(self.client.api.inspect_container, container_id)
        if (info.get("HostConfig") or {}).get("NetworkMode") == "host":
            return "127.0.0.1"
        settings = info.get("NetworkSettings") or {}
        if settings.get("IPAddress"):
            return settings["IPAddress"]
        for network in (settings.get("Networks") or {}).values():
            if (network or {}).get("IPAddress"):
                return network["IPAddress"]
        return None

    async def _exec(self, container_id: str, argv: list[str]) -> tuple[int, str]:
        """Run `argv` inside the container (Docker exec): its exit code and output."""
        def run() -> tuple[int, str]:
            api = self.client.api
            exec_id = api.exec_create(container_id, argv, stdout=True, stderr=True)["Id"]
            output = api.exec_start(exec_id) or b""
            code = api.exec_inspect(exec_id).get("ExitCode")
            return (-1 if code is None else int(code)), output.decode(errors="replace")
        return await self._call(run)

    def _on_health(self, task_id: str, result: CheckResult, step: Step) -> None:
        """A check's result: keep its response time, report a change of health, and kill
        the task when its checks failed `max_failures` times in a row."""
        task = self.tasks.get(task_id)
        if task is None or task.state is not TaskState.RUNNING or task.kill_requested:
            return
        if result.response_time is not None:
            task.response_times.append(result.response_time)
        if step.report is not None:
            task.healthy = step.report
            log.info("task_health", task_id=task_id, healthy=step.report, detail=result.detail)
            self.on_status(StatusUpdate(task_id, TaskState.RUNNING, "", task.container_id,
                                        None, result.detail, task.framework_id,
                                        healthy=step.report))
        if step.kill is not None:
            log.warning("task_unhealthy", task_id=task_id, reason=step.kill)
            task.unhealthy = step.kill
            kill = asyncio.get_running_loop().create_task(
                self.kill(task_id, self.unhealthy_kill_grace), name=f"unhealthy-{task_id}")
            self._health_kills.add(kill)
            kill.add_done_callback(self._health_kills.discard)
