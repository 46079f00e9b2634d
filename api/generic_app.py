"""ConPaaS's Generic service on a service job (docs/generic-service.md): code versions
(`/v1/jobs/{name}/code...`), lifecycle scripts (`/v1/jobs/{name}/scripts...`) and
volumes (`/v1/jobs/{name}/volumes...`). Thin: parse, call
`framework.process.generic_runner`, answer.

An archive comes as multipart/form-data (field `file`, optional `description`) or as the
body itself (`?filename=` names it); either is read with a bound, not through the app's
small JSON body limit.
"""

from __future__ import annotations

from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from api.http_errors import error_response
from api.json_body import BadBody, read_json
from api.namespaces import sees
from framework.driver import FrameworkService
from framework.generic_service import REQUESTED
from framework.process.generic_runner import VOLUME_NAME, GenericConflict, GenericNotFound
from offers.problems import FieldProblem, SpecError
from offers.script_exec import MAX_ARCHIVE_BYTES

CODE = "/v1/jobs/{name}/code"
UPLOADS = (CODE,)  # its bodies are archives (api.json_body.same_origin_json)
MAX_FIELD = 4096
MAX_PARAMETERS = 100


class _Bad(Exception):
    def __init__(self, status: int, message: str, field: str, problem: str) -> None:
        self.response = error_response(status, message, [FieldProblem(field, problem)])


async def _bounded(read, limit: int, field: str) -> bytes:
    data = bytearray()
    while chunk := await read(64 * 1024):
        data += chunk
        if len(data) > limit:
            raise _Bad(413, f"{field} is too large: at most {limit} bytes", field,
                       f"is larger than {limit} bytes")
    return bytes(data)


async def _archive(request: web.Request) -> tuple[bytes, str, str]:
    """(archive, file name, description) of an upload."""
    if request.content_type != "multipart/form-data":
        data = await _bounded(request.content.read, MAX_ARCHIVE_BYTES, "file")
        filename = request.query.get("filename") or "code.tar"
        return data, filename[:255], request.query.get("description", "")[:1000]
    data: bytes | None = None
    filename, description = "code.tar", ""
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise _Bad(400, "nested multipart bodies are not accepted", "body",
                           "has a nested multipart part")
            if part.name == "file":
                data = await _bounded(part.read_chunk, MAX_ARCHIVE_BYTES, "file")
                filename = (part.filename or filename)[:255]
            elif part.name == "description":
                raw = await _bounded(part.read_chunk, MAX_FIELD, "description")
                description = raw.decode("utf-8", errors="replace")[:1000]
            else:
                raise _Bad(400, f"unknown form field {part.name!r}", part.name or "body",
                           "unknown field: send `file` (the archive) and `description`")
    except (ValueError, HttpProcessingError) as exc:
        raise _Bad(400, "the body is not valid multipart/form-data", "body",
                   getattr(exc, "message", None) or str(exc)) from None
    if data is None:
        raise _Bad(400, "invalid code upload", "file", "is required")
    return data, filename, description


