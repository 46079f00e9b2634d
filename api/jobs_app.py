"""berth's job API on the framework's port: `/v1/jobs` (submit, list, status, scale,
stop, wait, delete). Thin: parse, call `framework.process.job_operations`, answer.
A job with a `schedule` is a template kept by `framework.process.schedule_runner` (its
routes beside these: api/schedules_app.py); status, list and delete show and forget it.

A `201` means the job is on disk. Errors are berth's JSON with the field named.
"""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

from api.http_errors import error_response, spec_error_response
from api.json_body import BadBody, read_json
from api.namespaces import refused_in, sees, target_namespace, visible
from api.task_logs import checked_params, stream_task_logs
from framework.driver import FrameworkService
from framework.job_status import (
    autoscale_status,
    decision_document,
    job_document,
    job_summary,
    scheduled_document,
    scheduled_summary,
)
from framework.process.job_operations import JobConflict, JobNotFound
from framework.schedules import schedule_problems
from framework.store import JobExists
from offers.job import MAX_INSTANCES, parse_job
from offers.problems import FieldProblem, SpecError

MAX_WAIT_SECONDS = 3600.0


class JobHandlers:
    def __init__(self, service: FrameworkService) -> None:
        self.service = service
        self.jobs = service.jobs

    def _status(self, name: str) -> dict[str, Any]:
        return self._document(self.jobs.get(name))

    def _document(self, job) -> dict[str, Any]:
        doc = job_document(job, self.service.scheduler.job_instances(job))
        scaler = self.service.autoscaler
        doc["autoscale"] = autoscale_status(job, scaler.last(job.id),
                                            scaler.next_evaluation(job.id))
        return doc

    def _seen(self, request: web.Request) -> str:
        """The job the route names, if the caller may see it (JobNotFound otherwise: what
        is in another's namespace does not exist for it)."""
        name = request.match_info["name"]
        if self._scheduled(request) is not None:
            raise JobConflict(f"{name!r} is a scheduled job: a template that does not run "
                              "itself; act on its runs, or delete it")
        if not sees(request, self.jobs.get(name).namespace):
            raise JobNotFound(f"no job named {name!r}")
        return name

    def _scheduled(self, request: web.Request):
        """The scheduled job the route names, if there is one and the caller sees it."""
        state = self.service.schedules.get(request.match_info["name"])
        return state if state is not None and sees(request, state.spec.namespace) else None

    def _schedule_status(self, state) -> dict[str, Any]:
        runner = self.service.schedules
        return scheduled_document(state, runner.runs(state), runner.next_firing(state))

    async def submit(self, request: web.Request) -> web.Response:
        try:
            spec = parse_job(read_json(await request.read()))
            if spec.schedule is not None and (problems := schedule_problems(spec.schedule)):
                raise SpecError(problems)
        except BadBody as exc:
            return exc.response()
        except SpecError as exc:
            return spec_error_response(exc, "job")
        namespace = target_namespace(
            request, spec.namespace if "namespace" in spec.model_fields_set else None)
        refusal = refused_in(request, namespace)
        if refusal is not None:
            return refusal
        why = self.service.scheduler.submission_refusal(namespace, job=True)
        if why is not None:
            return error_response(403, f"refused: {why}", [FieldProblem("namespace", why)])
        if namespace != spec.namespace:
            spec = spec.model_copy(update={"namespace": namespace})
        try:
            if spec.schedule is not None:
                state = await self.service.schedules.create(spec)
                return web.json_response(self._schedule_status(state), status=201,
                                         headers={"Location": f"/v1/jobs/{spec.name}"})
            job = await self.jobs.submit(spec)
        except JobExists as exc:
            return error_response(409, str(exc), [FieldProblem("name", "is taken")])
        return web.json_response(self._document(job), status=201,
                                 headers={"Location": f"/v1/jobs/{job.id}"})

    async def list_jobs(self, request: web.Request) -> web.Response:
        show_tasks = request.query.get("tasks") == "true"
        scheduler = self.service.scheduler
        jobs = [job_summary(job, scheduler.running_instances(job))
                for job in visible(request, scheduler.jobs(), lambda job: job.namespace)
                if show_tasks or not job.charmander]
        runner = self.service.schedules
        jobs += [scheduled_summary(state, runner.runs(state), runner.next_firing(state))
                 for state in visible(request, runner.states.values(),
                                      lambda state: state.spec.namespace)]
        return web.json_response({"jobs": jobs})

    async def status(self, request: web.Request) -> web.Response:
        state = self._scheduled(request)
        if state is not None:
            return web.json_response(self._schedule_status(state))
        return web.json_response(self._status(self._seen(request)))

    async def scale(self, request: web.Request) -> web.Response:
        try:
            body = read_json(await request.read())
        except BadBody as exc:
            return exc.response()
        count, steps, problems = _scale_request(body)
        if problems:
            return error_response(400, "invalid scale request", problems)
        name = self._seen(request)
        await self.jobs.scale(name, count, steps)
        return web.json_response(self._status(name))

    async def autoscale(self, request: web.Request) -> web.Response:
        """The autoscaler's decisions for the job, newest first, with its policy."""
        name = self._seen(request)
        job = self.jobs.get(name)
        scaler = self.service.autoscaler
        policy = job.spec.autoscale if job.spec is not None else None
        return web.json_response({
            "job": name,
            "policy": policy.model_dump(mode="json", exclude_none=True) if policy else None,
            "status": autoscale_status(job, scaler.last(name), scaler.next_evaluation(name)),
            "decisions": [decision_document(d) for d in scaler.decisions(name)]})

    async def stop(self, request: web.Request) -> web.Response:
        name = self._seen(request)
        await self.jobs.stop(name)
        return web.json_response(self._status(name))

    async def delete(self, request: web.Request) -> web.Response:
        force = request.query.get("force", "false")
        if force not in ("true", "false"):
            return error_response(400, "force must be true or false",
                                  [FieldProblem("force", f"{force!r} is not true or false")])
        if self._scheduled(request) is not None:
            state = await self.service.schedules.delete(request.match_info["name"],
                                                        force == "true")
            return web.json_response({"code": 200, "message": f"deleted job {state.name} "
                                                              "and its runs"})
        job = await self.jobs.delete(self._seen(request), force == "true")
        return web.json_response({"code": 200, "message": f"deleted job {job.id}"})

    async def wait(self, request: web.Request) -> web.Response:
        raw = request.query.get("timeout", "60")
        try:
            timeout = float(raw)
        except ValueError:
            timeout = math.nan
        if not 0 <= timeout <= MAX_WAIT_SECONDS:  # NaN fails too
            return error_response(400, "invalid timeout", [FieldProblem(
                "timeout", f"{raw!r} is not a number of seconds from 0 to "
                           f"{MAX_WAIT_SECONDS:g}")])
        name = self._seen(request)
        job = await self.jobs.wait(name, timeout)
        if self.service.scheduler.job(name) is not job:
            return error_response(404, f"job {name!r} was deleted while waiting")
        return web.json_response(self._status(name))

    async def logs(self, request: web.Request) -> web.StreamResponse:
        """An instance's output: `instance=ID`, by default the newest that was launched."""
        params = checked_params(request)
        if isinstance(params, web.Response):
            return params
        job = self.jobs.get(self._seen(request))
        instances = self.service.scheduler.job_instances(job)
        wanted = request.query.get("instance")
        if wanted is not None:
            if wanted not in {r.task_id for r in instances}:
                return error_response(404, f"job {job.id!r} has no instance {wanted!r}",
                                      [FieldProblem("instance", "is not an instance of "
                                                                "this job")])
            task_id = wanted
        else:
            launched = [r for r in instances if r.launched_at is not None]
            if not launched:
                return error_response(404, f"job {job.id!r} has no launched instance yet",
                                      [FieldProblem("instance", "none was launched")])
            task_id = max(launched, key=lambda r: (r.launched_at, r.task_id)).task_id
        return await stream_task_logs(request, self.service, task_id, params)


