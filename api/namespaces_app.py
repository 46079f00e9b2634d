"""`/v1/namespaces`: each namespace's use, quota, credit balance and burn rate; admins set
quotas and grant credits here as with `berth namespace set` and `berth credits grant`."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from access.names import namespace_problem
from access.policy import Scope
from access.store import AccessSnapshot, AccessStore
from api.http_errors import error_response
from api.json_body import BadBody, read_json
from api.namespaces import principal, sees
from framework.driver import FrameworkService
from offers.problems import FieldProblem
from offers.quota import Quota

QUOTA_FIELDS = ("cpus", "mem", "instances", "jobs")


class NamespaceHandlers:
    def __init__(self, service: FrameworkService, store: AccessStore,
                 on_change: list[Callable[[AccessSnapshot], None]]) -> None:
        """`on_change`: told the store's snapshot after each change made here."""
        self.service = service
        self.store = store
        self.on_change = on_change

    def _known(self) -> set[str]:
        scheduler = self.service.scheduler
        return ({j.namespace for j in scheduler.jobs()}
                | set(scheduler.namespace_limits()))

    async def list(self, request: web.Request) -> web.Response:
        status = self.service.scheduler.namespace_status
        names = sorted(ns for ns in self._known() if sees(request, ns))
        return web.json_response({"namespaces": [status(ns) for ns in names]})

    async def show(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if namespace_problem(name) or not sees(request, name):
            return error_response(404, f"no namespace {name!r}",
                                  [FieldProblem("name", "not a namespace of yours")])
        return web.json_response(self.service.scheduler.namespace_status(name))

    async def _admin_body(self, request: web.Request) -> tuple[str, Any] | web.Response:
        """The namespace named and the JSON body of an admin's change, or the refusal."""
        missing = principal(request).missing(Scope.ADMIN)
        if missing is not None:
            return error_response(403, f"forbidden: {missing}")
        try:
            return request.match_info["name"], read_json(await request.read())
        except BadBody as exc:
            return exc.response()

    async def set_quota(self, request: web.Request) -> web.Response:
        """`PUT /v1/namespaces/{name}` with `{"cpus": 8, "instances": 10}` (a field left
        out: no limit on it)."""
        asked = await self._admin_body(request)
        if isinstance(asked, web.Response):
            return asked
        name, body = asked
        quota, problems = _quota(name, body)
        if problems:
            return error_response(400, "invalid quota", problems)
        await asyncio.to_thread(self.store.set_namespace, name, quota, time.time())
        await self._told()
        return web.json_response(self.service.scheduler.namespace_status(name))

    async def grant(self, request: web.Request) -> web.Response:
        """`POST /v1/namespaces/{name}/credits` with `{"amount": 10}`."""
        asked = await self._admin_body(request)
        if isinstance(asked, web.Response):
            return asked
        name, body = asked
        amount = body.get("amount") if isinstance(body, dict) else None
        problems = [FieldProblem("name", p) for p in [namespace_problem(name)] if p]
        if isinstance(amount, bool) or not isinstance(amount, int | float) \
                or not math.isfinite(amount) or amount <= 0:
            problems.append(FieldProblem("amount", f"must be a number > 0, not {amount!r}"))
        if problems:
            return error_response(400, "invalid credit grant", problems)
        await asyncio.to_thread(self.store.grant_credits, name, float(amount), time.time())
        await self._told()
        return web.json_response(self.service.scheduler.namespace_status(name))

    async def _told(self) -> None:
        """The framework follows the store at once (not at the next poll)."""
        snapshot = await asyncio.to_thread(self.store.snapshot)
        for listener in self.on_change:
            listener(snapshot)


def _quota(name: str, body: Any) -> tuple[Quota, list[FieldProblem]]:
    problems = [FieldProblem("name", p) for p in [namespace_problem(name)] if p]
    if not isinstance(body, dict):
        return Quota(), [*problems, FieldProblem("", "must be a JSON object of limits")]
    problems += [FieldProblem(k, "unknown field") for k in sorted(set(body) - set(QUOTA_FIELDS))]
    values: dict[str, Any] = {}
    for field in QUOTA_FIELDS:
        value = body.get(field)
        if value is None:
            continue
        integral = field in ("instances", "jobs")
        if isinstance(value, bool) or not isinstance(value, int if integral else int | float):
            problems.append(FieldProblem(field, f"must be a {'whole ' if integral else ''}"
                                                f"number >= 0, not {value!r}"))
            continue
        values[field] = value
    quota = Quota(**values)
    problems += [FieldProblem(f, p) for f, p in quota.problems()]
    return quota, problems


def add_namespace_routes(app: web.Application, service: FrameworkService, store: AccessStore,
                         on_change: list[Callable[[AccessSnapshot], None]]) -> None:
    handlers = NamespaceHandlers(service, store, on_change)
    app.router.add_get("/v1/namespaces", handlers.list)
    app.router.add_get("/v1/namespaces/{name}", handlers.show)
    app.router.add_put("/v1/namespaces/{name}", handlers.set_quota)
    app.router.add_post("/v1/namespaces/{name}/credits", handlers.grant)
