"""berth's HTTP error format, for every surface: `{"code", "message", "errors": [...]}`.

The middleware turns aiohttp's own refusals (unknown route, wrong method, oversized body)
into that format, and anything unexpected into a logged 500 in it: never an HTML page.
"""

from __future__ import annotations

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


@web.middleware
async def json_errors(request: web.Request, handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        template = _MESSAGES.get(exc.status, "{reason}")
        message = template.format(method=request.method, path=request.path,
                                  limit=request.app._client_max_size, reason=exc.reason)
        field = "body" if exc.status == 413 else ""
        problems = [FieldProblem(field, message)] if exc.status == 413 else []
        response = error_response(exc.status, message, problems)
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except StoreUnavailable as exc:  # nothing was done; reads still work
        response = error_response(503, str(exc))
        response.headers["Retry-After"] = "5"
        return response
    except Exception:
        log.exception("unhandled_error", method=request.method, path=request.path)
        return error_response(500, "internal error; see the server log")
