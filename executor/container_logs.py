"""Reads a task's container output (stdout or stderr) from Docker, as an async stream.

Each reader is one thread of its own, not one of the backend's pool: a `follow` can last
as long as the container does, and must not starve launches and kills of threads. The
thread appends to a buffer of bounded size and wakes the loop once per batch, not once per
frame (Docker sends one frame per line, and a wake-up per line costs more than the line);
a slow reader so slows the Docker stream down instead of piling the log up in memory.
Closing the stream ends it.

Docker's `tail` counts the lines of both streams together; berth's counts the lines of the
stream asked for, so the reader first widens Docker's window until it holds `tail` of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import docker
from docker.errors import DockerException

from offers.launch import LABEL_AGENT_ID, LABEL_TASK_ID

STREAMS = ("stdout", "stderr")
MAX_READERS = 64  # concurrent log readers per agent
CHUNK_BYTES = 64 * 1024  # what one yielded chunk holds at most (coalesced small writes)
BUFFER_BYTES = 1024 * 1024  # what a reader's thread may hold before it waits
MAX_WINDOW = 200_000  # most lines (both streams) searched back for a stream's tail


class LogsUnavailable(Exception):
    """The log cannot be read. `problem`: `not_found` (no container for the task here, or
    removed), `busy` (too many readers), `docker` (the engine failed)."""

    def __init__(self, problem: str, message: str):
        super().__init__(message)
        self.problem = problem


class ContainerLogs:
    """Log readers over one engine, limited to the containers of one agent."""

    def __init__(self, client: docker.DockerClient, agent_id: Callable[[], str],
                 max_readers: int = MAX_READERS):
        self.client = client
        self.agent_id = agent_id
        self.max_readers = max_readers
        self.readers = 0

    async def read(self, task_id: str, stream: str, tail: int | None,
                   follow: bool) -> AsyncIterator[bytes]:
        """Yield `b""` once the log is open, then its bytes; with `follow`, until the
        container stops. Raises LogsUnavailable before the first yield if it cannot be
        opened, after it if the engine fails mid-way."""
        if stream not in STREAMS:
            raise LogsUnavailable("bad_request", f"stream must be stdout or stderr, "
                                                 f"not {stream!r}")
        if self.readers >= self.max_readers:
            raise LogsUnavailable("busy", f"this agent already serves {self.readers} log "
                                          "readers; try again later")
        reader = _Reader(self.client, self.agent_id(), task_id, stream, tail, follow,
                         asyncio.get_running_loop())
        self.readers += 1
        thread = threading.Thread(target=reader.run, name=f"logs-{task_id}"[:60], daemon=True)
        thread.start()
        try:
            while True:
                opened, data, ending = await reader.take()
                if opened:
                    yield b""
                for start in range(0, len(data), CHUNK_BYTES):
                    yield data[start:start + CHUNK_BYTES]
                if isinstance(ending, LogsUnavailable):
                    raise ending
                if ending is not None:
                    return
        finally:
            self.readers -= 1
            reader.cancel()


class _Reader:
    """One log stream, read on its own thread."""

    def __init__(self, client: docker.DockerClient, agent_id: str, task_id: str, stream: str,
                 tail: int | None, follow: bool, loop: asyncio.AbstractEventLoop):
        self.client, self.agent_id, self.task_id = client, agent_id, task_id
        self.stream, self.tail, self.follow = stream, tail, follow
        self.loop = loop
        self.cancelled = threading.Event()
        self._docker_stream: Any = None
        # Shared with the loop, under `_lock`: what the thread has read and not yet taken.
        self._lock = threading.Condition()
        self._opened = False
        self._buffer = bytearray()
        self._ending: object = None  # "end" or a LogsUnavailable, after all the data
        self._wake_pending = False
        self._ready = asyncio.Event()  # set on the loop when there is something to take

    async def take(self) -> tuple[bool, bytes, object]:
        """Wait for news: (opened since last time, the data, "end"/LogsUnavailable/None)."""
        await self._ready.wait()
        self._ready.clear()
        with self._lock:
            self._wake_pending = False
            opened, self._opened = self._opened, False
            data, self._buffer = bytes(self._buffer), bytearray()
            ending = self._ending
            self._lock.notify_all()
        return opened, data, ending

    def _wake(self) -> None:
        """Under `_lock`: make sure the loop will look (one wake-up per batch)."""
        if not self._wake_pending:
            self._wake_pending = True
            self.loop.call_soon_threadsafe(self._ready.set)

    def cancel(self) -> None:
        self.cancelled.set()
        with self._lock:
            self._lock.notify_all()
        docker_stream = self._docker_stream
        if docker_stream is not None:
            with contextlib.suppress(Exception):
                docker_stream.close()

    def _put(self, kind: str, value: Any = None) -> bool:
        """Hand `open`, `data` (waiting while the buffer is full), `end` or `error` to the
        loop; False once cancelled (the consumer left) or the loop is gone."""
        with self._lock:
            while kind == "data" and len(self._buffer) >= BUFFER_BYTES:
                if self.cancelled.is_set():
                    return False
                self._lock.wait(0.5)
            if self.cancelled.is_set():
                return False
            if kind == "open":
                self._opened = True
            elif kind == "data":
                self._buffer += value
            else:
                self._ending = value if kind == "error" else "end"
            try:
                self._wake()
            except RuntimeError:  # the loop closed
                return False
        return True

    def run(self) -> None:
        try:
            container_id = self._container()
            if container_id is None:
                self._put("error", LogsUnavailable(
                    "not_found", f"task {self.task_id} has no container on this agent (not "
                                 "started yet, or removed after it ended)"))
                return
            window, skip = self._window(container_id)
            self._docker_stream = self.client.api.logs(
                container_id, stdout=self.stream == "stdout", stderr=self.stream == "stderr",
                stream=True, follow=self.follow, tail=window)
            if self.cancelled.is_set():
                self.cancel()
                return
            if not self._put("open"):
                return
            for chunk in self._docker_stream:
                chunk, skip = _skip_lines(bytes(chunk), skip)
                if chunk and not self._put("data", chunk):
                    return
            self._put("end")
        except DockerException as exc:
            self._put("error", _engine_error(exc))
        except Exception as exc:  # a stream closed under us, when cancelled, lands here too
            if not self.cancelled.is_set():
                self._put("error", LogsUnavailable("docker", f"reading the log failed: {exc}"))
        finally:
            self.cancel()

    def _window(self, container_id: str) -> tuple[int | str, int]:
        """Docker's tail that holds the last `tail` lines of our stream, and how many of
        our lines at its start to skip. Grows fourfold while the other stream's lines
        crowd ours out and the log goes further back."""
        if self.tail is None:
            return "all", 0
        window = max(self.tail, 1)
        while not self.cancelled.is_set():
            mine = self._count(container_id, self.stream, window)
            if mine >= self.tail:
                return window, mine - self.tail
            other = self._count(container_id, "stderr" if self.stream == "stdout"
                                else "stdout", window)
            if mine + other < window or window >= MAX_WINDOW:
                return window, 0  # the whole log (or as far back as we look)
            window *= 4
        return window, 0

    def _count(self, container_id: str, stream: str, window: int) -> int:
        data = self.client.api.logs(container_id, stdout=stream == "stdout",
                                    stderr=stream == "stderr", stream=False, tail=window)
        return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)

    def _container(self) -> str | None:
        """The newest container of the task on this agent, running or exited."""
        found = self.client.api.containers(all=True, filters={"label": [
            f"{LABEL_TASK_ID}={self.task_id}", f"{LABEL_AGENT_ID}={self.agent_id}"]})
        if not found:
            return None
        return max(found, key=lambda c: c.get("Created", 0))["Id"]


def _skip_lines(chunk: bytes, skip: int) -> tuple[bytes, int]:
    """Drop the first `skip` lines of what comes (a line may span chunks)."""
    while skip and chunk:
        end = chunk.find(b"\n")
        if end < 0:
            return b"", skip
        chunk, skip = chunk[end + 1:], skip - 1
    return chunk, skip


def _engine_error(exc: DockerException) -> LogsUnavailable:
    if getattr(exc, "status_code", None) == 404:
        return LogsUnavailable("not_found", "the task's container was removed")
    explanation = getattr(exc, "explanation", None) or exc
    text = explanation.decode() if isinstance(explanation, bytes) else str(explanation)
    return LogsUnavailable("docker", f"Docker could not read the log: {' '.join(text.split())}")
