"""`POST /v1/tasks/{task_id}/exec` on the master: run a command inside a task's container,
carried down the agent's websocket as `EXEC` and answered by its `EXEC_RESULT`
(docs/agent-protocol.md, "Exec"). Mesos has no call for this; the framework's Generic
service (framework/process/generic_runner.py) is its user.

Process code shaped like api/master_logs.py: a request is a message down the link and one
answer back, matched by request id; the HTTP answer waits for it (a script may run a long
time: no deadline unless the body gives `timeout`). A link that closes fails its requests
with 502.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web
from pydantic import ValidationError

from api.http_errors import error_response
from api.json_body import BadBody, read_json
from api.master_logs import AgentLink
from offers.problems import FieldProblem
from offers.script_exec import ExecCall, ExecRequest, ExecResult

log = structlog.get_logger("berth.master.exec")

STATUS_OF_PROBLEM = {"not_found": 404, "bad_request": 400}


@dataclass
class _Pending:
    agent_id: str
    link: AgentLink
    answer: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop()
                                   .create_future())


class ExecRelay:
    """Exec requests in flight, and the route that makes them (as LogRelay's)."""

    def __init__(self, link_of: Callable[[str], AgentLink | None],
                 agent_of: Callable[[str], str | None]):
        self.link_of = link_of
        self.agent_of = agent_of
        self._pending: dict[str, _Pending] = {}

    @property
    def active(self) -> int:
        return len(self._pending)

    def receive(self, link: AgentLink, data: Any) -> bool:
        """Take an EXEC_RESULT that came up `link`; False for any other message."""
        if not isinstance(data, dict) or data.get("type") != "EXEC_RESULT":
            return False
        try:
            result = ExecResult.model_validate(data)
        except ValidationError as exc:
            raise ValueError(f"EXEC_RESULT: {exc.errors()[0]['loc']}: "
                             f"{exc.errors()[0]['msg']}") from None
        pending = self._pending.get(result.request_id)
        if pending is not None and pending.link is link and not pending.answer.done():
            pending.answer.set_result(result)
        return True

    def link_closed(self, link: AgentLink) -> None:
        for request_id, pending in list(self._pending.items()):
            if pending.link is link and not pending.answer.done():
                pending.answer.set_result(ExecResult(
                    request_id=request_id, problem="link_closed",
                    error=f"the link to agent {pending.agent_id} closed"))

    async def handle(self, request: web.Request) -> web.Response:
        task_id = request.match_info["task_id"]
        try:
            body = read_json(await request.read())
            timeout = body.pop("timeout", None) if isinstance(body, dict) else None
            call = ExecCall.model_validate(body)
        except BadBody as exc:
            return exc.response()
        except ValidationError as exc:
            problems = [FieldProblem(".".join(str(p) for p in e["loc"]), e["msg"])
                        for e in exc.errors()]
            return error_response(400, "invalid exec request", problems)
        if timeout is not None and (isinstance(timeout, bool)
                                    or not isinstance(timeout, int | float) or timeout <= 0):
            return error_response(400, "invalid exec request",
                                  [FieldProblem("timeout", "must be seconds > 0 or null")])
        agent_id = self.agent_of(task_id)
        if agent_id is None:
            return error_response(404, f"no task {task_id!r}",
                                  [FieldProblem("task_id", "is not a task this master knows")])
        link = self.link_of(agent_id)
        if link is None:
            return error_response(503, f"agent {agent_id}, where task {task_id} runs, is "
                                       "not connected to the master")
        message = ExecRequest(request_id=uuid.uuid4().hex, task_id=task_id,
                              **call.model_dump())
        pending = _Pending(agent_id, link)
        self._pending[message.request_id] = pending
        link.queue.put_nowait(message.model_dump())
        log.info("exec_requested", task_id=task_id, agent_id=agent_id,
                 request_id=message.request_id, argv=list(call.argv)[:3])
        try:
            async with asyncio.timeout(timeout):
                result: ExecResult = await pending.answer
        except TimeoutError:
            return error_response(504, f"agent {agent_id} did not answer the exec request "
                                       f"within {timeout:g} s")
        finally:
            self._pending.pop(message.request_id, None)
        if result.exit_code is None:
            status = STATUS_OF_PROBLEM.get(result.problem or "", 502)
            return error_response(status, f"exec in task {task_id}: {result.error}")
        return web.json_response(result.model_dump(exclude={"type"}))
