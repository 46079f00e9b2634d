"""JuliaRun's HTTP API (the seed's "HTTP API Reference") on the framework's port, over
berth's jobs. Thin: parse, call the framework (framework.juliarun for the translation,
framework.process.job_operations to act), answer.

Answers are JuliaWebAPI's JSON: `{"code": 0, "data": ...}` with HTTP 200; a refusal is
`{"code": <HTTP status>, "data": "<reason>", "errors": [{field, problem}]}` with that
status: 400 a bad parameter (named), 404 no such job, 409 the job's state forbids it,
403 the namespace is not the caller's, 422 a configuration file that does not load, 502
or 503 when the master cannot give logs. Every route answers GET (as the seed's client
calls them) and POST (parameters in the query or a JSON object body). Parameters
`jruntok` and `jrunns` authenticate and choose the namespace (api.auth, api.namespaces).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from api.json_body import BadBody, read_json
from api.namespaces import namespace_problem, refused_in, sees, target_namespace, visible
from api.task_logs import read_task_log
from framework import juliarun_views as views
from framework.driver import FrameworkService
from framework.jobs import MASTER, Job
from framework.juliarun import KINDS, job_from_juliarun, juliarun_type, kind_of
from framework.juliarun_params import boolean, whole
from framework.process.job_operations import JobConflict, JobNotFound
from framework.process.juliarun_settings import JuliaRunSettings
from framework.process.master_logs import MasterLogsError
from framework.store import JobExists
from offers.job import MAX_INSTANCES
from offers.problems import FieldProblem, SpecError

DEFAULT_COUNT = 50  # log entries tailJob returns unless told
STREAMS = ("stdout", "stderr")


class Refused(Exception):
    """A JuliaWebAPI error answer: its HTTP status, reason and named problems."""

    def __init__(self, status: int, reason: str, problems: list[FieldProblem] | None = None):
        super().__init__(reason)
        self.status, self.reason, self.problems = status, reason, problems or []


def answer(data: Any) -> web.Response:
    return web.json_response({"code": 0, "data": data})


def refusal(exc: Refused) -> web.Response:
    return web.json_response({"code": exc.status, "data": exc.reason,
                              "errors": [p.as_dict() for p in exc.problems]},
                             status=exc.status)


def _bad(problems: list[FieldProblem]) -> Refused:
    return Refused(400, "; ".join(str(p) for p in problems), problems)


class JuliaRunHandlers:
    def __init__(self, service: FrameworkService, settings: JuliaRunSettings) -> None:
        self.service = service
        self.settings = settings
        self.jobs = service.jobs

    async def params(self, request: web.Request) -> dict[str, str]:
        """The request's parameters: the query's, and a POST's JSON object's beside."""
        given = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            try:
                body = read_json(await request.read())
            except BadBody as exc:
                raise Refused(400, str(exc), [FieldProblem("body", str(exc))]) from None
            if not isinstance(body, dict):
                raise _bad([FieldProblem("body", "must be a JSON object of parameters")])
            for key, value in body.items():
                if isinstance(value, bool):
                    value = "true" if value else "false"
                given[key] = value if isinstance(value, str) else str(value)
        return given

    def job(self, request: web.Request, given: dict[str, str]) -> Job:
        """The job `name` names, of the path's type, if the caller may see it."""
        kind = _kind(request)
        name = given.get("name", "").strip()
        if not name:
            raise _bad([FieldProblem("name", "is required")])
        job = self.service.scheduler.job(name)
        if job is None or not sees(request, job.namespace) or not visible(
                request, [job], lambda j: j.namespace) or juliarun_type(job.spec) is None:
            raise Refused(404, f"no {kind} job named {name!r}",
                          [FieldProblem("name", "no such job")])
        actual = juliarun_type(job.spec)
        if actual != kind:
            raise Refused(404, f"{name!r} is a {actual} job, not a {kind} job",
                          [FieldProblem("JobType", f"the job is a {actual}")])
        return job

    def _instances(self, job: Job):
        return self.service.scheduler.job_instances(job)

    # -- the routes -----------------------------------------------------------------------

    async def get_system_status(self, request, given) -> Any:
        client = self.service.client
        return bool(client is not None and client.connected.is_set())

    async def reconfigure(self, request, given) -> Any:
        problems = self.settings.reload()
        if problems:
            raise Refused(422, "the configuration file was not loaded; the one in force "
                               "stays: " + "; ".join(str(p) for p in problems), problems)
        return True

    async def submit_job(self, request, given) -> Any:
        kind = _kind(request)
        namespace = target_namespace(request, None)
        problem = namespace_problem(namespace)
        if problem is not None:
            raise _bad([FieldProblem("jrunns", problem.problem)])
        denied = refused_in(request, namespace)
        if denied is not None:
            raise Refused(403, f"namespace {namespace} is not one of yours",
                          [FieldProblem("jrunns", f"{namespace}: not one of yours")])
        try:
            spec = job_from_juliarun(kind, given, self.settings.config, namespace)
        except SpecError as exc:
            raise _bad(exc.problems) from None
        why = self.service.scheduler.submission_refusal(namespace, job=True)
        if why is not None:
            raise Refused(403, f"refused: {why}", [FieldProblem("jrunns", why)])
        try:
            await self.jobs.submit(spec)
        except JobExists as exc:
            raise Refused(409, str(exc), [FieldProblem("name", "is taken")]) from None
        self.settings.note("submitted %s %s in %s", kind, spec.name, namespace)
        return None

    async def get_job_status(self, request, given) -> Any:
        job = self.job(request, given)
        return views.status(job, self._instances(job))

    async def get_job_scale(self, request, given) -> Any:
        job = self.job(request, given)
        return views.scale(job, self._instances(job))

    async def set_job_scale(self, request, given) -> Any:
        job = self.job(request, given)
        if "parallelism" not in given:
            raise _bad([FieldProblem("parallelism", "is required")])
        try:
            count = whole(given["parallelism"], 0, MAX_INSTANCES)
        except ValueError as exc:
            raise _bad([FieldProblem("parallelism", str(exc))]) from None
        if not views.has_workers(job):
            raise Refused(409, f"a {juliarun_type(job.spec)} job has no workers to scale",
                          [FieldProblem("parallelism", "this job type has no workers")])
        await self.jobs.scale(job.id, count)
        self.settings.note("scaled %s to %d", job.id, count)
        return True

    async def get_job_endpoint(self, request, given) -> Any:
        job = self.job(request, given)
        return views.endpoint(job, self._instances(job))

    async def get_all_job_info(self, request, given) -> Any:
        return {job.id: {"type": juliarun_type(job.spec),
                         "status": views.status(job, self._instances(job)),
                         "scale": views.scale(job, self._instances(job)),
                         "endpoint": views.endpoint(job, self._instances(job))}
                for job in self._visible(request)}

    async def list_jobs(self, request, given) -> Any:
        return {job.id: {"type": juliarun_type(job.spec)} for job in self._visible(request)}

    def _visible(self, request: web.Request) -> list[Job]:
        return [job for job in visible(request, self.service.scheduler.jobs(),
                                       lambda j: j.namespace)
                if juliarun_type(job.spec) is not None]

    async def tail_job(self, request, given) -> Any:
        job = self.job(request, given)
        problems = []
        stream = given.get("stream") or None
        if stream is not None and stream not in STREAMS:
            problems.append(FieldProblem("stream", f"must be stdout or stderr, not "
                                                   f"{stream!r}"))
        count = DEFAULT_COUNT
        if "count" in given:
            try:
                count = whole(given["count"], 0, 10_000_000)
            except ValueError as exc:
                problems.append(FieldProblem("count", str(exc)))
        if problems:
            raise _bad(problems)
        lines: list[str] = []
        for task_id in _newest_per_slot(self._instances(job)):
            for one in (stream,) if stream else STREAMS:
                try:
                    text = await read_task_log(self.service, task_id, one, count or None)
                except MasterLogsError as exc:
                    if exc.status in (502, 503):
                        raise Refused(exc.status, exc.message) from None
                    continue  # that instance's container is gone: nothing to tail
                lines += text.decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-count:] if count else lines)

    async def delete_job(self, request, given) -> Any:
        job = self.job(request, given)
        try:
            force = boolean(given.get("force", "false"))
        except ValueError as exc:
            raise _bad([FieldProblem("force", str(exc))]) from None
        await self.jobs.delete(job.id, force)
        self.settings.note("deleted %s", job.id)
        return True