def _scale_request(body: Any) -> tuple[int | None, tuple[int, ...], list[FieldProblem]]:
    """`{"count": N}` or `{"steps": [N1, N2, ...]}`, each a count from 0 up."""
    if not isinstance(body, dict):
        return None, (), [FieldProblem("", "must be a JSON object with `count` or `steps`")]
    unknown = sorted(set(body) - {"count", "steps"})
    if unknown:
        return None, (), [FieldProblem(k, "unknown field") for k in unknown]
    if ("count" in body) == ("steps" in body):
        return None, (), [FieldProblem("count", "give either `count` or `steps`")]
    if "count" in body:
        problem = _count_problem(body["count"])
        return (body["count"], (), []) if problem is None else (
            None, (), [FieldProblem("count", problem)])
    steps = body["steps"]
    if not isinstance(steps, list) or not steps:
        return None, (), [FieldProblem("steps", "must be a non-empty list of counts")]
    problems = [FieldProblem(f"steps[{i}]", p) for i, step in enumerate(steps)
                if (p := _count_problem(step)) is not None]
    return None, tuple(steps), problems


def _count_problem(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{value!r} is not a whole number"
    if not 0 <= value <= MAX_INSTANCES:
        return f"must be from 0 to {MAX_INSTANCES}, not {value}"
    return None


ROUTES: list[tuple[str, str, str]] = [
    ("POST", "/v1/jobs", "submit"),
    ("GET", "/v1/jobs", "list_jobs"),
    ("GET", "/v1/jobs/{name}", "status"),
    ("PUT", "/v1/jobs/{name}/scale", "scale"),
    ("GET", "/v1/jobs/{name}/autoscale", "autoscale"),
    ("POST", "/v1/jobs/{name}/stop", "stop"),
    ("GET", "/v1/jobs/{name}/wait", "wait"),
    ("GET", "/v1/jobs/{name}/logs", "logs"),
    ("DELETE", "/v1/jobs/{name}", "delete"),
]


@web.middleware
async def job_errors(request: web.Request, handler) -> web.StreamResponse:
    """The operations' refusals as berth's errors: unknown job 404, conflict 409."""
    try:
        return await handler(request)
    except JobNotFound as exc:
        return error_response(404, str(exc), [FieldProblem("name", "no such job")])
    except JobConflict as exc:
        return error_response(409, str(exc))
    except SpecError as exc:  # refused at submission (an image whose build failed)
        return spec_error_response(exc, "job")


def add_job_routes(app: web.Application, service: FrameworkService) -> None:
    handlers = JobHandlers(service)
    for method, path, name in ROUTES:
        app.router.add_route(method, path, getattr(handlers, name))
