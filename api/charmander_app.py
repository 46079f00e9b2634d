"""The Charmander REST API, as the seed documents it, plus berth's `/v1/` JSON, OpenAPI and
Prometheus metrics. Thin: parse, call the framework service, answer.

Seed routes: `GET /admin/ping`, `POST /client/task` (also PUT: `curl -T` uploads),
`GET /client/task`, `DELETE /client/task/<prefix>`, `GET /client/task/reshuffle`.

Bodies are JSON only and no other site's page may call it (api.json_body); submissions
honour `Idempotency-Key` (api.idempotency); listings never show `env` values.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from api import idempotency
from api.audit import AuditTrail
from api.auth import Gate, chain
from api.farms_app import add_farm_routes
from api.generic_app import UPLOADS as CODE_UPLOADS
from api.generic_app import add_generic_routes
from api.http_errors import error_response, json_errors_with, spec_error_response
from api.images_app import IMAGE_UPLOADS, add_image_routes
from api.jisto_app import UPLOADS, add_jisto_routes
from api.jobs_app import add_job_routes, job_errors
from api.json_body import BadBody, read_json, same_origin_json
from api.juliarun_app import add_juliarun_routes
from api.metrics_app import StoredMetricsCollector, add_metrics_routes
from api.namespaces import limited_to, refused_in, sees, target_namespace, visible
from api.openapi import openapi_document
from api.schedules_app import add_schedule_routes
from api.task_logs import add_task_logs_route
from framework.driver import FrameworkService
from framework.kind_usage import kind_key
from framework.process.juliarun_settings import JuliaRunSettings
from framework.records import TaskRecord
from offers.problems import FieldProblem, SpecError
from offers.states import TaskState
from offers.task import parse_task

MAX_BODY = 64 * 1024  # a task JSON is a few hundred bytes; this is generous
JSON = "application/json"
REDACTED = "***"


# -- the task list, serialized once per change --------------------------------------------



def _namespace(record: TaskRecord) -> str:
    return record.spec.namespace


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _json(body: Any, status: int = 200, **kwargs: Any) -> web.Response:
    """JSON as Charmander wrote it, `{"code":202,"message":"Run task: stress60"}`, byte for
    byte, so scripts that match on the seed's answers keep working."""
    return web.json_response(body, status=status, dumps=_compact, **kwargs)


