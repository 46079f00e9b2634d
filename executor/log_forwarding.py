"""The agent's half of log requests (docs/agent-protocol.md, "Logs").

The master sends `LOGS` (request id, task id, stream, tail, follow) and `LOGS_CANCEL`;
the agent answers each request with `LOGS_DATA` messages: one as soon as the log is open
(data may be empty), then the output, the last with `eof` (and an `error` when it could
not be read). Many requests run at once, each a task of its own; what they send waits in
one bounded queue the agent's send loop drains, so a fast log slows down rather than
filling memory. All requests die with the link: the master has given up on them then.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import structlog

from executor.container_logs import STREAMS, LogsUnavailable

log = structlog.get_logger("executor.logs")

OUTGOING_ITEMS = 64


class LogSource(Protocol):
    def logs(self, task_id: str, stream: str, tail: int | None,
             follow: bool) -> AsyncIterator[bytes]: ...


def parse_request(data: dict[str, Any]) -> tuple[str, str, str, int | None, bool]:
    """(request id, task id, stream, tail, follow) of a LOGS message; ValueError if bad."""
    request_id, task_id = data.get("request_id"), data.get("task_id")
    stream, tail, follow = data.get("stream", "stdout"), data.get("tail"), data.get("follow")
    if not isinstance(request_id, str) or not request_id:
        raise ValueError("request_id is required")
    if not isinstance(task_id, str) or not task_id:
        raise ValueError("task_id is required")
    if stream not in STREAMS:
        raise ValueError("stream must be stdout or stderr")
    if tail is not None and (isinstance(tail, bool) or not isinstance(tail, int) or tail < 0):
        raise ValueError("tail must be a whole number >= 0 or null")
    return request_id, task_id, stream, tail, bool(follow)


class LogForwarder:
    """Serves log requests from one source; `outgoing` holds the messages to send."""

    def __init__(self, source: LogSource, wake: Callable[[], None]):
        self.source = source
        self.wake = wake
        self.outgoing: asyncio.Queue[dict[str, Any]] = asyncio.Queue(OUTGOING_ITEMS)
        self._requests: dict[str, asyncio.Task] = {}

    def handle(self, data: dict[str, Any]) -> None:
        """A LOGS or LOGS_CANCEL message from the master."""
        if data.get("type") == "LOGS_CANCEL":
            task = self._requests.pop(str(data.get("request_id")), None)
            if task is not None:
                task.cancel()
            return
        try:
            request_id, task_id, stream, tail, follow = parse_request(data)
        except ValueError as exc:
            log.warning("bad_logs_request", error=str(exc))
            if isinstance(data.get("request_id"), str):
                self._spawn(data["request_id"], self._refuse(data["request_id"], str(exc)))
            return
        if request_id in self._requests:
            return  # a repeated request: the first one answers it
        self._spawn(request_id, self._forward(request_id, task_id, stream, tail, follow))

    def cancel_all(self) -> None:
        """The link is gone: stop every request, drop what was not sent."""
        for task in self._requests.values():
            task.cancel()
        self._requests.clear()
        self.outgoing = asyncio.Queue(OUTGOING_ITEMS)

    @property
    def active(self) -> int:
        return len(self._requests)

    def _spawn(self, request_id: str, coro) -> None:
        task = asyncio.create_task(coro, name=f"logs-{request_id}")
        self._requests[request_id] = task
        task.add_done_callback(lambda t: self._done(request_id, t))

    def _done(self, request_id: str, task: asyncio.Task) -> None:
        if self._requests.get(request_id) is task:
            del self._requests[request_id]
        if not task.cancelled() and task.exception() is not None:
            log.error("logs_request_failed", request_id=request_id, error=str(task.exception()))

    async def _send(self, message: dict[str, Any]) -> None:
        queue = self.outgoing  # the link's queue; a new link has a new one
        await queue.put(message)
        self.wake()

    async def _refuse(self, request_id: str, why: str) -> None:
        await self._send({"type": "LOGS_DATA", "request_id": request_id, "data": "",
                          "eof": True, "error": why, "problem": "bad_request"})

    async def _forward(self, request_id: str, task_id: str, stream: str, tail: int | None,
                       follow: bool) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        message: dict[str, Any] = {"type": "LOGS_DATA", "request_id": request_id}
        try:
            async with contextlib.aclosing(
                    self.source.logs(task_id, stream, tail, follow)) as chunks:
                async for chunk in chunks:
                    await self._send({**message, "data": decoder.decode(chunk), "eof": False})
        except LogsUnavailable as exc:
            await self._send({**message, "data": decoder.decode(b"", final=True),
                              "eof": True, "error": str(exc), "problem": exc.problem})
            return
        except Exception as exc:  # a bug or an odd engine: the reader still gets an end
            log.exception("logs_read_failed", task_id=task_id)
            await self._send({**message, "data": "", "eof": True,
                              "error": f"reading the log failed: {exc}", "problem": "docker"})
            return
        await self._send({**message, "data": decoder.decode(b"", final=True), "eof": True})
