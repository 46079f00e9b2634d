"""JSON request bodies, for every berth surface: who may send them and how they are read.

`same_origin_json` is the gate (run by the error middleware, `http_errors.json_errors_with`)
that keeps web pages out. A browser lets any
page send a "simple" cross-site request without asking the server first: a form post
(`text/plain`, `application/x-www-form-urlencoded`, `multipart/form-data`) or a GET such
as `<img src=".../client/task/reshuffle">`. So:

- a request with a body (POST, PUT, PATCH) must say `Content-Type: application/json`,
  or say nothing (what `curl -T file` sends; a browser that sends a body without a type
  also sends `Origin`, refused below); otherwise `415`, naming the header. Upload routes
  (`uploads`: Jisto's `/v1/jobsource`, which its clients send as `curl -F` does) take
  `multipart/form-data` too: a form another site's page posts there still carries the
  browser's `Origin` and `Sec-Fetch-Site`, refused below like any other;
- any request a browser marks as coming from another site is refused with `403`: an
  `Origin` header that is not the server's own (browsers send it on every cross-origin
  POST, PUT and DELETE), or `Sec-Fetch-Site: cross-site`/`same-site` (sent on every
  request, GETs and `<img>` loads included, by current browsers). Reads are refused too:
  a cross-site page could not read the answer anyway, and a GET can change state
  (`/client/task/reshuffle`). curl, the CLI and other programs send neither header.

No CORS headers are ever added, so no other origin is granted anything; `trusted_origins`
lets an operator name origins (e.g. a dashboard) whose requests pass the Origin check.

`read_json` parses a body with limits: nesting deeper than `MAX_DEPTH` or numbers longer
than `MAX_NUMBER_CHARS` would otherwise crash the parser (RecursionError, Python's
4,300-digit int limit) into a 500; here they are a `BadBody` naming the problem.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from api.http_errors import error_response
from offers.problems import FieldProblem

MAX_DEPTH = 64  # a task JSON nests three levels; Python's parser recurses once per level
MAX_NUMBER_CHARS = 64  # "-1.7976931348623157e+308" is 24; no field needs more digits
JSON_TYPE = "application/json"
FORM_TYPE = "multipart/form-data"
# What an upload route (`uploads` below) also takes besides a form: the archive as the body.
ARCHIVE_TYPES = frozenset({FORM_TYPE, "application/octet-stream", "application/gzip",
                           "application/x-gzip", "application/x-tar", "application/zip",
                           "application/x-bzip2"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_FOREIGN_FETCH_SITES = frozenset({"cross-site", "same-site"})


class BadBody(ValueError):
    """A request body that is not acceptable JSON; `problem` says why, for field "body"."""

    def __init__(self, message: str, problem: str | None = None) -> None:
        super().__init__(message)
        self.problem = problem or message

    def response(self) -> web.Response:
        return error_response(400, str(self), [FieldProblem("body", self.problem)])


# -- who may write ----------------------------------------------------------------------------


def same_origin_json(trusted_origins: Iterable[str] = (), uploads: Iterable[str] = ()
                     ) -> Callable[[web.Request], web.Response | None]:
    """The gate described above, for `http_errors.json_errors_with`: a refusal, or None
    to let the request through. `trusted_origins` like `https://dash.example:8443`;
    `uploads`: the paths whose bodies may be `multipart/form-data`; one holding `{...}`
    is a route pattern (`/v1/jobs/{name}/code`) whose bodies may also be an archive."""
    trusted = frozenset(o.rstrip("/").lower() for o in trusted_origins)
    upload_paths = frozenset(p for p in uploads if "{" not in p)
    upload_patterns = [re.compile(re.sub(r"\\{[^/]*\\}", "[^/]+", re.escape(p)))
                       for p in uploads if "{" in p]

    def gate(request: web.Request) -> web.Response | None:
        headers = request.headers  # on every request: two lookups when nothing is wrong
        if "Origin" in headers or "Sec-Fetch-Site" in headers:
            refusal = foreign_request(request, trusted)
            if refusal is not None:
                return refusal
        if request.method in _BODY_METHODS and headers.get("Content-Type", JSON_TYPE) \
                != JSON_TYPE:
            if request.path in upload_paths and request.content_type == FORM_TYPE:
                return None
            if request.content_type in ARCHIVE_TYPES and any(
                    p.fullmatch(request.path) for p in upload_patterns):
                return None
            return not_json(request)
        return None

    return gate


def foreign_request(request: web.Request, trusted: frozenset[str] = frozenset()
                    ) -> web.Response | None:
    """A 403 when a browser says the request comes from another site; else None."""
    origin = request.headers.get("Origin")
    if origin is not None:
        origin = origin.rstrip("/").lower()
        own = f"{request.scheme}://{request.host}".lower()
        if origin == own or origin in trusted:
            return None
        return error_response(403, "cross-site requests are refused", [FieldProblem(
            "Origin", f"{origin!r} is not this server's origin ({own!r})")])
    site = request.headers.get("Sec-Fetch-Site", "").lower()
    if site in _FOREIGN_FETCH_SITES:
        return error_response(403, "cross-site requests are refused", [FieldProblem(
            "Sec-Fetch-Site", f"is {site!r}: the request comes from another site's page")])
    return None


def not_json(request: web.Request) -> web.Response | None:
    """A 415 unless the body is declared JSON (or not declared at all, as curl -T does)."""
    declared = request.headers.get("Content-Type")
    if declared is None or declared == JSON_TYPE or request.content_type == JSON_TYPE:
        return None
    return error_response(415, f"the body must be sent as Content-Type: {JSON_TYPE}",
                          [FieldProblem("Content-Type", f"is {declared!r}; send {JSON_TYPE}")])


# -- how bodies are read ----------------------------------------------------------------------

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _too_deep(body: bytes, limit: int) -> bool:
    """Whether arrays and objects nest deeper than `limit`, brackets in strings aside."""
    if body.count(b"[") + body.count(b"{") <= limit:  # the common case: no scan at all
        return False
    depth = 0
    for char in _STRING.sub(b'""', body):
        if char in b"[{":
            depth += 1
            if depth > limit:
                return True
        elif char in b"]}":
            depth -= 1
    return False


def _number(text: str, kind: type) -> float | int:
    if len(text) > MAX_NUMBER_CHARS:
        raise BadBody(f"a number in the body has {len(text)} digits; at most {MAX_NUMBER_CHARS}",
                      f"has a number of {len(text)} digits; at most {MAX_NUMBER_CHARS}")
    value = kind(text)
    if kind is float and not math.isfinite(value):
        raise BadBody("a number in the body is out of range",
                      f"has the number {text}, out of range for a float")
    return value


def _constant(name: str) -> float:
    raise BadBody(f"{name} is not a JSON number", f"has {name}, which JSON does not allow")


def _int(text: str) -> int:
    return _number(text, int)


def _float(text: str) -> float:
    return _number(text, float)


def _any_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        return _number(text, float)  # refused for its length
    return float(text)


_DECODER = json.JSONDecoder(parse_int=_int, parse_float=_float, parse_constant=_constant)
# NaN, Infinity and out-of-range numbers read as floats, for callers that name the field
# that holds one (a metric's value) rather than refuse the body as a whole.
_NON_FINITE_DECODER = json.JSONDecoder(parse_int=_int, parse_float=_any_float,
                                       parse_constant=float)


def read_json(body: bytes, *, max_depth: int = MAX_DEPTH, non_finite: bool = False) -> Any:
    """The JSON value of `body`, or BadBody naming what is wrong with it; `non_finite`:
    NaN, Infinity and overflowing numbers are read as such, for the caller to name."""
    if not body.strip():
        raise BadBody("a JSON object is required in the body", "is empty")
    if _too_deep(body, max_depth):
        raise BadBody(f"the body is nested more than {max_depth} levels deep",
                      f"is nested more than {max_depth} levels deep")
    try:
        decoder = _NON_FINITE_DECODER if non_finite else _DECODER
        return decoder.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except UnicodeDecodeError:
        raise BadBody("the body is not UTF-8 text", "is not UTF-8") from None
    except json.JSONDecodeError as exc:
        problem = f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        raise BadBody(problem) from None
    except RecursionError:  # a lower recursion limit than MAX_DEPTH needs
        raise BadBody("the body is nested too deeply", "is nested too deeply") from None


async def request_json(request: web.Request, *, max_depth: int = MAX_DEPTH) -> Any:
    """`read_json` of a request's body."""
    return read_json(await request.read(), max_depth=max_depth)