def _kind(request: web.Request) -> str:
    name = request.match_info["jobtype"]
    try:
        kind_of(name)
    except SpecError as exc:
        raise _bad(exc.problems) from None
    return name


def _newest_per_slot(instances) -> list[str]:
    """The task ids to tail: the newest launched instance of each slot, master first."""
    newest: dict[Any, Any] = {}
    for record in instances:
        if record.launched_at is None:
            continue
        known = newest.get(record.slot)
        if known is None or (record.launched_at, record.task_id) > (known.launched_at,
                                                                     known.task_id):
            newest[record.slot] = record
    order = sorted(newest, key=lambda s: (s is None, s != (MASTER, 0), s or (0, 0)))
    return [newest[s].task_id for s in order]


Route = tuple[str, str, bool]  # path, handler, acts (needs write scope even as a GET)
ROUTES: list[Route] = [
    ("/getSystemStatus", "get_system_status", False),
    ("/reconfigure", "reconfigure", True),
    ("/getAllJobInfo", "get_all_job_info", False),
    ("/listJobs", "list_jobs", False),
    ("/submitJob/{jobtype}/", "submit_job", True),
    ("/getJobStatus/{jobtype}/", "get_job_status", False),
    ("/getJobScale/{jobtype}/", "get_job_scale", False),
    ("/setJobScale/{jobtype}/", "set_job_scale", True),
    ("/getJobEndpoint/{jobtype}/", "get_job_endpoint", False),
    ("/tailJob/{jobtype}/", "tail_job", False),
    ("/deleteJob/{jobtype}/", "delete_job", True),
]
METHODS = ("GET", "POST")
# What acts needs the `write` scope whatever the method; `/reconfigure` an admin's.
WRITE_PREFIXES = tuple(path.split("{")[0] for path, _, acts in ROUTES if acts)
ADMIN_PREFIXES = ("/reconfigure",)
JOB_TYPES = tuple(KINDS)


def _route(call: Callable[[web.Request, dict[str, str]], Awaitable[Any]],
           handlers: JuliaRunHandlers):
    async def handle(request: web.Request) -> web.Response:
        try:
            return answer(await call(request, await handlers.params(request)))
        except Refused as exc:
            return refusal(exc)
        except JobNotFound as exc:
            return refusal(Refused(404, str(exc), [FieldProblem("name", "no such job")]))
        except JobConflict as exc:
            return refusal(Refused(409, str(exc)))

    return handle


def add_juliarun_routes(app: web.Application, service: FrameworkService,
                        settings: JuliaRunSettings) -> None:
    handlers = JuliaRunHandlers(service, settings)
    for path, name, _ in ROUTES:
        handle = _route(getattr(handlers, name), handlers)
        for method in METHODS:
            app.router.add_route(method, path, handle)
