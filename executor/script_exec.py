"""The agent's half of exec requests (docs/agent-protocol.md, "Exec").

The master sends `EXEC` (offers/script_exec.py): a tar to unpack into a task's container
(Docker's put_archive), then a command to run there (exec_create/exec_start). The agent
answers with one `EXEC_RESULT` when the command has ended: its exit code and the tails of
stdout and stderr. A command may run for hours (a Generic service's run.sh), so each one
blocks a daemon thread of its own, never the agent's loop nor the pool that launches and
watches containers, nor the agent's exit (the script goes on in its container). Results
wait in `outgoing` for the agent's send loop; a link that closes drops the ones not sent
(the master has failed those requests already).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import threading
from collections.abc import Callable
from typing import Any

import structlog
from docker.errors import APIError, DockerException, NotFound
from pydantic import ValidationError

from offers.script_exec import ExecRequest, ExecResult, tail

log = structlog.get_logger("executor.exec")

MAX_RUNNING = 64  # commands in flight at once on one agent


class ScriptExecutor:
    """Runs EXEC requests against one Docker engine.

    `container_of(task_id)`: the id of the task's running container on this agent, or
    None (the backend's view: a task of another agent is not found here)."""

    def __init__(self, client: Any, container_of: Callable[[str], str | None],
                 wake: Callable[[], None]):
        self.client = client
        self.container_of = container_of
        self.wake = wake
        self.outgoing: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._slots = asyncio.Semaphore(MAX_RUNNING)
        self._running: set[asyncio.Task] = set()

    @property
    def active(self) -> int:
        return len(self._running)

    def handle(self, data: dict[str, Any]) -> None:
        """An EXEC message from the master: answered later, on `outgoing`."""
        try:
            request = ExecRequest.model_validate(data)
        except ValidationError as exc:
            request_id = data.get("request_id")
            log.warning("bad_exec_request", error=str(exc))
            if isinstance(request_id, str) and request_id:
                self._answer(ExecResult(request_id=request_id, error=str(exc.errors()[0]
                                                                         ["msg"]),
                                        problem="bad_request"))
            return
        task = asyncio.create_task(self._run(request), name=f"exec-{request.request_id}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    def link_closed(self) -> None:
        """Results not yet sent are dropped: their requests ended with the link."""
        self.outgoing = asyncio.Queue()

    def close(self) -> None:
        for task in self._running:
            task.cancel()

    def _answer(self, result: ExecResult) -> None:
        self.outgoing.put_nowait(result.model_dump())
        self.wake()

    async def _run(self, request: ExecRequest) -> None:
        container_id = self.container_of(request.task_id)
        if container_id is None:
            self._answer(ExecResult(request_id=request.request_id, problem="not_found",
                                    error=f"no running container for task "
                                          f"{request.task_id} on this agent"))
            return
        try:
            async with self._slots:
                result = await _in_daemon_thread(
                    functools.partial(self._blocking, container_id, request))
        except (NotFound, APIError, DockerException) as exc:
            why = getattr(exc, "explanation", None) or str(exc)
            result = ExecResult(request_id=request.request_id, error=str(why)[:2000],
                                problem="not_found" if isinstance(exc, NotFound)
                                else "docker")
        except ValueError as exc:
            result = ExecResult(request_id=request.request_id, error=str(exc),
                                problem="bad_request")
        log.info("exec_done", task_id=request.task_id, request_id=request.request_id,
                 exit_code=result.exit_code, error=result.error)
        self._answer(result)

    def _blocking(self, container_id: str, request: ExecRequest) -> ExecResult:
        api = self.client.api
        if request.archive is not None:
            try:
                data = base64.b64decode(request.archive, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("archive is not base64") from None
            if not api.put_archive(container_id, request.archive_path, data):
                raise ValueError(f"the engine did not unpack the archive into "
                                 f"{request.archive_path}")
        if not request.argv:
            return ExecResult(request_id=request.request_id, exit_code=0)
        exec_id = api.exec_create(container_id, list(request.argv), stdout=True,
                                  stderr=True, workdir=request.workdir,
                                  environment=dict(request.env) or None)["Id"]
        out, err = api.exec_start(exec_id, demux=True)
        code = api.exec_inspect(exec_id).get("ExitCode")
        return ExecResult(request_id=request.request_id,
                          exit_code=-1 if code is None else int(code),
                          stdout=tail((out or b"").decode(errors="replace")),
                          stderr=tail((err or b"").decode(errors="replace")))


def _in_daemon_thread(fn: Callable[[], Any]) -> asyncio.Future:
    """`fn()` on a daemon thread of its own, as a future of the running loop."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def settle(outcome: Any, failed: bool) -> None:
        if not future.done():
            (future.set_exception if failed else future.set_result)(outcome)

    def run() -> None:
        try:
            outcome, failed = fn(), False
        except Exception as exc:  # handed to the awaiting task
            outcome, failed = exc, True
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(settle, outcome, failed)

    threading.Thread(target=run, name="exec", daemon=True).start()
    return future
