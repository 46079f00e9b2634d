"""The Elastic Job Master's surfaces on the framework's port, beside `/v1/jobs`:
`POST /v1/jobs/{name}/launch` (a run of a scheduled job now) and
`PUT`/`GET /v1/clients/{client}/parameters` (a client's global parameters).

Thin: parse, call the driver (`schedule_runner`, `job_operations`), answer. Clients are
per namespace, as jobs are: the request's `namespace` parameter (else the caller's only
namespace, else `default`) says whose `acme` is meant, and a caller sees and sets only
the clients of namespaces it may act in.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from api.http_errors import error_response
from api.json_body import BadBody, read_json
from api.namespaces import refused_in, sees, target_namespace
from framework.client_parameters import ClientParameters, parameter_problems
from framework.driver import FrameworkService
from framework.job_status import job_document
from framework.process.job_operations import JobNotFound
from offers.job import CLIENT_PATTERN
from offers.problems import FieldProblem
from offers.task import NAMESPACE_PATTERN

_CLIENT = re.compile(CLIENT_PATTERN)
_NAMESPACE = re.compile(NAMESPACE_PATTERN)


class ScheduleHandlers:
    def __init__(self, service: FrameworkService) -> None:
        self.service = service

    async def launch(self, request: web.Request) -> web.Response:
        """A run of the scheduled job now; 201 with the run's status once it is on disk."""
        name = request.match_info["name"]
        state = self.service.schedules.get(name)
        if state is None or not sees(request, state.spec.namespace):
            if self.service.scheduler.job(name) is not None:
                return error_response(409, f"{name!r} has no schedule: only a scheduled "
                                           "job is launched; submit the job again to run "
                                           "it again")
            raise JobNotFound(f"no job named {name!r}")
        refusal = refused_in(request, state.spec.namespace)
        if refusal is not None:
            return refusal
        job = await self.service.schedules.launch(name)
        return web.json_response(job_document(job, self.service.scheduler.job_instances(job)),
                                 status=201, headers={"Location": f"/v1/jobs/{job.id}"})

    def _client(self, request: web.Request) -> tuple[str, str] | web.Response:
        client = request.match_info["client"]
        namespace = target_namespace(request, None)
        problems = []
        if not _CLIENT.match(client) or len(client) > 128:
            problems.append(FieldProblem("client", f"{client!r} is not a client name "
                                                   "(letters, digits, '_', '.', '-')"))
        if not _NAMESPACE.match(namespace):
            problems.append(FieldProblem("namespace", f"{namespace!r} is not a namespace"))
        if problems:
            return error_response(400, "invalid client", problems)
        return namespace, client

    async def set_parameters(self, request: web.Request) -> web.Response:
        """Replace the client's parameters (all of them); 200 once they are on disk."""
        where = self._client(request)
        if isinstance(where, web.Response):
            return where
        namespace, client = where
        try:
            body = read_json(await request.read())
        except BadBody as exc:
            return exc.response()
        problems = parameter_problems(body)
        if problems:
            return error_response(400, "invalid client parameters", problems)
        refusal = refused_in(request, namespace)
        if refusal is not None:
            return refusal
        params = ClientParameters(namespace, client, dict(body), self.service.clock())
        await self.service.jobs.set_client_parameters(params)
        return web.json_response(_document(params))

    async def get_parameters(self, request: web.Request) -> web.Response:
        where = self._client(request)
        if isinstance(where, web.Response):
            return where
        namespace, client = where
        values = self.service.scheduler.client_parameters(namespace, client)
        if values is None or not sees(request, namespace):
            return error_response(404, f"client {client!r} has no parameters in namespace "
                                       f"{namespace!r}",
                                  [FieldProblem("client", "no parameters set")])
        return web.json_response(_document(ClientParameters(namespace, client, values)))


def _document(params: ClientParameters) -> dict[str, Any]:
    return {"client": params.client, "namespace": params.namespace,
            "parameters": dict(params.values)}


ROUTES: list[tuple[str, str, str]] = [
    ("POST", "/v1/jobs/{name}/launch", "launch"),
    ("PUT", "/v1/clients/{client}/parameters", "set_parameters"),
    ("GET", "/v1/clients/{client}/parameters", "get_parameters"),
]


def add_schedule_routes(app: web.Application, service: FrameworkService) -> None:
    handlers = ScheduleHandlers(service)
    for method, path, name in ROUTES:
        app.router.add_route(method, path, getattr(handlers, name))