def _redacted(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec as anyone may see it: env names kept (they say what is configured), values
    hidden (they are where secrets go)."""
    if spec.get("env"):
        spec["env"] = dict.fromkeys(spec["env"], REDACTED)
    return spec


class TaskListCache:
    """JSON of each task instance, remade only when its record changes.

    Records are immutable and replaced on change, so identity tells what is stale; with
    10,000 tasks a listing is then one join of cached bytes.
    """

    def __init__(self) -> None:
        self._specs: dict[str, dict[str, Any]] = {}
        self._rows: dict[str, tuple[TaskRecord, bytes]] = {}

    def item(self, record: TaskRecord) -> dict[str, Any]:
        spec = self._specs.get(record.submission_id)
        if spec is None:
            spec = self._specs[record.submission_id] = _redacted(record.spec.to_json())
        container_name = f"berth-{record.task_id}"  # the agent's name for the container
        item = dict(spec)
        item.update({
            "internal_id": record.task_id,
            "submission_id": record.submission_id,
            "state": record.state.value,
            "reason": record.reason,
            "agent_id": record.agent_id,
            "hostname": record.hostname,
            "container_id": record.container_id,
            "container_name": container_name if record.launched_at is not None else None,
            "created_at": record.created_at,
            "running": record.running,
            "by_usage": record.by_usage,
            "launched": ({"cpus": record.launched_spec.cpus, "mem": record.launched_spec.mem}
                         if record.launched_spec is not None else None),
            # The field names of Charmander's own list, so its scripts keep working.
            "InternalID": record.task_id,
            "SlaveID": record.agent_id or "",
            "ContainerID": record.container_id or "",
            "ContainerName": container_name if record.launched_at is not None else "",
            "CreatedAt": int(record.created_at * 1e9),
            "RequestSent": record.state is not TaskState.PENDING,
            "Running": record.running,
        })
        return item

    def encoded(self, record: TaskRecord) -> bytes:
        cached = self._rows.get(record.task_id)
        if cached is not None and cached[0] is record:
            return cached[1]
        data = json.dumps(self.item(record), separators=(",", ":")).encode()
        self._rows[record.task_id] = (record, data)
        return data

    def listing(self, records: list[TaskRecord]) -> bytes:
        if len(self._rows) > 2 * len(records) + 1000:  # forget pruned records now and then
            live = {r.task_id for r in records}
            self._rows = {k: v for k, v in self._rows.items() if k in live}
            subs = {r.submission_id for r in records}
            self._specs = {k: v for k, v in self._specs.items() if k in subs}
        return b"[" + b",".join(self.encoded(r) for r in records) + b"]"


# -- metrics --------------------------------------------------------------------------------


class _CoreCollector:
    """Reads the scheduler's own counters and task states at scrape time."""

    def __init__(self, service: FrameworkService, api_counts: dict[str, int]) -> None:
        self.service = service
        self.api_counts = api_counts

    def collect(self):
        scheduler = self.service.scheduler
        states = GaugeMetricFamily("berth_framework_tasks", "Task instances by state",
                                   labels=["state"])
        counts = dict.fromkeys((s.value for s in TaskState), 0)
        for record in scheduler.tasks():
            counts[record.state.value] += 1
        for state, n in counts.items():
            states.add_metric([state], n)
        yield states
        c = scheduler.counters
        placements = CounterMetricFamily("berth_framework_placements",
                                         "Placement outcomes per task", labels=["outcome"])
        placements.add_metric(["placed"], c["tasks_placed"])
        placements.add_metric(["unplaced"], c["tasks_unplaced"])
        yield placements
        offers = CounterMetricFamily("berth_framework_offers", "Offers by what became of them",
                                     labels=["outcome"])
        offers.add_metric(["accepted"], c["offers_accepted"])
        offers.add_metric(["declined"], c["offers_declined"])
        yield offers
        yield CounterMetricFamily("berth_framework_kills", "Kill calls sent",
                                  value=c["kills"])
        yield CounterMetricFamily("berth_framework_submissions", "Tasks accepted (202)",
                                  value=self.api_counts["submitted"])
        yield CounterMetricFamily("berth_framework_rejected_requests",
                                  "Requests refused as bad input (4xx)",
                                  value=self.api_counts["rejected"])
        yield GaugeMetricFamily("berth_framework_subscribed",
                                "1 while subscribed to the master",
                                value=1 if self.service.client
                                and self.service.client.connected.is_set() else 0)


def _metrics_registry(service: FrameworkService, api_counts: dict[str, int]
                      ) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_CoreCollector(service, api_counts))
    round_trip = Histogram("berth_framework_offer_round_trip_seconds",
                           "From OFFERS received to ACCEPT/DECLINE sent", registry=registry,
                           buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5))
    latency = Histogram("berth_framework_launch_latency_seconds",
                        "From launch sent to RUNNING reported", registry=registry,
                        buckets=(.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120))

    def observe(metric: str, seconds: float) -> None:
        (round_trip if metric == "offer_round_trip" else latency).observe(max(seconds, 0.0))

    service.observers.append(observe)
    return registry


# -- handlers -------------------------------------------------------------------------------


