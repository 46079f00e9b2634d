"""The agent daemon: one per node, between the master and the container backend.

It registers with the master (docs/agent-protocol.md), keeps one websocket open for
heartbeats, capacity, statuses, metering and logs going up and LAUNCH/KILL/LOGS coming down, and
when the master goes away it keeps its containers running, retries with backoff and
registers again with what it runs, so the master can say what to keep and what to kill.
Statuses are kept until the master has them: a reconnect loses none. A task's end is kept
longer still, until a registration has carried it (`ended`): a STATUS sent down a link is
not known to be stored (the master's disk may be full, the link may drop right after), and
a master that never heard of the end would take the missing container for LOST.
The node's capacity and elasticity's period are in executor/node_capacity.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import ssl
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import structlog
from pydantic import ValidationError

from executor.backoff import Backoff
from executor.capacity import (
    ZERO,
    Amounts,
    Capacity,
    ChangeThreshold,
    NodeSample,
    ResourceLimits,
    Smoother,
)
from executor.log_forwarding import LogForwarder
from executor.node_capacity import NodeCapacity
from executor.node_metrics import node_fields
from executor.script_exec import ScriptExecutor
from executor.tasks import StatusUpdate, UsageSample
from offers.elasticity import (
    ChangeStep,
    Decision,
    ElasticPolicy,
    IncumbentTracker,
    Tenant,
)
from offers.launch import LaunchSpec
from offers.states import TaskState

log = structlog.get_logger("executor.agent")

MAX_METERING_BACKLOG = 5000  # samples kept while the master is away (oldest dropped)
MAX_ENDED = 1000  # task ends re-reported at the next registration (oldest dropped)


class Backend(Protocol):
    """What the agent needs of a container backend (executor/docker_backend.py)."""

    agent_id: str
    on_status: Callable[[StatusUpdate], None]
    registry: str | None  # berth's registry (`host:port`) to pull missing images from

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def adopt(self) -> list[dict[str, Any]]: ...
    async def launch(self, spec: LaunchSpec) -> None: ...
    async def kill(self, task_id: str, grace_seconds: float = 10.0) -> None: ...
    async def meter(self) -> list[UsageSample]: ...
    async def reconcile(self) -> None: ...
    def logs(self, task_id: str, stream: str, tail: int | None,
             follow: bool) -> AsyncIterator[bytes]: ...
    def allocated(self) -> Amounts: ...
    def used_ports(self) -> frozenset[int]: ...
    def running(self) -> list[dict[str, Any]]: ...
    def views(self) -> list[dict[str, Any]]: ...
    def tenants(self, usage: dict[str, UsageSample]) -> list[Tenant]: ...
    async def resize(self, task_id: str, limits: Amounts) -> bool: ...
    async def preempt(self, task_id: str, reason: str) -> None: ...


class Sampler(Protocol):
    def sample(self) -> NodeSample: ...


class Rejected(Exception):
    """The master will not talk to this agent until it registers again."""


@dataclass(frozen=True)
class AgentConfig:
    master: str  # "host:port" or a URL
    hostname: str
    endpoint: str = ""  # where the agent's own HTTP server answers
    attributes: dict[str, str] = field(default_factory=dict)
    limits: ResourceLimits = field(default_factory=ResourceLimits)
    headroom: Amounts = ZERO
    data_dir: Path = Path("berth-agent")
    measure_incumbent: bool = True  # False: no incumbent, and so no elasticity either
    sample_seconds: float = 1.0  # how often the node is measured (and limits decided)
    elasticity: ElasticPolicy = field(default_factory=ElasticPolicy)
    resize_step: ChangeStep = field(default_factory=ChangeStep)
    incumbent_fall: float = 0.6  # share of a drop in the incumbent believed per period
    meter_seconds: float = 5.0  # how often containers are metered
    capacity_every_heartbeats: int = 5  # CAPACITY at least this often, changed or not
    backoff_seconds: tuple[float, float] = (0.5, 30.0)  # first and longest retry wait
    smoothing: float = 0.3
    ping_seconds: float = 10.0  # websocket ping period on the link to the master
    orphan_grace_seconds: float = 5.0  # for tasks the master says to kill at registration
    container_gc_seconds: float = 3600.0  # ended containers kept this long for their logs
    threshold: ChangeThreshold = field(default_factory=ChangeThreshold)
    # The master's `Authorization` value (an admin-scope token as `Bearer ...`), if it
    # asks for one; never shown.
    master_credential: str | None = field(default=None, repr=False)
    master_ssl: ssl.SSLContext | None = field(default=None, repr=False)  # None: system CAs
    # berth's registry as this node's engine reaches it (`host:port`); None: the one the
    # master names at registration.
    registry: str | None = None

    @property
    def master_url(self) -> str:
        url = self.master if "://" in self.master else f"http://{self.master}"
        return url.rstrip("/")


class Agent(NodeCapacity):
    """One node's agent. `run()` until `stop()`; `state()` for the agent's HTTP server."""

    def __init__(self, config: AgentConfig, backend: Backend, sampler: Sampler,
                 clock: Callable[[], float] = time.time,
                 wait: Callable[[float], Awaitable[None]] | None = None,
                 rng: random.Random | None = None):
        """`clock`, `wait` (between tries: returns early on stop) and `rng` (the jitter)
        are injected so a test can run the retry schedule in virtual time."""
        self.config = config
        self.backend = backend
        self.sampler = sampler
        self.clock = clock
        self._retry_wait = wait or (lambda seconds: _wait(self._stopping, seconds))
        self._rng = rng or random.Random()
        backend.on_status = self._on_status
        self.agent_id: str | None = self._load_agent_id()
        if self.agent_id:
            backend.agent_id = self.agent_id
        self.connected = asyncio.Event()
        self.heartbeat_seconds = 2.0
        self.registrations = 0
        self._outbox: deque[dict[str, Any]] = deque()  # statuses, kept across reconnects
        self._ended: OrderedDict[str, dict[str, Any]] = OrderedDict()  # task id -> its end
        self._metering: deque[dict[str, Any]] = deque(maxlen=MAX_METERING_BACKLOG)
        self._node_metering: deque[dict[str, Any]] = deque(maxlen=MAX_METERING_BACKLOG // 10)
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._usage: dict[str, UsageSample] = {}
        self._smoother = Smoother(config.smoothing)
        self._tracker = IncumbentTracker(config.incumbent_fall)
        self._incumbent = ZERO
        self._fast_incumbent = ZERO  # what elasticity acts on: rises at once
        self._fresh: dict[str, UsageSample] = {}  # measured, not yet shipped (elastic mode)
        self._ship_now = False
        self.decision: Decision | None = None  # the last period's elasticity decision
        self._tenants: list[Tenant] = []
        self._sample: NodeSample | None = None
        self.capacity: Capacity | None = None
        self._sent_capacity: Capacity | None = None
        self._capacity_dirty = True
        self._background: set[asyncio.Task] = set()
        self.logs = LogForwarder(backend, self._wake.set)
        # EXEC requests (executor/script_exec.py): the backend's engine and containers.
        self.scripts = ScriptExecutor(getattr(backend, "client", None),
                                      getattr(backend, "container_of", lambda _task: None),
                                      self._wake.set)
        self._adopted = False

    # -- identity ----------------------------------------------------------------------

    @property
    def _id_file(self) -> Path:
        return self.config.data_dir / "agent_id"

    def _load_agent_id(self) -> str | None:
        try:
            text = self._id_file.read_text().strip()
        except OSError:
            return None
        return text or None

    def _save_agent_id(self, agent_id: str) -> None:
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._id_file.with_suffix(".tmp")
        tmp.write_text(agent_id + "\n")
        tmp.replace(self._id_file)

    # -- backend callbacks -------------------------------------------------------------

    def _on_status(self, update: StatusUpdate) -> None:
        self._report(update)
        if update.state.terminal:
            self._usage.pop(update.task_id, None)
        self._recompute()  # allocation changed: spare moves at once, not at the next sample
        self._wake.set()

    def _report(self, update: StatusUpdate) -> None:
        message = update.as_message()
        self._outbox.append(message)
        if update.state.terminal:
            self._ended[update.task_id] = message
            self._ended.move_to_end(update.task_id)
            while len(self._ended) > MAX_ENDED:
                self._ended.popitem(last=False)

    # -- main loop ---------------------------------------------------------------------

    async def run(self) -> None:
        """Run until stop(): keep a session with the master, reconnecting with backoff.

        Every failed try (unreachable, an error answer, a dropped stream) is logged once
        with its reason and waits longer than the one before (executor/backoff.py); only a
        session that held for `longest` seconds starts the schedule over.
        """
        await self.backend.start()
        self._measure()
        self._spawn(self._measure_loop(), "measure")
        self._spawn(self._meter_loop(), "meter")
        first, longest = self.config.backoff_seconds
        backoff = Backoff(first, longest)
        try:
            while not self._stopping.is_set():
                started, before = self.clock(), self.registrations
                reason = ""
                try:
                    await self._session()
                except (aiohttp.ClientError, OSError, TimeoutError, Rejected, KeyError,
                        ValueError) as exc:
                    reason = str(exc) or type(exc).__name__
                finally:
                    held = self.connected.is_set() and self.clock() - started >= longest
                    self.connected.clear()
                if self._stopping.is_set():
                    break
                if held:
                    backoff.reset()  # it had been up for a while: start over quickly
                delay = backoff.next(self._rng.random())
                log.warning("master_registration_failed" if self.registrations == before
                            else "master_link_lost", master=self.config.master_url,
                            attempt=backoff.failures, reason=reason or "the link ended",
                            retry_in=round(delay, 2))
                await self._retry_wait(delay)
        finally:
            for task in list(self._background):
                task.cancel()
            await asyncio.gather(*self._background, return_exceptions=True)
            await self.backend.close()

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self.scripts.close()  # their commands go on in the containers

    def _spawn(self, coro, name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _measure_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.sample_seconds)
            try:
                if self.elastic:
                    await self._meter_now()
                self._measure()
                if self.elastic:
                    await self._rebalance()
                    if self._ship_now:
                        self._ship(list(self._fresh.values()))
            except Exception:
                log.exception("measure_failed")

    async def _meter_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.meter_seconds)
            try:
                await self.backend.reconcile()
                # Elastic: the containers are measured every period already.
                samples = list(self._fresh.values()) if self.elastic \
                    else await self.backend.meter()
            except Exception:
                log.exception("meter_failed")
                continue
            if not self.elastic:
                for sample in samples:
                    self._usage[sample.task_id] = sample  # berth's use, for the incumbent
            self._meter_node()
            self._ship(samples)

    def _ship(self, samples: list[UsageSample]) -> None:
        """Queue samples for the master (METERING), leaving out notmetered tasks."""
        self._fresh.clear()
        self._ship_now = False
        notmetered = {t["task_id"] for t in self.backend.views() if t.get("notmetered")}
        for sample in samples:
            if sample.task_id not in notmetered:
                self._metering.append(sample.as_dict())
        if self._metering or self._node_metering:
            self._wake.set()

    def _meter_node(self) -> None:
        """The node's own measurements for the metrics store (Jisto's live graph)."""
        if self._sample is None:
            return
        io = getattr(self.sampler, "io", None)
        try:
            rates = io.rates() if io is not None else {}
        except Exception:
            log.exception("io_rates_failed")
            rates = {}
        self._node_metering.append({"t": round(self.clock(), 3),
                                    **node_fields(self._sample, self._incumbent, rates)})

    async def _session(self) -> None:
        timeout = aiohttp.ClientTimeout(total=None, connect=5, sock_connect=5)
        headers = {"Authorization": self.config.master_credential} \
            if self.config.master_credential else None
        connector = aiohttp.TCPConnector(
            ssl=self.config.master_ssl if self.config.master_ssl is not None else True)
        async with aiohttp.ClientSession(timeout=timeout, headers=headers,
                                         connector=connector) as session:
            await self._register(session)
            url = f"{self.config.master_url}/agent/v1/stream?agent_id={self.agent_id}"
            # Websocket pings notice a master that vanished without closing the
            # connection (power loss, a dropped route): no pong, the link is closed.
            async with session.ws_connect(url, heartbeat=self.config.ping_seconds,
                                          autoping=True, max_msg_size=16 * 1024 * 1024
                                          ) as ws:
                self.connected.set()
                log.info("agent_connected", agent_id=self.agent_id,
                         master=self.config.master_url)
                sender = asyncio.create_task(self._send_loop(ws), name="agent-send")
                receiver = asyncio.create_task(self._receive_loop(ws), name="agent-receive")
                stopper = asyncio.create_task(self._stopping.wait(), name="agent-stop")
                done, pending = await asyncio.wait({sender, receiver, stopper},
                                                   return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    task.cancel()
                self.logs.cancel_all()  # the master gave up on them with the link
                self.scripts.link_closed()
                await asyncio.gather(*pending, return_exceptions=True)
                for task in done:
                    if task is not stopper and task.exception() is not None:
                        raise task.exception()
                if not self._stopping.is_set():
                    raise aiohttp.ClientConnectionError("the master closed the agent stream")

    async def _register(self, session: aiohttp.ClientSession) -> None:
        if not self._adopted:
            running = await self.backend.adopt()
            self._adopted = True
        else:
            running = self.backend.running()
        ended = dict(self._ended)
        body = {"agent_id": self.agent_id, "hostname": self.config.hostname,
                "endpoint": self.config.endpoint, "attributes": dict(self.config.attributes),
                **self._capacity_fields(), "running": running,
                "ended": [{k: v for k, v in m.items() if k != "type"} for m in ended.values()]}
        async with session.post(f"{self.config.master_url}/agent/v1/register",
                                json=body) as resp:
            text = await resp.text()
            if resp.status != 200:
                raise Rejected(f"registration answered {resp.status}: {text[:300]}")
            answer = json.loads(text)
        agent_id = str(answer["agent_id"])
        # The master has these ends now (a 200 means stored): neither kept nor sent again.
        for task_id, message in ended.items():
            if self._ended.get(task_id) is message:
                del self._ended[task_id]
        self._outbox = deque(m for m in self._outbox if m.get("task_id") not in ended)
        if agent_id != self.agent_id:
            self._save_agent_id(agent_id)
        self.agent_id = agent_id
        self.backend.agent_id = agent_id
        self.heartbeat_seconds = float(answer.get("heartbeat_seconds") or 2.0)
        self.backend.registry = self.config.registry or answer.get("registry") or None
        self.registrations += 1
        self._sent_capacity = self.capacity
        self._capacity_dirty = False
        structlog.contextvars.bind_contextvars(agent_id=agent_id)
        log.info("agent_registered", keep=len(answer.get("keep") or ()),
                 kill=len(answer.get("kill") or ()), registry=self.backend.registry)
        for task_id in answer.get("kill") or ():
            self._spawn(self.backend.kill(task_id, self.config.orphan_grace_seconds),
                        f"kill-{task_id}")

    async def _send_loop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        beats = 0
        next_beat = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            while self._outbox:
                await ws.send_json(self._outbox[0])
                self._outbox.popleft()
            for _ in range(32):  # log data, a bounded share per round
                if self.logs.outgoing.empty():
                    break
                await ws.send_json(self.logs.outgoing.get_nowait())
            while not self.scripts.outgoing.empty():  # exec results: one per command
                await ws.send_json(self.scripts.outgoing.get_nowait())
            if self._metering or self._node_metering:
                samples, node = list(self._metering), list(self._node_metering)
                await ws.send_json({"type": "METERING", "samples": samples, "node": node})
                for _ in samples:
                    self._metering.popleft()
                for _ in node:
                    self._node_metering.popleft()
            now = loop.time()
            if now >= next_beat:
                await ws.send_json({"type": "HEARTBEAT"})
                beats += 1
                next_beat = now + self.heartbeat_seconds
                if beats % max(self.config.capacity_every_heartbeats, 1) == 0:
                    self._capacity_dirty = True
            if self._capacity_dirty:
                self._capacity_dirty = False
                capacity = self.capacity
                await ws.send_json({"type": "CAPACITY", **self._capacity_fields()})
                self._sent_capacity = capacity
            self._wake.clear()
            if self._outbox or self._metering or self._node_metering or self._capacity_dirty \
                    or not self.logs.outgoing.empty() or not self.scripts.outgoing.empty():
                continue
            await _wait(self._wake, max(next_beat - loop.time(), 0))

    async def _receive_loop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    log.warning("bad_master_message", data=msg.data[:200])
                    continue
                self._handle(data)
            elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE,
                              aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                break

    def _handle(self, data: dict[str, Any]) -> None:
        kind = data.get("type")
        if kind == "LAUNCH":
            raw = data.get("task") or {}
            try:
                spec = LaunchSpec.model_validate(raw)
            except ValidationError as exc:
                task_id = raw.get("task_id") if isinstance(raw, dict) else None
                log.warning("bad_launch", task_id=task_id, error=str(exc))
                if task_id:
                    self._report(StatusUpdate(
                        str(task_id), TaskState.ERROR,
                        f"the agent could not read the launch: {exc.errors()[0]['msg']}",
                        framework_id=str(raw.get("framework_id") or "")))
                    self._wake.set()
                return
            self._spawn(self.backend.launch(spec), f"launch-{spec.task_id}")
        elif kind == "KILL":
            task_id = str(data.get("task_id") or "")
            grace = data.get("grace_seconds")
            grace = 10.0 if grace is None else max(float(grace), 0.0)
            if task_id:
                self._spawn(self.backend.kill(task_id, grace), f"kill-{task_id}")
        elif kind in ("LOGS", "LOGS_CANCEL"):
            self.logs.handle(data)
        elif kind == "EXEC":
            self.scripts.handle(data)
        elif kind in ("REJECTED", "REREGISTER"):
            raise Rejected(str(data.get("reason") or data.get("message") or kind))
        elif kind == "ERROR":  # the master could not read something we sent
            log.warning("master_error", message=data.get("message"))
        else:
            log.warning("unknown_master_message", type=kind)

    # -- views -------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        capacity = self.capacity
        return {
            "agent_id": self.agent_id,
            "hostname": self.config.hostname,
            "master": self.config.master_url,
            "connected": self.connected.is_set(),
            "registrations": self.registrations,
            "attributes": dict(self.config.attributes),
            "total": capacity.total_json() if capacity else None,
            "spare": capacity.spare_json() if capacity else None,
            "incumbent": capacity.incumbent.as_dict() if capacity else None,
            "revocable": capacity.revocable.as_dict() if capacity else None,
            "elasticity": {**self.elastic_view(), "enabled": self.elastic},
            "allocated": self.backend.allocated().as_dict(),
            "headroom": self.config.headroom.as_dict(),
            "tasks": self.backend.views(),
            "pending_statuses": len(self._outbox),
            "ended_unconfirmed": len(self._ended),
            "log_readers": self.logs.active,
        }

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "agent_id": self.agent_id,
                "connected": self.connected.is_set()}


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Wait for `event` at most `seconds`. (Not asyncio.wait_for: on Python 3.11 it can
    swallow a cancellation that arrives as the event fires, and the task never ends.)"""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