class GenericHandlers:
    def __init__(self, service: FrameworkService) -> None:
        self.service = service
        self.runner = service.generic

    def _name(self, request: web.Request) -> str:
        name = request.match_info["name"]
        job = self.service.scheduler.job(name)
        if job is None or not sees(request, job.namespace):
            raise GenericNotFound(f"no job named {name!r}")
        return name

    async def upload(self, request: web.Request) -> web.Response:
        name = self._name(request)
        data, filename, description = await _archive(request)
        try:
            version = await self.runner.upload(name, data, filename, description)
        except SpecError as exc:
            return error_response(400, f"invalid code archive: {exc}", exc.problems)
        return web.json_response(version.as_json(), status=201, headers={
            "Location": f"/v1/jobs/{name}/code/{version.id}"})

    async def list_code(self, request: web.Request) -> web.Response:
        versions = self.runner.list(self._name(request))
        return web.json_response({"codeVersions": [v.as_json() for v in versions]})

    async def download(self, request: web.Request) -> web.Response:
        filename, data = await self.runner.download(self._name(request),
                                                    request.match_info["version"])
        safe = filename.replace('"', "").replace("\\", "").replace("\r", "").replace(
            "\n", "")
        return web.Response(body=data, content_type="application/octet-stream", headers={
            "Content-Disposition": f'attachment; filename="{safe}"'})

    async def delete(self, request: web.Request) -> web.Response:
        name, version = self._name(request), request.match_info["version"]
        await self.runner.delete(name, version)
        return web.json_response({"deleted": version})

    async def enable(self, request: web.Request) -> web.Response:
        version = await self.runner.enable(self._name(request),
                                           request.match_info["version"])
        return web.json_response(version.as_json())

    async def run_script(self, request: web.Request) -> web.Response:
        name, script = self._name(request), request.match_info["script"]
        if script not in REQUESTED:
            return error_response(404, f"no script {script!r}: run, interrupt or cleanup",
                                  [FieldProblem("script", "is not run, interrupt or cleanup")])
        body: Any = {}
        if request.can_read_body:
            try:
                body = read_json(await request.read())
            except BadBody as exc:
                return exc.response()
        if not isinstance(body, dict):
            return error_response(400, "the body must be a JSON object",
                                  [FieldProblem("body", "is not an object")])
        parameters = body.get("parameters", [])
        if isinstance(parameters, str):
            parameters = parameters.split()  # the web form's one text field, as ConPaaS
        if not isinstance(parameters, list) or len(parameters) > MAX_PARAMETERS or not all(
                isinstance(p, str) and "\x00" not in p for p in parameters):
            return error_response(400, "invalid script request", [FieldProblem(
                "parameters", f"must be a list of at most {MAX_PARAMETERS} strings")])
        instances = await self.runner.request(name, script, parameters)
        return web.json_response({"script": script, "parameters": parameters,
                                  "instances": instances}, status=202)

    async def scripts(self, request: web.Request) -> web.Response:
        name = self._name(request)
        await self.runner.tick()
        instances = self.runner.status(name)
        wanted = request.query.get("instance")
        if wanted is not None:
            instances = [i for i in instances if i["instance"] == wanted]
            if not instances:
                return error_response(404, f"job {name!r} has no instance {wanted!r}",
                                      [FieldProblem("instance", "no such instance")])
        return web.json_response({"instances": instances,
                                  "interrupting": self.runner.interrupting(name)})


    async def list_volumes(self, request: web.Request) -> web.Response:
        return web.json_response({"volumes": self.runner.list_volumes(self._name(request))})

    async def create_volume(self, request: web.Request) -> web.Response:
        name = self._name(request)
        try:
            body = read_json(await request.read())
        except BadBody as exc:
            return exc.response()
        if not isinstance(body, dict):
            return error_response(400, "the body must be a JSON object",
                                  [FieldProblem("body", "is not an object")])
        problems = [FieldProblem(k, "unknown field") for k in sorted(
            set(body) - {"name", "size", "instance"})]
        volume, size, instance = body.get("name"), body.get("size"), body.get("instance")
        if not isinstance(volume, str) or not VOLUME_NAME.match(volume):
            problems.append(FieldProblem("name", "is required: 1-48 letters, digits, "
                                                 "_ . - (not first)"))
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 10**7:
            problems.append(FieldProblem("size", "is required: whole MB from 1 to 10000000"))
        if not isinstance(instance, str) or not instance:
            problems.append(FieldProblem("instance", "is required: an instance's id"))
        if problems:
            return error_response(400, "invalid volume", problems)
        created = await self.runner.create_volume(name, volume, size, instance)
        return web.json_response(created, status=201, headers={
            "Location": f"/v1/jobs/{name}/volumes/{volume}"})

    async def delete_volume(self, request: web.Request) -> web.Response:
        name, volume = self._name(request), request.match_info["volume"]
        await self.runner.delete_volume(name, volume)
        return web.json_response({"deleted": volume})


async def generic_errors(request: web.Request, handler) -> web.StreamResponse:
    """The runner's refusals as berth's errors: unknown 404, not now 409."""
    try:
        return await handler(request)
    except _Bad as exc:
        return exc.response
    except GenericNotFound as exc:
        return error_response(404, str(exc))
    except GenericConflict as exc:
        return error_response(409, str(exc))


ROUTES = [
    ("POST", CODE, "upload"),
    ("GET", CODE, "list_code"),
    ("GET", CODE + "/{version}", "download"),
    ("DELETE", CODE + "/{version}", "delete"),
    ("PUT", CODE + "/{version}/active", "enable"),
    ("GET", "/v1/jobs/{name}/scripts", "scripts"),
    ("POST", "/v1/jobs/{name}/scripts/{script}", "run_script"),
    ("GET", "/v1/jobs/{name}/volumes", "list_volumes"),
    ("POST", "/v1/jobs/{name}/volumes", "create_volume"),
    ("DELETE", "/v1/jobs/{name}/volumes/{volume}", "delete_volume"),
]


def add_generic_routes(app: web.Application, service: FrameworkService) -> None:
    handlers = GenericHandlers(service)
    for method, path, name in ROUTES:
        app.router.add_route(method, path, _caught(getattr(handlers, name)))


def _caught(handler):
    async def route(request: web.Request) -> web.StreamResponse:
        return await generic_errors(request, handler)
    return route
