"""Jisto's RESTful API (seed 000, section 5) on the framework's port: `/v1/job`,
`/v1/task`, `/v1/job/{uuid}/op/{JobOperation}`, `GET /v1/job/{uuid}`, and the job
source upload of its web page (section 3.2) as `POST /v1/jobsource`. Thin: parse, call
`framework.process.jisto_operations`, answer.

Answers carry the UUID as Jisto's do (`{"UUID": ...}`); errors are berth's JSON naming
Jisto's field (`Name`, `Image`, `JobUUID`, `Env`, `JobOperation`, `iterations`...). A
`200` to a write means it is on disk. A caller sees only its namespaces' jobs.
"""

from __future__ import annotations

from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from api.http_errors import error_response
from api.json_body import BadBody, read_json
from api.namespaces import refused_in, sees, target_namespace, visible
from framework.driver import FrameworkService
from framework.jisto_status import jisto_document
from framework.process.jisto_operations import JistoConflict, JistoNotFound
from framework.store import JobExists
from offers.jisto import OPERATIONS, JistoJob, JistoTask, check_name, parse_env, task_problems
from offers.jisto_archive import read_job_source
from offers.problems import FieldProblem, SpecError

JOBSOURCE = "/v1/jobsource"
UPLOADS = (JOBSOURCE,)  # paths whose bodies are multipart/form-data (api.json_body)
MAX_ARCHIVE = 1024 * 1024  # a job source holds a config.json of a few hundred bytes
MAX_FIELD = 4096
ARCHIVE_FIELDS = ("archive", "jobsource", "file", "files[]")  # the last: Jisto's form
IGNORED_FIELDS = ("contentType",)  # Jisto's upload form sends it


