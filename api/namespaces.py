"""Namespaces at the HTTP door: which namespace a new task or job goes to, and what of the
existing ones a caller may see or touch (what it may not see does not exist for it: 404).

A new task or job goes to the namespace its JSON names; else the request's `namespace`
(or JuliaRun's `jrunns`) parameter; else the caller's only namespace when it has exactly
one; else `default`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TypeVar

from aiohttp import web

from access.names import DEFAULT_NAMESPACE
from access.policy import LOCAL, Principal, Scope
from api.auth import PRINCIPAL
from api.http_errors import error_response
from offers.problems import FieldProblem
from offers.task import NAMESPACE_PATTERN

T = TypeVar("T")


def principal(request: web.Request) -> Principal:
    return request.get(PRINCIPAL, LOCAL)


def target_namespace(request: web.Request, given: str | None) -> str:
    """Where a new task or job goes (`given`: what its JSON named, if anything)."""
    if given is not None:
        return given
    asked = request.query.get("namespace") or request.query.get("jrunns")
    if asked:
        return asked
    spaces = principal(request).namespaces
    if spaces is not None and len(spaces) == 1:
        return next(iter(spaces))
    return DEFAULT_NAMESPACE


def namespace_problem(namespace: str) -> FieldProblem | None:
    """What is wrong with a namespace a request names (a DNS label), or None."""
    if re.match(NAMESPACE_PATTERN, namespace):
        return None
    return FieldProblem("namespace", f"{namespace[:80]!r} is not a namespace (a DNS label: "
                                     "lower-case letters, digits and '-', at most 63)")


def refused_in(request: web.Request, namespace: str, scope: Scope = Scope.WRITE
               ) -> web.Response | None:
    """A 400 if `namespace` cannot be one, a 403 naming what the caller lacks to act in
    it, or None."""
    problem = namespace_problem(namespace)
    if problem is not None:
        return error_response(400, f"invalid namespace: {problem.problem}", [problem])
    missing = principal(request).missing(scope, namespace)
    if missing is None:
        return None
    return error_response(403, f"forbidden: {missing}",
                          [FieldProblem("namespace", f"{namespace}: not one of yours")])


def limited_to(request: web.Request) -> frozenset[str] | None:
    """The namespaces the caller is limited to; None when it sees them all."""
    return principal(request).namespaces


def visible(request: web.Request, items: Iterable[T], namespace_of) -> list[T]:
    """The items in namespaces the caller sees (all of them for admins), further narrowed
    to the request's `namespace` parameter when it gives one."""
    spaces = limited_to(request)
    asked = request.query.get("namespace") or request.query.get("jrunns")
    if spaces is None and not asked:
        return list(items)
    return [item for item in items
            if (spaces is None or namespace_of(item) in spaces)
            and (not asked or namespace_of(item) == asked)]


def sees(request: web.Request, namespace: str) -> bool:
    return principal(request).sees(namespace)