class CharmanderHandlers:
    def __init__(self, service: FrameworkService) -> None:
        self.service = service
        self.cache = TaskListCache()
        self.api_counts = {"submitted": 0, "rejected": 0}
        self.registry = _metrics_registry(service, self.api_counts)
        self.stored_metrics = StoredMetricsCollector(service)
        self.registry.register(self.stored_metrics)
        self.keys = idempotency.Idempotency(self._stored_key, service.clock)

    async def _stored_key(self, key: str, now: float):
        return await asyncio.get_running_loop().run_in_executor(
            None, self.service.store.idempotency_key, key, now)

    def _bad(self, message: str, problems: list[FieldProblem], status: int = 400
             ) -> web.Response:
        self.api_counts["rejected"] += 1
        return error_response(status, message, problems)

    async def ping(self, request: web.Request) -> web.Response:
        return web.Response(text="pong")

    def _read_task(self, body: bytes):
        """The task spec from a request body, or an error response naming the field."""
        try:
            data = read_json(body)
        except BadBody as exc:
            self.api_counts["rejected"] += 1
            return None, exc.response()
        try:
            return parse_task(data), None
        except SpecError as exc:
            self.api_counts["rejected"] += 1
            return None, spec_error_response(exc)

    async def submit(self, request: web.Request) -> web.Response:
        raw = await request.read()
        spec, error = self._read_task(raw)
        if error is not None:
            return error
        namespace = target_namespace(
            request, spec.namespace if "namespace" in spec.model_fields_set else None)
        refusal = refused_in(request, namespace) or self._over_limits(namespace, job=False)
        if refusal is not None:
            return refusal
        if namespace != spec.namespace:
            spec = spec.model_copy(update={"namespace": namespace})
        key = request.headers.get(idempotency.HEADER)
        headers = {}
        if key is None:
            task_id = await self.service.submit(spec)
        else:
            problem = idempotency.key_problem(key)
            if problem is not None:
                return self._bad(f"unusable {idempotency.HEADER}", [problem])
            fingerprint = idempotency.fingerprint(request.path, raw)
            try:
                task_id, replayed = await self.keys.submit(
                    key, fingerprint, lambda: self.service.submit(spec, (key, fingerprint)))
            except idempotency.KeyReused:
                return self._bad(f"{idempotency.HEADER} {key!r} was used for another request",
                                 [FieldProblem(idempotency.HEADER, "was first sent with a "
                                               "different path or body; use a new key")],
                                 status=422)
            if replayed:
                headers["Idempotent-Replayed"] = "true"
        self.api_counts["submitted"] += 1
        body: dict[str, Any] = {"code": 202, "message": f"Run task: {spec.id}"}
        if request.path.startswith("/v1/"):
            body["internal_id"] = task_id  # the seed's answer is kept exactly as it was
        return _json(body, status=202,
                     headers={"Location": f"/v1/tasks/{task_id}", **headers})

    def _over_limits(self, namespace: str, job: bool) -> web.Response | None:
        why = self.service.scheduler.submission_refusal(namespace, job)
        return None if why is None else self._bad(
            f"refused: {why}", [FieldProblem("namespace", why)], status=403)

    def _tasks(self, request: web.Request) -> list[TaskRecord]:
        """The task instances the caller may see."""
        return visible(request, self.service.scheduler.tasks(), _namespace)

    async def list_tasks(self, request: web.Request) -> web.Response:
        body = self.cache.listing(self._tasks(request))
        return web.Response(body=body, content_type=JSON)

    async def kill(self, request: web.Request) -> web.Response:
        # /v1/tasks/{task_id} names it as GET's route does (one template per path).
        prefix = request.match_info.get("prefix") or request.match_info["task_id"]
        matched = await self.service.kill(prefix, limited_to(request))
        if not matched:
            return error_response(404, f"no live task id starts with {prefix!r}",
                                  [FieldProblem("prefix", "matches no scheduled or "
                                                          "running task")])
        answers = [{"code": 200, "message": f"Kill task: {task_id}"} for task_id in matched]
        return _json(answers[0] if len(answers) == 1 else answers)

    async def reshuffle(self, request: web.Request) -> web.Response:
        if limited_to(request) is not None:  # it moves every namespace's work
            return error_response(403, "forbidden: a reshuffle moves the work of every "
                                       "namespace; it needs an admin")
        await self.service.reshuffle()
        return _json({"code": 202, "message": "Reshuffle tasks"}, status=202)

    # -- /v1 -----------------------------------------------------------------------------

    async def v1_tasks(self, request: web.Request) -> web.Response:
        records = self._tasks(request)
        state = request.query.get("state")
        if state is not None:
            try:
                wanted = TaskState(state.upper())
            except ValueError:
                return self._bad(f"unknown state {state!r}", [FieldProblem(
                    "state", f"one of {', '.join(s.value for s in TaskState)}")])
            records = [r for r in records if r.state is wanted]
        body = b'{"tasks":' + self.cache.listing(records) + b"}"
        return web.Response(body=body, content_type=JSON)

    async def v1_task(self, request: web.Request) -> web.Response:
        task_id = request.match_info["task_id"]
        record = self.service.scheduler.task(task_id)
        if record is None or not sees(request, record.spec.namespace):
            return error_response(404, f"no task {task_id!r}",
                                  [FieldProblem("task_id", "is not a known task instance")])
        item = self.cache.item(record)
        item["pending_reason"] = self.service.scheduler.pending_reason(task_id)
        return _json(item)

    async def v1_agents(self, request: web.Request) -> web.Response:
        scheduler = self.service.scheduler
        counts: dict[str, int] = {}
        for record in self._tasks(request):
            if record.agent_id and record.state.value in ("STAGING", "STARTING", "RUNNING",
                                                          "KILLING"):
                counts[record.agent_id] = counts.get(record.agent_id, 0) + 1
        agents = [{"id": agent_id, "hostname": hostname, "tasks": counts.get(agent_id, 0)}
                  for agent_id, hostname in sorted(scheduler.agents().items())]
        return _json({"agents": agents})

    async def v1_offers(self, request: web.Request) -> web.Response:
        return _json({"offers": list(reversed(self.service.recent_offers))})

    async def v1_usage(self, request: web.Request) -> web.Response:
        mine = None if limited_to(request) is None else {
            r.submission_id for r in self._tasks(request)}
        usage = [{"submission_id": sid, "peak_cpus": cpus, "peak_mem": mem}
                 for sid, (cpus, mem) in sorted(self.service.scheduler.usage().items())
                 if mine is None or sid in mine]
        kinds = self.service.scheduler.kinds()
        if mine is not None:  # only the kinds of the caller's own tasks
            own = {kind_key(r.spec) for r in self._tasks(request)}
            kinds = [k for k in kinds if (k["dockerimage"], tuple(k["arguments"]), k["cpus"],
                                          k["mem"], k["disk"]) in own]
        return _json({"usage": usage, "kinds": kinds})

    async def v1_usage_post(self, request: web.Request) -> web.Response:
        """Metering samples pushed by an outside collector: `{"samples": [{task_id, cpus,
        mem}]}` (an admin's: they size every namespace's reshuffles)."""
        if limited_to(request) is not None:
            return error_response(403, "forbidden: metering samples need an admin")
        try:
            data = read_json(await request.read())
        except BadBody as exc:
            self.api_counts["rejected"] += 1
            return exc.response()
        samples = data.get("samples") if isinstance(data, dict) else None
        if not isinstance(samples, list):
            return self._bad("samples must be a list",
                             [FieldProblem("samples", "must be a list of samples")])
        problems, good = [], []
        for i, sample in enumerate(samples):
            if not isinstance(sample, dict) or not isinstance(sample.get("task_id"), str):
                problems.append(FieldProblem(f"samples[{i}].task_id", "must be a string"))
                continue
            for key in ("cpus", "mem"):
                value = sample.get(key)
                if isinstance(value, bool) or not isinstance(value, int | float) \
                        or not math.isfinite(value) or value < 0:
                    problems.append(FieldProblem(f"samples[{i}].{key}",
                                                 "must be a number >= 0"))
            good.append(sample)
        if problems:
            return self._bad("invalid usage samples", problems)
        for sample in good:
            self.service.observe_usage(sample["task_id"], float(sample["cpus"]),
                                       float(sample["mem"]))
        return _json({"code": 202, "message": f"{len(good)} samples"},
                                 status=202)

    async def openapi(self, request: web.Request) -> web.Response:
        return _json(openapi_document())

    async def metrics(self, request: web.Request) -> web.Response:
        await self.stored_metrics.refresh()
        return web.Response(body=generate_latest(self.registry),
                            content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})