class _Refused(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


def _bad(message: str, field: str, problem: str, status: int = 400) -> _Refused:
    return _Refused(error_response(status, message, [FieldProblem(field, problem)]))


def _object(body: Any, allowed: tuple[str, ...], required: tuple[str, ...]) -> dict:
    if not isinstance(body, dict):
        raise _bad("the body must be a JSON object", "body",
                   f"is {type(body).__name__}, not an object")
    problems = [FieldProblem(k, "unknown field") for k in sorted(set(body) - set(allowed))]
    problems += [FieldProblem(k, "is required") for k in required if k not in body]
    if problems:
        raise _Refused(error_response(400, "invalid request", problems))
    return body


def _env(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, str):
        raise _bad("invalid Env", "Env", "must be a string like \"A=1;B=2\"")
    try:
        return parse_env(value)
    except ValueError as exc:
        raise _bad("invalid Env", "Env", str(exc)) from None


class JistoHandlers:
    def __init__(self, service: FrameworkService) -> None:
        self.service = service
        self.jisto = service.jisto

    def _document(self, job: JistoJob) -> dict[str, Any]:
        berth = self.jisto.berth_job(job)
        instances = self.service.scheduler.job_instances(berth) if berth else ()
        return jisto_document(job, berth, instances)

    def _seen(self, request: web.Request, uuid: str, field: str = "JobUUID") -> JistoJob:
        """The job, if the caller may see it (what is in another's namespace does not
        exist for it)."""
        try:
            job = self.jisto.get(uuid.lower())  # a UUID's hex digits in either case
        except JistoNotFound:
            job = None
        if job is None or not sees(request, job.namespace):
            raise _bad(f"no job with UUID {uuid!r}", field, "no such job", 404)
        return job

    def _writable(self, request: web.Request, job: JistoJob) -> None:
        refusal = refused_in(request, job.namespace)
        if refusal is not None:
            raise _Refused(refusal)

    async def _new_job(self, request: web.Request, name: str,
                       tasks: tuple[JistoTask, ...] = (), options=None) -> JistoJob:
        namespace = target_namespace(request, None)
        refusal = refused_in(request, namespace)
        if refusal is not None:
            raise _Refused(refusal)
        return await self.jisto.create(name, namespace, tasks, options)

    # -- routes ------------------------------------------------------------------------

    async def create_job(self, request: web.Request) -> web.Response:
        body = _object(read_json(await request.read()), ("Name",), ("Name",))
        try:
            name = check_name(body["Name"])
        except ValueError as exc:
            raise _bad("invalid Name", "Name", str(exc)) from None
        job = await self._new_job(request, name)
        return web.json_response({"UUID": job.uuid})

    async def create_task(self, request: web.Request) -> web.Response:
        body = _object(read_json(await request.read()), ("Image", "JobUUID", "Env", "Name"),
                       ("Image", "JobUUID"))
        if not isinstance(body["JobUUID"], str):
            raise _bad("invalid JobUUID", "JobUUID", "must be a string")
        name = body.get("Name")
        if name is not None:
            try:
                check_name(name)
            except ValueError as exc:
                raise _bad("invalid Name", "Name", str(exc)) from None
        env = _env(body.get("Env"))
        problems = task_problems(body["Image"], env)
        if problems:
            return error_response(400, "invalid task", problems)
        job = self._seen(request, body["JobUUID"])
        self._writable(request, job)
        task = await self.jisto.add_task(job.uuid, body["Image"], env, name)
        return web.json_response({"UUID": task.uuid})

    async def operate(self, request: web.Request) -> web.Response:
        op = request.match_info["op"]
        if op not in OPERATIONS:
            raise _bad(f"unknown job operation {op!r}", "JobOperation",
                       f"{op!r} is not one of {', '.join(OPERATIONS)}")
        job = self._seen(request, request.match_info["uuid"])
        self._writable(request, job)
        if op == "RunJob":
            why = self.service.scheduler.submission_refusal(job.namespace, job=True)
            if why is not None:
                raise _bad(f"refused: {why}", "namespace", why, 403)
            await self.jisto.run(job.uuid)
        elif op == "DeleteJob":
            await self.jisto.delete(job.uuid)
        else:
            await self.jisto.stop(job.uuid, op)
        return web.json_response({"UUID": job.uuid})

    async def get_job(self, request: web.Request) -> web.Response:
        return web.json_response(self._document(self._seen(request, request.match_info[
            "uuid"], "UUID")))

    async def list_jobs(self, request: web.Request) -> web.Response:
        jobs = visible(request, self.jisto.jobs(), lambda job: job.namespace)
        return web.json_response({"Jobs": [self._document(job) for job in jobs]})

    async def upload_source(self, request: web.Request) -> web.Response:
        """A job source archive and the image it runs: a new job of `iterations` runs."""
        if request.content_type != "multipart/form-data":
            raise _bad("send the archive as multipart/form-data", "Content-Type",
                       f"is {request.content_type!r}; send multipart/form-data with the "
                       "archive and the image", 415)
        archive, image = await _read_form(request)
        try:
            source = read_job_source(archive)
        except SpecError as exc:
            return error_response(400, f"invalid job source: {exc}", exc.problems)
        env = source.all_env
        problems = task_problems(image, env)
        if problems:
            return error_response(400, "invalid job source", [
                FieldProblem("image" if p.field == "Image" else p.field, p.problem)
                for p in problems])
        task = JistoTask(self.jisto.new_uuid(), image, tuple(sorted(env.items())),
                         source.iterations)
        options = source.options.model_copy(update={"env": {}})
        job = await self._new_job(request, source.jobName or image, (task,), options)
        return web.json_response({"UUID": job.uuid, "Name": job.name})


async def _read_form(request: web.Request) -> tuple[bytes, str]:
    """The archive and the image name of a job source upload, each read with a bound."""
    try:
        reader = await request.multipart()
        archive: bytes | None = None
        image: str | None = None
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise _bad("nested multipart bodies are not accepted", "body",
                           "has a nested multipart part")
            name = part.name or ""
            if name in ARCHIVE_FIELDS:
                archive = await _bounded(part, MAX_ARCHIVE, name)
            elif name == "image":
                raw = await _bounded(part, MAX_FIELD, name)
                try:
                    image = raw.decode("utf-8").strip()
                except UnicodeDecodeError:
                    raise _bad("invalid image", "image", "is not UTF-8 text") from None
            elif name in IGNORED_FIELDS:
                await _bounded(part, MAX_FIELD, name)
            else:
                raise _bad(f"unknown form field {name!r}", name or "body",
                           "unknown field: send `archive` (the tar.gz) and `image`")
    except (ValueError, HttpProcessingError) as exc:  # aiohttp: a malformed multipart body
        raise _bad("the body is not valid multipart/form-data", "body",
                   getattr(exc, "message", None) or str(exc)) from None
    missing = [FieldProblem(f, "is required") for f, v in (
        ("archive", archive), ("image", image)) if v is None]
    if missing:
        raise _Refused(error_response(400, "invalid job source upload", missing))
    return archive, image  # type: ignore[return-value]


async def _bounded(part: BodyPartReader, limit: int, field: str) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        data += chunk
        if len(data) > limit:
            raise _bad(f"{field} is too large: at most {limit} bytes", field,
                       f"is larger than {limit} bytes", 413)
    return bytes(data)


ROUTES: list[tuple[str, str, str]] = [
    ("POST", "/v1/job", "create_job"),
    ("GET", "/v1/job", "list_jobs"),
    ("GET", "/v1/job/{uuid}", "get_job"),
    ("POST", "/v1/job/{uuid}/op/{op}", "operate"),
    ("POST", "/v1/task", "create_task"),
    ("POST", JOBSOURCE, "upload_source"),
]


def _guarded(method):
    """A handler whose refusals (_Refused, BadBody, the operations' own) are answers."""
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            return await method(request)
        except _Refused as exc:
            return exc.response
        except BadBody as exc:
            return exc.response()
        except JistoNotFound as exc:
            return error_response(404, str(exc), [FieldProblem("JobUUID", "no such job")])
        except JistoConflict as exc:
            return error_response(409, str(exc), [FieldProblem("JobUUID", str(exc))])
        except JobExists as exc:
            return error_response(409, f"its berth job's name is taken: {exc}",
                                  [FieldProblem("Name", "its berth job's name is taken")])
        except SpecError as exc:
            return error_response(400, f"the job cannot run: {exc}", exc.problems)
    return handler


def add_jisto_routes(app: web.Application, service: FrameworkService) -> None:
    handlers = JistoHandlers(service)
    for method, path, name in ROUTES:
        app.router.add_route(method, path, _guarded(getattr(handlers, name)))
