"""`GET /v1/tasks/{task_id}/logs?stream=stdout|stderr&tail=N&follow=true` on the framework:
a task instance's container output, passed on from the master as it comes
(framework/process/master_logs.py), so `curl` at the framework is enough to read it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from api.http_errors import error_response
from api.log_params import LogParams, log_params
from api.namespaces import sees
from framework.driver import FrameworkService
from framework.process.master_logs import MasterLogsError, task_logs
from offers.problems import FieldProblem, SpecError


def add_task_logs_route(app: web.Application, service: FrameworkService) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        task_id = request.match_info["task_id"]
        params = checked_params(request)
        if isinstance(params, web.Response):
            return params
        record = service.scheduler.task(task_id)
        if record is None or not sees(request, record.spec.namespace):
            return error_response(404, f"no task {task_id!r}",
                                  [FieldProblem("task_id", "is not a known task instance")])
        return await stream_task_logs(request, service, task_id, params)

    app.router.add_get("/v1/tasks/{task_id}/logs", handle)


def checked_params(request: web.Request) -> LogParams | web.Response:
    """The query's log parameters, or the 400 naming each bad one."""
    try:
        return log_params(request.query)
    except SpecError as exc:
        return error_response(400, f"invalid log request: {exc}", exc.problems)


async def stream_task_logs(request: web.Request, service: FrameworkService, task_id: str,
                           params: LogParams) -> web.StreamResponse:
    """Answer with a known instance's output, as `params` ask."""
    if not service.master_url:
        return error_response(503, "this framework runs without a master; no logs")
    chunks = task_logs(service.master_url, task_id, params.stream, params.tail,
                       params.follow, headers=service.master_headers,
                       ssl_option=service.ssl_option)
    response: web.StreamResponse | None = None
    try:
        async for chunk in _while_connected(request, chunks):
            if response is None:
                response = web.StreamResponse(headers={
                    "Content-Type": "text/plain; charset=utf-8",
                    "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})
                response.enable_chunked_encoding()
                await response.prepare(request)
            if chunk:
                await response.write(chunk)
    except MasterLogsError as exc:
        if response is None:
            problems = [FieldProblem(str(e.get("field")), str(e.get("problem")))
                        for e in exc.errors if isinstance(e, dict)]
            return error_response(exc.status, exc.message, problems)
        if request.transport is not None:  # broken off: no clean end for the reader
            request.transport.close()
        return response
    except (ConnectionError, RuntimeError):  # the reader went away
        return response or web.Response(status=499)
    finally:
        await chunks.aclose()
    if response is None:  # an empty log
        return web.Response(text="", content_type="text/plain", charset="utf-8")
    with contextlib.suppress(ConnectionError, RuntimeError):
        await response.write_eof()
    return response


async def _while_connected(request: web.Request,
                           chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The chunks, until the reader hangs up (noticed within a second even while a
    followed log is quiet, so the master's request is cancelled, not left open)."""
    while True:
        following = asyncio.ensure_future(anext(chunks))
        while not following.done():
            await asyncio.wait({following}, timeout=1.0)
            if not following.done() and (request.transport is None
                                         or request.transport.is_closing()):
                following.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await following
                return
        try:
            yield following.result()
        except StopAsyncIteration:
            return


async def read_task_log(service: FrameworkService, task_id: str, stream: str,
                        tail: int | None) -> bytes:
    """An instance's output as a whole (no follow), for answers that carry it in a JSON
    body (JuliaRun's `tailJob`); MasterLogsError when the master will not give it."""
    if not service.master_url:
        raise MasterLogsError(503, "this framework runs without a master; no logs")
    chunks = task_logs(service.master_url, task_id, stream, tail, False,
                       headers=service.master_headers, ssl_option=service.ssl_option)
    try:
        return b"".join([chunk async for chunk in chunks])
    finally:
        await chunks.aclose()
