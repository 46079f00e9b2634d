"""`GET /v1/tasks/{task_id}/logs` on the master: a task's container output, read by its
agent from Docker and carried up the agent's websocket (docs/agent-protocol.md, "Logs").

Process code, not the core's: a request is a LOGS message down the agent's link and the
LOGS_DATA answers coming back, matched by request id. The first answer decides the
status code (the log is open, or why not); the rest is streamed as text/plain chunks. A
reader that goes away cancels its request at the agent (LOGS_CANCEL); a link that closes
ends its requests. The agent link cannot wait for a slow reader (statuses share it), so
a reader that falls `MAX_BUFFERED` chunks behind is cut off.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from aiohttp import web

from api.agent_messages import LogsData, logs_data
from api.http_errors import error_response
from api.log_params import LogParams, log_params
from offers.problems import FieldProblem, SpecError

log = structlog.get_logger("berth.master.logs")

FIRST_ANSWER_SECONDS = 30.0
MAX_BUFFERED = 256  # chunks (each at most 64 KiB) held for one slow reader
STATUS_OF_PROBLEM = {"not_found": 404, "busy": 503, "bad_request": 400}


class AgentLink(Protocol):
    """An agent's open websocket, as the master's service keeps it."""

    queue: asyncio.Queue


@dataclass
class _Request:
    request_id: str
    task_id: str
    agent_id: str
    link: AgentLink
    chunks: asyncio.Queue = field(default_factory=asyncio.Queue)
    ended: bool = False


class LogRelay:
    """Log requests in flight, and the route that makes them.

    `link_of(agent_id)`: the agent's open link or None; `agent_of(task_id)`: the agent the
    master placed the task on, or None for a task it does not know.
    """

    def __init__(self, link_of: Callable[[str], AgentLink | None],
                 agent_of: Callable[[str], str | None],
                 first_answer_seconds: float = FIRST_ANSWER_SECONDS):
        self.link_of = link_of
        self.agent_of = agent_of
        self.first_answer_seconds = first_answer_seconds
        self._requests: dict[str, _Request] = {}

    @property
    def active(self) -> int:
        return len(self._requests)

    # -- from the agent link ------------------------------------------------------------

    def receive(self, link: AgentLink, data: Any) -> bool:
        """Take a LOGS_DATA message that came up `link`; False for any other message."""
        if not isinstance(data, dict) or data.get("type") != "LOGS_DATA":
            return False
        chunk = logs_data(data)  # a SpecError is answered like any bad message
        request = self._requests.get(chunk.request_id)
        if request is None or request.link is not link or request.ended:
            return True  # cancelled meanwhile, or not this agent's to answer
        if request.chunks.qsize() >= MAX_BUFFERED:
            self._end(request, LogsData(request.request_id, "", True,
                                        "the reader fell too far behind", "slow_reader"))
            self._cancel(request)
            return True
        if chunk.eof:
            request.ended = True
        request.chunks.put_nowait(chunk)
        return True

    def link_closed(self, link: AgentLink) -> None:
        """The agent's link closed: its requests end with that reason."""
        for request in list(self._requests.values()):
            if request.link is link:
                self._end(request, LogsData(request.request_id, "", True, "the link to agent "
                                            f"{request.agent_id} closed", "link_closed"))

    def _end(self, request: _Request, chunk: LogsData) -> None:
        if not request.ended:
            request.ended = True
            request.chunks.put_nowait(chunk)

    def _cancel(self, request: _Request) -> None:
        if self.link_of(request.agent_id) is request.link:
            request.link.queue.put_nowait({"type": "LOGS_CANCEL",
                                           "request_id": request.request_id})

    # -- the route ----------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        task_id = request.match_info["task_id"]
        try:
            params = log_params(request.query)
        except SpecError as exc:
            return error_response(400, f"invalid log request: {exc}", exc.problems)
        agent_id = self.agent_of(task_id)
        if agent_id is None:
            return error_response(404, f"no task {task_id!r}",
                                  [FieldProblem("task_id", "is not a task this master knows")])
        link = self.link_of(agent_id)
        if link is None:
            return error_response(503, f"agent {agent_id}, where task {task_id} runs, is "
                                       "not connected to the master; its logs cannot be "
                                       "read now")
        pending = self._open(task_id, agent_id, link, params)
        try:
            first = await self._next(pending, request, self.first_answer_seconds)
            if first is None:
                return web.Response(status=499)  # the reader left; nobody sees this
            if first is TimeoutError:
                return error_response(504, f"agent {agent_id} did not answer the log request "
                                           f"within {self.first_answer_seconds:g} s")
            if first.error is not None:
                status = STATUS_OF_PROBLEM.get(first.problem or "", 502)
                return error_response(status, f"logs of task {task_id}: {first.error}")
            return await self._stream(request, pending, first)
        finally:
            self._requests.pop(pending.request_id, None)
            if not pending.ended:
                pending.ended = True
                self._cancel(pending)

    def _open(self, task_id: str, agent_id: str, link: AgentLink,
              params: LogParams) -> _Request:
        pending = _Request(uuid.uuid4().hex, task_id, agent_id, link)
        self._requests[pending.request_id] = pending
        link.queue.put_nowait({"type": "LOGS", "request_id": pending.request_id,
                               "task_id": task_id, "stream": params.stream,
                               "tail": params.tail, "follow": params.follow})
        log.info("logs_requested", task_id=task_id, agent_id=agent_id,
                 request_id=pending.request_id, stream=params.stream, follow=params.follow)
        return pending

    async def _next(self, pending: _Request, request: web.Request,
                    timeout: float | None = None) -> LogsData | type[TimeoutError] | None:
        """The next answer; None once the reader has gone, TimeoutError after `timeout`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
            if wait <= 0:
                return TimeoutError
            try:
                async with asyncio.timeout(wait):
                    return await pending.chunks.get()
            except TimeoutError:
                if request.transport is None or request.transport.is_closing():
                    return None

    async def _stream(self, request: web.Request, pending: _Request,
                      first: LogsData) -> web.StreamResponse:
        response = web.StreamResponse(headers={
            "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk: LogsData | None = first
        try:
            while chunk is not None:
                if chunk.data:
                    await response.write(chunk.data.encode())
                if chunk.error is not None:
                    # Broken off: end the connection without the last chunk, so the reader
                    # sees an incomplete answer, not a log that merely ended.
                    log.warning("logs_broken_off", task_id=pending.task_id,
                                error=chunk.error)
                    if request.transport is not None:
                        request.transport.close()
                    return response
                if chunk.eof:
                    break
                answer = await self._next(pending, request)
                chunk = answer if isinstance(answer, LogsData) else None
        except (ConnectionError, RuntimeError):  # the reader went away while we wrote
            return response
        with contextlib.suppress(ConnectionError, RuntimeError):
            await response.write_eof()
        return response
