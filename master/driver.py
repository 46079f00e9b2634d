"""The master process (its driver): `master.core.Master` wired to its store, its clock and
every live link. api/master_app.py turns requests and agent messages into events and hands
them here; the commands that come back are persisted (on one worker thread, in order) and
then sent to the frameworks' event streams and the agents' links.

Persist before act: events are handled one at a time, and an event whose commands could
not be written is rolled back in the core and raised as StoreUnwritable; nothing of it is
sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, KeysView
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from sqlalchemy.exc import OperationalError

from master import commands as C
from master import events as E
from master.core import Master
from master.store import MasterStore
from offers.protocol import mesos as mj

log = structlog.get_logger("berth.master")


class StoreUnwritable(Exception):
    """The state store refused a write: the event that needed it was taken back."""

    def __init__(self, error: BaseException):
        self.error = error
        cause = getattr(error, "orig", None) or error  # SQLAlchemy wraps the driver's error
        super().__init__(f"the master's state store cannot be written: {cause}")


class Link(Protocol):
    """An agent's open link (the HTTP layer's websocket), as far as the driver closes it."""

    def close(self, *, code: int, message: bytes) -> Awaitable[Any]: ...


@dataclass
class FrameworkStream:
    """One SUBSCRIBE's event stream: the HTTP layer writes out what the queue holds."""

    stream_id: str
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    framework_id: str | None = None


@dataclass
class AgentConn:
    """One agent's link: the HTTP layer sends what the queue holds."""

    ws: Link
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)


CLOSE = object()  # put on a stream's queue: end the stream


