"""Reads a task's container output (stdout or stderr) from Docker, as an async stream.

Each reader is one thread of its own, not one of the backend's pool: a `follow` can last
as long as the container does, and must not starve launches and kills of threads. The
thread hands chunks to the loop through a small bounded queue, so a slow reader slows the
Docker stream down instead of piling the log up in memory; closing the stream ends it.

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
QUEUE_ITEMS = 16
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
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(QUEUE_ITEMS)
        reader = _Reader(self.client, self.agent_id(), task_id, stream, tail, follow,
                         loop, queue)
        self.readers += 1
        thread = threading.Thread(target=reader.run, name=f"logs-{task_id}"[:60], daemon=True)
        thread.start()
        try:
            while True:
                kind, value = await queue.get()
                if kind == "data":
                    parts, size = [value], len(value)
                    while size < CHUNK_BYTES and not queue.empty():
                        kind, value = queue.get_nowait()
                        if kind != "data":
                            break
                        parts.append(value)
                        size += len(value)
                    yield b"".join(parts)
                    if kind == "data":
                        continue
                if kind == "open":
                    yield b""
                elif kind == "end":
                    return
                elif kind == "error":
                    raise value
        finally:
            self.readers -= 1
            reader.cancel()


class _Reader:
    """One log stream, read on its own thread."""

    def __init__(self, client: docker.DockerClient, agent_id: str, task_id: str, stream: str,
                 tail: int | None, follow: bool, loop: asyncio.AbstractEventLoop,
                 queue: asyncio.Queue):
        self.client, self.agent_id, self.task_id = client, agent_id, task_id
        self.stream, self.tail, self.follow = stream, tail, follow
        self.loop, self.queue = loop, queue
        self.cancelled = threading.Event()
        self._docker_stream: Any = None

    def cancel(self) -> None:
        self.cancelled.set()
        docker_stream = self._docker_stream
        if docker_stream is not None:
            with contextlib.suppress(Exception):
                docker_stream.close()

    def _put(self, kind: str, value: Any = None) -> bool:
        """Hand one item to the loop, waiting while the queue is full; False once
        cancelled (the consumer left) or the loop is gone."""
        try:
            future = asyncio.run_coroutine_threadsafe(self.queue.put((kind, value)), self.loop)
        except RuntimeError:  # the loop closed
            return False
        while not self.cancelled.is_set():
            try:
                future.result(timeout=0.5)
                return True
            except TimeoutError:
                continue
            except Exception:
                return False
        future.cancel()
        return False

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