ROUTES: list[tuple[str, str, str]] = [
    ("GET", "/admin/ping", "ping"),
    ("POST", "/client/task", "submit"),
    ("PUT", "/client/task", "submit"),
    ("GET", "/client/task", "list_tasks"),
    ("GET", "/client/task/reshuffle", "reshuffle"),
    ("DELETE", "/client/task/{prefix}", "kill"),
    ("GET", "/v1/tasks", "v1_tasks"),
    ("POST", "/v1/tasks", "submit"),
    ("GET", "/v1/tasks/{task_id}", "v1_task"),
    ("DELETE", "/v1/tasks/{task_id}", "kill"),
    ("POST", "/v1/reshuffle", "reshuffle"),
    ("GET", "/v1/agents", "v1_agents"),
    ("GET", "/v1/offers", "v1_offers"),
    ("GET", "/v1/usage", "v1_usage"),
    ("POST", "/v1/usage", "v1_usage_post"),
    ("GET", "/openapi.json", "openapi"),
    ("GET", "/metrics", "metrics"),
]


FRAMEWORK = web.AppKey("framework", FrameworkService)


def build_charmander_app(service: FrameworkService, gate: Gate | None = None,
                         trail: AuditTrail | None = None,
                         juliarun: JuliaRunSettings | None = None) -> web.Application:
    """The framework's REST API; `gate` (api.auth) decides who may call it, `trail`
    (api.audit) notes what they changed and serves `GET /v1/audit`; `juliarun` is the
    JuliaRun configuration its JuliaRun API submits with (none: an empty one)."""
    middlewares = [json_errors_with(chain(
        same_origin_json(uploads=UPLOADS + IMAGE_UPLOADS + CODE_UPLOADS), gate)),
                   job_errors]
    if trail is not None:
        middlewares.insert(0, trail.middleware)
    app = web.Application(client_max_size=MAX_BODY, middlewares=middlewares)
    if trail is not None:
        app.router.add_get("/v1/audit", trail.handle_read)
    handlers = CharmanderHandlers(service)
    for method, path, name in ROUTES:
        app.router.add_route(method, path, getattr(handlers, name))
    add_job_routes(app, service)
    add_jisto_routes(app, service)
    add_image_routes(app, service)
    add_schedule_routes(app, service)
    add_task_logs_route(app, service)
    add_juliarun_routes(app, service, juliarun or JuliaRunSettings())
    add_metrics_routes(app, service)
    add_generic_routes(app, service)
    add_farm_routes(app, service)
    app[FRAMEWORK] = service
    return app
