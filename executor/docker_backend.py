"""Runs tasks as Docker containers through the `docker` SDK (DOCKER_HOST honoured).

Launch, watch, meter, kill, adopt, read logs. Pulls only from berth's registry, when the
agent knows one (executor/image_pull.py); an image in neither ends the task `ERROR` at
once. Every SDK call blocks, so each runs in a small thread pool and the agent's asyncio
loop stays responsive; Docker's event stream is read by one thread and handed to the loop.
Status changes go to `on_status`. Ended containers are kept `gc_delay` seconds for their
logs (executor/container_gc.py). Metering, resizing and preemption are in
executor/container_resources.py, health checks in executor/health_runner.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker
import structlog
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from executor.capacity import Amounts
from executor.cgroup_usage import CgroupReader
from executor.container_gc import (
    DEFAULT_GC_DELAY,
    EndedContainers,
    ended_name,
    finished_at,
    is_ended_name,
)
from executor.container_logs import ContainerLogs
from executor.container_resources import ContainerResources
from executor.container_spec import (
    LABEL_NAME,
    LABEL_NOTMETERED,
    ContainerPolicy,
    VolumePolicy,
    allocation_from_labels,
    class_from_labels,
    container_name,
    create_kwargs,
    health_check_from_labels,
    host_ports,
    limits_from_host_config,
    port_clash_reason,
    ports_from_bindings,
)
from executor.docker_errors import docker_text
from executor.health_monitor import HealthMonitor
from executor.health_runner import HealthChecking
from executor.image_pull import ImagePuller
from executor.tasks import StatusUpdate, TrackedTask
from offers.launch import LABEL_AGENT_ID, LABEL_FRAMEWORK_ID, LABEL_TASK_ID, LaunchSpec
from offers.states import TaskState

log = structlog.get_logger("executor.docker")

RECENT_TERMINAL = 1000  # terminal statuses kept to answer repeated LAUNCH/KILL
LOG_TAIL_LINES = 20
UNHEALTHY_KILL_GRACE = 3.0  # seconds from SIGTERM to SIGKILL for an unhealthy container


class DockerBackend(ContainerResources, HealthChecking):
    """Containers of one agent on one Docker engine.

    Several agents may share an engine (tests, `--resources` slices of one host): each only
    adopts and answers for containers labelled with its own `agent_id`.
    """

    def __init__(
        self,
        agent_id: str = "",
        policy: VolumePolicy | None = None,
        container_policy: ContainerPolicy | None = None,
        client: docker.DockerClient | None = None,
        on_status: Callable[[StatusUpdate], None] | None = None,
        clock: Callable[[], float] = time.time,
        threads: int = 8,
        gc_delay: float = DEFAULT_GC_DELAY,
        unhealthy_kill_grace: float = UNHEALTHY_KILL_GRACE,
        registry: str | None = None,
    ):
        self.agent_id = agent_id
        self.policy = policy or VolumePolicy()
        self.container_policy = container_policy or ContainerPolicy()
        self.client = client or docker.from_env()
        self.on_status = on_status or (lambda update: None)
        self.clock = clock
        self.tasks: dict[str, TrackedTask] = {}
        self.recent: OrderedDict[str, StatusUpdate] = OrderedDict()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="docker")
        self._events: asyncio.Queue[dict] | None = None
        self._watch_thread: threading.Thread | None = None
        self._stream: Any = None
        self._closing = threading.Event()
        self._consumer: asyncio.Task | None = None
        self._watching = threading.Event()
        self.ended = EndedContainers(gc_delay)
        self.container_logs = ContainerLogs(self.client, lambda: self.agent_id)
        self.health = HealthMonitor(self._on_health, clock)
        self.unhealthy_kill_grace = unhealthy_kill_grace
        self._health_kills: set[asyncio.Task] = set()
        self.cgroups = CgroupReader()
        self.images = ImagePuller(self.client, registry)

    @property
    def registry(self) -> str | None:
        """berth's registry (`host:port`) that missing images are pulled from, or None."""
        return self.images.registry

    @registry.setter
    def registry(self, address: str | None) -> None:
        self.images.registry = address

    # -- life cycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Start following Docker's container events (before any launch or adoption)."""
        loop = asyncio.get_running_loop()
        self._events = asyncio.Queue()
        self._watch_thread = threading.Thread(
            target=self._watch, args=(loop, self._events), name="docker-events", daemon=True)
        self._watch_thread.start()
        self._consumer = asyncio.create_task(self._consume(), name="docker-events-consumer")
        await loop.run_in_executor(self._pool, self._watching.wait, 10.0)

    async def close(self) -> None:
        """Stop watching. Containers keep running: a restarted agent adopts them."""
        self._closing.set()
        await self.health.close()
        for kill in list(self._health_kills):
            kill.cancel()
        stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer
        self._pool.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(Exception):
            self.client.close()

    async def _call(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    # -- views -------------------------------------------------------------------------

    def allocated(self) -> Amounts:
        """What berth's containers may use now: their current limits (disk as asked)."""
        total = Amounts()
        for task in self.tasks.values():
            current = task.current
            total = total + Amounts(current.cpus, current.mem, task.allocated.disk)
        return total

    def requested(self) -> Amounts:
        """What berth's containers were launched with."""
        total = Amounts()
        for task in self.tasks.values():
            total = total + task.allocated
        return total

    def used_ports(self) -> frozenset[int]:
        return frozenset(p for task in self.tasks.values() for p in task.host_ports)

    def running(self) -> list[dict[str, Any]]:
        return [t.running_entry() for t in self.tasks.values() if not t.state.terminal]

    def views(self) -> list[dict[str, Any]]:
        return [t.view() for t in self.tasks.values()]

    # -- status ------------------------------------------------------------------------

    def _emit(self, task: TrackedTask, state: TaskState, reason: str = "",
              exit_code: int | None = None, message: str = "") -> None:
        if not task.move(state) and not state.terminal:
            return
        if state is TaskState.RUNNING:
            self._check_health(task)
        else:
            self.health.stop(task.task_id)
        update = StatusUpdate(task.task_id, state, reason, task.container_id, exit_code,
                              message, task.framework_id,
                              limits=None if state.terminal else task.current)
        log.info("task_status", task_id=task.task_id, state=state.value, reason=reason,
                 exit_code=exit_code)
        if state.terminal:
            self.tasks.pop(task.task_id, None)
            if task.container_id:
                self.cgroups.forget(task.container_id)
            self.recent[task.task_id] = update
            while len(self.recent) > RECENT_TERMINAL:
                self.recent.popitem(last=False)
        self.on_status(update)

    # -- launch ------------------------------------------------------------------------

    async def launch(self, spec: LaunchSpec) -> None:
        """Run one task. Outcomes arrive as statuses; a repeated launch never runs twice."""
        if spec.task_id in self.tasks or spec.task_id in self.recent:
            self._repeat(spec.task_id)
            return
        task = TrackedTask(
            task_id=spec.task_id, framework_id=spec.framework_id, name=spec.name,
            allocated=Amounts(spec.cpus, spec.mem, spec.disk), host_ports=host_ports(spec),
            notmetered=spec.notmetered, health_check=spec.health_check,
            elastic=spec.elastic, priority=spec.priority, started_at=self.clock())
        self.tasks[spec.task_id] = task
        refusal, binds = self.policy.check(spec)
        if refusal:
            self._emit(task, TaskState.ERROR, refusal)
            return
        image, missing = await self.images.ensure(spec.image)  # pulled from the registry
        if missing:
            self._emit(task, TaskState.ERROR, missing)
            return
        if spec.task_id not in self.tasks:  # killed while its image was pulled
            return
        if image != spec.image:  # a digest reference runs as pulled
            spec = spec.model_copy(update={"image": image})
        self._emit(task, TaskState.STARTING)
        kwargs = create_kwargs(spec, self.agent_id, binds, self.container_policy)
        moved = self.policy.moved(binds)  # as late as it can be: right before the create
        if moved:
            self._emit(task, TaskState.ERROR, moved)
            return
        try:
            container = await self._call(self.client.containers.create, **kwargs)
        except ImageNotFound:
            self._emit(task, TaskState.ERROR, f"image {spec.image} not found on this node")
            return
        except APIError as exc:
            if exc.status_code == 409:  # the name is taken: a container of this task exists
                await self._take_over_existing(task, kwargs["name"])
                return
            self._emit(task, TaskState.ERROR, f"Docker refused the container: "
                                              f"{docker_text(exc)}")
            return
        except DockerException as exc:
            self._emit(task, TaskState.ERROR, f"Docker refused the container: "
                                              f"{docker_text(exc)}")
            return
        task.container_id = container.id
        try:
            await self._call(container.start)
        except DockerException as exc:
            text = docker_text(exc)
            if task.task_id in self.tasks:
                reason = port_clash_reason(spec, text) or f"container did not start: {text}"
                self._emit(task, TaskState.ERROR, reason)
            await self._remove(container.id)
            return
        if task.task_id in self.tasks and task.state is TaskState.STARTING:
            self._emit(task, TaskState.RUNNING)
        if task.kill_requested and task.task_id in self.tasks:
            await self._stop(task)

    def _repeat(self, task_id: str) -> None:
        """Answer a repeated LAUNCH with what we know instead of a second container."""
        if task_id in self.recent:
            self.on_status(self.recent[task_id])
            return
        task = self.tasks[task_id]
        log.info("launch_repeated", task_id=task_id, state=task.state.value)
        self.on_status(StatusUpdate(task_id, task.state, "launch repeated; already here",
                                    task.container_id, None, "", task.framework_id))

    async def _take_over_existing(self, task: TrackedTask, name: str) -> None:
        try:
            container = await self._call(self.client.containers.get, name)
        except DockerException as exc:
            self._emit(task, TaskState.ERROR, f"container name {name} is taken and cannot be "
                                              f"inspected: {docker_text(exc)}")
            return
        if container.labels.get(LABEL_TASK_ID) != task.task_id:
            self._emit(task, TaskState.ERROR,
                       f"container name {name} is taken by a container that is not this task")
            return
        task.container_id = container.id
        if container.status in ("running", "paused", "restarting"):
            self._emit(task, TaskState.RUNNING, "already running here")
        else:
            await self._finish(task, container.id)

    # -- kill --------------------------------------------------------------------------

    async def kill(self, task_id: str, grace_seconds: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after the grace period; KILLED arrives as a status."""
        task = self.tasks.get(task_id)
        if task is None:
            if task_id in self.recent:
                self.on_status(self.recent[task_id])
            else:
                self.on_status(StatusUpdate(task_id, TaskState.KILLED,
                                            "task is not running on this agent"))
            return
        if task.kill_requested:
            return
        task.kill_requested = True
        task.kill_grace = grace_seconds
        if task.container_id is None:  # still being created; launch() stops it after start
            if task.state is TaskState.STAGING:
                self._emit(task, TaskState.KILLED, "killed before its container was created")
            return
        await self._stop(task)

    async def _stop(self, task: TrackedTask) -> None:
        self._emit(task, TaskState.KILLING)
        try:
            await self._call(self.client.api.stop, task.container_id,
                             timeout=max(round(task.kill_grace), 0))
        except NotFound:
            if task.task_id in self.tasks:
                self._emit(task, *_gone(task, "killed; its container was already gone"))
        except DockerException as exc:
            log.warning("stop_failed", task_id=task.task_id, error=docker_text(exc))
            with contextlib.suppress(DockerException):
                await self._call(self.client.api.kill, task.container_id)
        # The `die` event turns this into KILLED (see _finish).

    # -- events ------------------------------------------------------------------------

    def _watch(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
        """Thread: follow Docker's event stream for berth containers, reconnecting."""
        since = time.time()
        while not self._closing.is_set():
            try:
                self._stream = self.client.events(
                    decode=True, since=int(since),
                    filters={"type": "container", "label": [LABEL_TASK_ID]})
                self._watching.set()
                for event in self._stream:
                    since = event.get("time", since)
                    loop.call_soon_threadsafe(queue.put_nowait, event)
            except Exception as exc:  # engine restart, closed stream: retry unless closing
                if self._closing.is_set():
                    return
                log.warning("docker_events_lost", error=str(exc))
                self._watching.set()
                time.sleep(1.0)

    async def _consume(self) -> None:
        assert self._events is not None
        while True:
            event = await self._events.get()
            try:
                await self._on_event(event)
            except Exception:
                log.exception("docker_event_failed", event=event.get("status"))

    async def _on_event(self, event: dict) -> None:
        action = event.get("Action") or event.get("status") or ""
        attributes = (event.get("Actor") or {}).get("Attributes") or {}
        task = self.tasks.get(attributes.get(LABEL_TASK_ID, ""))
        if task is None or task.container_id not in (None, event.get("id")):
            return
        if action == "die":
            code = attributes.get("exitCode")
            await self._finish(task, event.get("id"), int(code) if code is not None else None)
        elif action == "destroy" and task.state in (TaskState.RUNNING, TaskState.KILLING):
            self._emit(task, *_gone(task, "its container was removed"))

    async def _finish(self, task: TrackedTask, container_id: str | None,
                      exit_code: int | None = None) -> None:
        """The container stopped: report how, then remove it."""
        oom, logs = False, ""
        if container_id:
            try:
                info = await self._call(self.client.api.inspect_container, container_id)
                state = info.get("State", {})
                oom = bool(state.get("OOMKilled"))
                if exit_code is None:
                    exit_code = state.get("ExitCode")
                if exit_code not in (0, None) and not task.kill_requested:
                    raw = await self._call(self.client.api.logs, container_id,
                                           tail=LOG_TAIL_LINES)
                    logs = raw.decode(errors="replace").strip()
            except DockerException:
                pass
        if task.task_id not in self.tasks:  # reported meanwhile (e.g. by a `destroy`)
            return
        if task.preempted:
            self._emit(task, TaskState.LOST, task.preempted, exit_code)
        elif task.unhealthy:
            self._emit(task, TaskState.FAILED, task.unhealthy, exit_code)
        elif task.kill_requested:
            self._emit(task, TaskState.KILLED, "killed on request", exit_code)
        elif exit_code == 0:
            self._emit(task, TaskState.FINISHED, "exited with code 0", 0)
        elif oom:
            self._emit(task, TaskState.FAILED, f"out of memory: the container hit its limit "
                                               f"of {task.allocated.mem:g} MiB", exit_code, logs)
        else:
            self._emit(task, TaskState.FAILED, f"exited with code {exit_code}", exit_code, logs)
        if container_id:
            await self._retire(task, container_id)

    async def _retire(self, task: TrackedTask, container_id: str) -> None:
        """Its end is reported: keep it (renamed, so never adopted again) for its logs."""
        if self.ended.delay <= 0:
            await self._remove(container_id)
            return
        try:
            await self._call(self.client.api.rename, container_id,
                             ended_name(container_name(task.task_id), container_id))
        except NotFound:
            return
        except DockerException as exc:  # kept anyway; a restarted agent reports it again
            log.warning("rename_failed", task_id=task.task_id, error=docker_text(exc))
        self.ended.add(container_id, self.clock())

    async def collect_garbage(self) -> None:
        """Remove the ended containers kept longer than the gc delay."""
        for container_id in self.ended.due(self.clock()):
            await self._remove(container_id)
            self.ended.discard(container_id)

    async def _remove(self, container_id: str) -> None:
        with contextlib.suppress(DockerException):
            await self._call(self.client.api.remove_container, container_id, force=True)

    # -- adoption ----------------------------------------------------------------------

    async def adopt(self) -> list[dict[str, Any]]:
        """Take over this agent's labelled containers after a restart.

        Running ones are tracked again and returned (the registration's `running`); ones
        that stopped while the agent was away are reported (FINISHED/FAILED) and kept for
        the gc delay; ones whose end was reported before are only kept for it.
        """
        if not self.agent_id:
            return []
        containers = await self._call(
            self.client.containers.list, all=True,
            filters={"label": [f"{LABEL_AGENT_ID}={self.agent_id}"]})
        stopped = []
        for container in containers:
            labels = container.labels
            task_id = labels.get(LABEL_TASK_ID)
            if not task_id or task_id in self.tasks:
                continue
            if is_ended_name(container.name):
                self.ended.add(container.id, finished_at(container.attrs.get("State") or {},
                                                         self.clock()))
                continue
            host_config = container.attrs.get("HostConfig") or {}
            bindings = host_config.get("PortBindings")
            elastic, priority = class_from_labels(labels)
            allocated = Amounts(*allocation_from_labels(labels))
            now_limits = limits_from_host_config(host_config)
            task = TrackedTask(
                task_id=task_id, framework_id=labels.get(LABEL_FRAMEWORK_ID, ""),
                name=labels.get(LABEL_NAME, task_id),
                allocated=allocated, host_ports=ports_from_bindings(bindings),
                notmetered=labels.get(LABEL_NOTMETERED) == "true",
                state=TaskState.RUNNING, container_id=container.id, adopted=True,
                health_check=health_check_from_labels(labels),
                elastic=elastic, priority=priority, started_at=self.clock(),
                limits=None if now_limits is None else Amounts(*now_limits, allocated.disk),
                resizable=bool(host_config.get("CpuQuota")))
            self.tasks[task_id] = task
            if container.status not in ("running", "paused", "restarting"):
                stopped.append(task)
            else:
                self._check_health(task)
            log.info("container_adopted", task_id=task_id, status=container.status)
        running = [t.running_entry() for t in self.tasks.values() if t not in stopped]
        for task in stopped:
            if task.task_id in self.tasks:
                await self._finish(task, task.container_id)
        return running

    async def reconcile(self) -> None:
        """Catch what the event stream missed (it reconnects after an engine restart):
        a tracked container that stopped or vanished is reported as such. Also removes
        the ended containers whose gc delay is over."""
        await self.collect_garbage()
        watched = {t.container_id: t for t in self.tasks.values()
                   if t.container_id and t.state in (TaskState.RUNNING, TaskState.KILLING)}
        if not watched:
            return
        # sparse: no per-container inspect, which would race with containers being removed
        containers = await self._call(self.client.containers.list, all=True, sparse=True,
                                      filters={"label": [LABEL_TASK_ID]})
        status = {c.id: c.status for c in containers}
        for container_id, task in watched.items():
            if task.task_id not in self.tasks or task.container_id != container_id:
                continue
            if container_id not in status:
                self._emit(task, *_gone(task, "its container was removed"))
            elif status[container_id] in ("exited", "dead"):
                await self._finish(task, container_id)

    def container_of(self, task_id: str) -> str | None:
        """The task's container while it runs here (where EXEC requests run), or None."""
        task = self.tasks.get(task_id)
        return task.container_id if task is not None and not task.state.terminal else None

    # -- logs --------------------------------------------------------------------------

    def logs(self, task_id: str, stream: str, tail: int | None,
             follow: bool) -> AsyncIterator[bytes]:
        """The task's container output (see ContainerLogs.read); exited ones until removed."""
        return self.container_logs.read(task_id, stream, tail, follow)


def _gone(task: TrackedTask, why: str) -> tuple[TaskState, str]:
    """How a task whose container vanished ends: LOST when preempted, FAILED with its
    checks' verdict when it was killed for failing them, KILLED when a kill was asked for,
    else FAILED."""
    if task.preempted:
        return TaskState.LOST, task.preempted
    if task.unhealthy:
        return TaskState.FAILED, task.unhealthy
    return (TaskState.KILLED if task.kill_requested else TaskState.FAILED), why


__all__ = ["DockerBackend", "container_name"]