class MasterService:
    """Owns the core, the store and every live connection; carries out commands."""

    def __init__(self, core: Master, store: MasterStore | None, *, tick_seconds: float = 0.25,
                 allocation_delay: float = 0.002):
        self.core = core
        self.store = store
        self.tick_seconds = tick_seconds
        self.allocation_delay = allocation_delay
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="berth-master-db")
        # One event at a time, persisted before the next is handled: the core never runs
        # ahead of the store, so a failed write can be taken back exactly.
        self._one_at_a_time = asyncio.Lock()
        self.store_error: str | None = None  # why the store cannot be written, if it cannot
        self._closed_streams: list[E.StreamClosed] = []  # to record once the store can
        self._stopping = False
        self._streams: dict[str, FrameworkStream] = {}  # stream id -> stream
        self._framework_stream: dict[str, FrameworkStream] = {}  # framework id -> stream
        self._agents: dict[str, AgentConn] = {}
        self._outbox: dict[str, list[dict[str, Any]]] = {}  # for agents not connected yet
        self._allocation: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task] = set()
        self._ticker: asyncio.Task | None = None
        self.started_at = time.time()
        self.master_info: dict[str, Any] = {}
        # (event, commands) of each event handled, e.g. the HTTP layer's metrics counters
        self.observers: list[Callable[[object, list[object]], None]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._ticker = asyncio.create_task(self._tick_forever())

    async def stop(self) -> None:
        # Streams end because the master stops, not because their frameworks left: no
        # StreamClosed (a framework without failover must survive a master restart).
        self._stopping = True
        if self._ticker:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._allocation:
            self._allocation.cancel()
        for stream in list(self._streams.values()):
            stream.queue.put_nowait(CLOSE)
        await asyncio.gather(*(conn.ws.close(code=1001, message=b"master stopping")
                               for conn in list(self._agents.values())),
                             return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        self._db.shutdown(wait=True)
        if self.store:
            self.store.close()

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            try:
                while self._closed_streams:  # disconnects the store could not take then
                    try:
                        await self.submit(self._closed_streams[0])
                    except StoreUnwritable:
                        raise
                    except Exception:
                        log.exception("stream_close_failed")
                    self._closed_streams.pop(0)
                await self.submit(E.Tick())
            except StoreUnwritable:
                pass  # logged once when the store failed; the next tick tries again
            except Exception:  # a failed tick must not stop the clock
                log.exception("tick_failed")

    # -- events in, commands out ------------------------------------------------------------

    async def submit(self, event: object) -> list[object]:
        """Hand an event to the core; persist what it decided, then send, in event order.

        Raises StoreUnwritable when the decision could not be written; the core has then
        been rolled back and nothing was sent, so the event never happened.
        """
        async with self._one_at_a_time:
            self.core.begin()
            try:
                cmds = self.core.handle(event)
                if self.store is not None and any(isinstance(c, C.Persist) for c in cmds):
                    try:
                        await asyncio.get_running_loop().run_in_executor(
                            self._db, self.store.apply, cmds)
                    except (OperationalError, OSError) as exc:  # disk full, I/O, link down
                        raise self._store_failed(exc) from exc
                    self._store_ok()
            except BaseException:
                self.core.rollback()
                raise
            self.core.commit()
            for observe in self.observers:
                observe(event, cmds)
            self._dispatch(cmds)
        self._schedule_allocation()
        return cmds

    def _store_failed(self, exc: Exception) -> StoreUnwritable:
        failure = StoreUnwritable(exc)
        if self.store_error is None and not self._stopping:  # once per outage, traceback
            log.exception("store_unwritable", error=str(failure))
        self.store_error = str(failure)
        return failure

    def _store_ok(self) -> None:
        if self.store_error is not None:
            log.info("store_writable_again", was=self.store_error)
            self.store_error = None

    def _schedule_allocation(self) -> None:
        if self._allocation is None and self.core.wants_allocation:
            loop = asyncio.get_running_loop()
            self._allocation = loop.call_later(self.allocation_delay, self._allocate_soon)

    def _allocate_soon(self) -> None:
        self._allocation = None
        self._spawn(self.submit(E.Allocate()))

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _dispatch(self, cmds: list[object]) -> None:
        for cmd in cmds:
            if isinstance(cmd, C.ToFramework):
                self._to_framework(cmd)
            elif isinstance(cmd, C.LaunchOnAgent):
                self._to_agent(cmd.agent_id, {"type": "LAUNCH",
                                              "task": cmd.spec.model_dump(mode="json")})
                log.info("launch", task_id=cmd.spec.task_id, agent_id=cmd.agent_id)
            elif isinstance(cmd, C.KillOnAgent):
                self._to_agent(cmd.agent_id, {"type": "KILL", "task_id": cmd.task_id,
                                              "grace_seconds": cmd.grace_seconds})
                log.info("kill", task_id=cmd.task_id, agent_id=cmd.agent_id)
            elif isinstance(cmd, C.AgentRejected):
                conn = self._agents.pop(cmd.agent_id, None)
                if conn is not None:
                    self._spawn(conn.ws.close(code=4000, message=cmd.reason.encode()[:120]))

    def _to_framework(self, cmd: C.ToFramework) -> None:
        if isinstance(cmd, C.SendSubscribed):
            stream = self._streams.get(cmd.stream_id)
            if stream is None:
                return
            stream.framework_id = cmd.framework_id
            self._framework_stream[cmd.framework_id] = stream
            stream.queue.put_nowait(mj.subscribed_event(
                cmd.framework_id, cmd.heartbeat_interval_seconds, self.master_info))
            return
        if isinstance(cmd, C.CloseStream):
            stream = self._streams.get(cmd.stream_id)
            if stream is not None:
                stream.queue.put_nowait(mj.error_event(cmd.message))
                stream.queue.put_nowait(CLOSE)
                if self._framework_stream.get(cmd.framework_id) is stream:
                    del self._framework_stream[cmd.framework_id]
            return
        stream = self._framework_stream.get(cmd.framework_id)
        if stream is None:
            return
        if isinstance(cmd, C.SendOffers):
            event = mj.offers_event(cmd.offers)
        elif isinstance(cmd, C.SendRescind):
            event = mj.rescind_event(cmd.offer_id)
        elif isinstance(cmd, C.SendUpdate):
            event = mj.update_event(cmd.status)
        elif isinstance(cmd, C.SendFailure):
            event = mj.failure_event(cmd.agent_id)
        elif isinstance(cmd, C.SendError):
            event = mj.error_event(cmd.message)
        else:
            return
        stream.queue.put_nowait(event)

    def _to_agent(self, agent_id: str, message: dict[str, Any]) -> None:
        conn = self._agents.get(agent_id)
        if conn is None:
            self._outbox.setdefault(agent_id, []).append(message)
        else:
            conn.queue.put_nowait(message)

    # -- what the HTTP layer calls: framework streams -----------------------------------------

    def open_stream(self) -> FrameworkStream:
        """A new event stream, before its SUBSCRIBE is submitted (SendSubscribed finds it)."""
        stream = FrameworkStream(stream_id=str(uuid.uuid4()))
        self._streams[stream.stream_id] = stream
        return stream

    def drop_stream(self, stream: FrameworkStream) -> None:
        """Forget a stream whose subscription was refused."""
        self._streams.pop(stream.stream_id, None)

    async def stream_ended(self, stream: FrameworkStream) -> None:
        """The framework's connection is gone: the core hears of it (StreamClosed), now or,
        while the store cannot be written, from the ticker once it can."""
        self._streams.pop(stream.stream_id, None)
        if stream.framework_id and not self._stopping:
            if self._framework_stream.get(stream.framework_id) is stream:
                del self._framework_stream[stream.framework_id]
            closed = E.StreamClosed(stream.framework_id, stream.stream_id)
            try:
                await self.submit(closed)
            except StoreUnwritable:  # it must still happen: the ticker retries it
                self._closed_streams.append(closed)
            except Exception:
                log.exception("stream_close_failed", framework_id=stream.framework_id)
            log.info("framework_disconnected", framework_id=stream.framework_id)

    # -- what the HTTP layer calls: agent links ------------------------------------------------

    def agent_registered(self, agent_id: str) -> None:
        """A new registration replaces the old link; what waited for the old one is moot."""
        old = self._agents.pop(agent_id, None)
        if old is not None:
            self._spawn(old.ws.close(code=4001, message=b"agent registered again"))
        self._outbox.pop(agent_id, None)

    def agent_connected(self, agent_id: str, ws: Link) -> AgentConn:
        """The agent's link is open: it replaces an older one and gets what waited."""
        old = self._agents.get(agent_id)
        if old is not None:
            self._spawn(old.ws.close(code=4001, message=b"replaced by a newer link"))
        conn = AgentConn(ws)
        for message in self._outbox.pop(agent_id, []):
            conn.queue.put_nowait(message)
        self._agents[agent_id] = conn
        return conn

    def agent_link(self, agent_id: str) -> AgentConn | None:
        """The agent's open link, if it has one (the log relay sends on it)."""
        return self._agents.get(agent_id)

    def agent_disconnected(self, agent_id: str, conn: AgentConn) -> None:
        if self._agents.get(agent_id) is conn:
            del self._agents[agent_id]

    def connected_agents(self) -> KeysView[str]:
        """The ids of agents whose link is open now."""
        return self._agents.keys()

    async def metering_since(self, since: float, limit: int, after: int | None = None
                             ) -> dict[str, Any]:
        """Metered usage samples and node measurements newer than `since` (or stored after
        row `after`), oldest first (none without a store)."""
        if self.store is None:
            return {"samples": [], "node": [], "last": after or 0}
        return await asyncio.get_running_loop().run_in_executor(
            self._db, self.store.metering_since, since, limit, after)
