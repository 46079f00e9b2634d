"""berth's HTTP error format, for every surface: `{"code", "message", "errors": [...]}`.

The middleware turns aiohttp's own refusals (unknown route, wrong method, oversized body)
into that format, and anything unexpected into a logged 500 in it: never an HTML page.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from aiohttp import web

from framework.store import StoreUnavailable
from offers.problems import FieldProblem, SpecError

log = structlog.get_logger("berth.http")


def error_response(status: int, message: str,
                   problems: list[FieldProblem] | None = None) -> web.Response:
    body = {"code": status, "message": message,
            "errors": [p.as_dict() for p in problems or []]}
    return web.json_response(body, status=status)


def spec_error_response(exc: SpecError, what: str = "task") -> web.Response:
    return error_response(400, f"invalid {what}: {exc}", exc.problems)


_MESSAGES = {
    404: "no such route: {method} {path}",
    405: "method {method} is not allowed on {path}",
    413: "request body too large: at most {limit} bytes",
}


def json_errors_with(gate: Callable[[web.Request], web.StreamResponse | None] | None = None):
    """The middleware every berth app runs: errors in berth's format and, first, `gate`
    (e.g. `json_body.same_origin_json()`), whose refusal is the answer. One middleware,
    not two: each adds a coroutine frame to every request."""

    @web.middleware
    async def json_errors(request: web.Request, handler) -> web.StreamResponse:
        if gate is not None:
            refusal = gate(request)
            if refusal is not None:
                return refusal
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400 or exc.content_type == "application/json":
                raise
            return _http_error(request, exc)
        except StoreUnavailable as exc:  # nothing was done; reads still work
            response = error_response(503, str(exc))
            response.headers["Retry-After"] = "5"
            return response
        except Exception:
            log.exception("unhandled_error", method=request.method, path=request.path)
            return error_response(500, "internal error; see the server log")

    return json_errors


def _http_error(request: web.Request, exc: web.HTTPException) -> web.Response:
    """aiohttp's own refusal (unknown route, wrong method, body too large) in our format."""
    template = _MESSAGES.get(exc.status, "{reason}")
    message = template.format(method=request.method, path=request.path,
                              limit=request.app._client_max_size, reason=exc.reason)
    problems = [FieldProblem("body", message)] if exc.status == 413 else []
    response = error_response(exc.status, message, problems)
    if exc.status == 405 and "Allow" in exc.headers:
        response.headers["Allow"] = exc.headers["Allow"]
    return response
