"""Metrics on the framework's port (JuliaRun's record_metrics, get_metrics, get_rusage):
`POST /v1/metrics` stores samples, `GET /v1/metrics` aggregates a metric over a window,
`GET /v1/rusage` sums task usage into cpu-seconds and MiB-hours.

Thin: parse, call the metrics store (persistence/metrics.py) on a worker thread, answer.
A caller sees the series of its namespaces and the nodes' own; a posted sample belongs to
the namespace its tags name, else the request's, and may name a task instance (`instance`
tag, a task's `$BERTH_INSTANCE`): its job, namespace and node are then tagged for it.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client.core import GaugeMetricFamily

from api.http_errors import error_response
from api.json_body import BadBody, read_json
from api.metrics_params import metrics_query, rusage_query
from api.namespaces import limited_to, refused_in, target_namespace
from framework.driver import FrameworkService
from offers.problems import FieldProblem, SpecError
from persistence.metric_input import Sample, read_samples


class MetricsHandlers:
    def __init__(self, service: FrameworkService) -> None:
        self.service = service

    def _store(self):
        return self.service.metrics_store

    async def post(self, request: web.Request) -> web.Response:
        """Store one sample or a batch; 201 once on disk. Nothing is stored when any
        sample is wrong."""
        try:
            body = read_json(await request.read(), non_finite=True)
        except BadBody as exc:
            return exc.response()
        samples, problems = read_samples(body, self.service.clock())
        if problems:
            return error_response(400, "invalid metrics: " + "; ".join(
                f"{p.field or 'body'}: {p.problem}" for p in problems[:3]), problems)
        tagged = []
        for i, sample in enumerate(samples):
            tags, refusal = self._tags(request, sample.tags, f"{i}." if isinstance(body, list)
                                       else "")
            if refusal is not None:
                return refusal
            tagged.append(Sample(sample.name, sample.value, sample.at, tags))
        if self.service.metrics is None:
            return error_response(503, "this framework keeps no metrics")
        try:
            stored = await self.service.metrics.record(tagged)
        except Exception as exc:
            return error_response(503, f"the metrics store cannot be written: {exc}")
        return web.json_response({"code": 201, "message": f"{stored} samples",
                                  "stored": stored}, status=201)

    def _tags(self, request: web.Request, given: dict[str, str], where: str
              ) -> tuple[dict[str, str], web.Response | None]:
        tags = dict(given)
        instance = tags.get("instance")
        if instance is not None and self.service.scheduler.task(instance) is not None:
            for key, value in self.service.instance_tags(instance).items():
                if tags.setdefault(key, value) != value:
                    problem = FieldProblem(f"{where}tags.{key}", f"is {value!r} for "
                                                                 f"instance {instance!r}")
                    return tags, error_response(400, f"invalid metrics: {problem.problem}",
                                                [problem])
        tags["namespace"] = target_namespace(request, tags.get("namespace"))
        return tags, refused_in(request, tags["namespace"])

    async def get(self, request: web.Request) -> web.Response:
        """`agg` of metric `name` per `group_by` (and per `step`); without `name`, the
        names there are."""
        try:
            q = metrics_query(request.query, self.service.clock())
        except SpecError as exc:
            return error_response(400, f"invalid metrics query: {exc}", exc.problems)
        store = self._store()
        if store is None:
            return web.json_response({"names": []} if q.name is None else {"series": []})
        spaces = limited_to(request)
        tags = dict(q.tags)
        if request.query.get("namespace"):
            tags["namespace"] = request.query["namespace"]
        if q.name is None:
            names = await asyncio.to_thread(store.names, spaces)
            return web.json_response({"names": names})
        series = await asyncio.to_thread(
            store.query, q.name, tags=tags, start=q.window.start, end=q.window.end,
            agg=q.agg, group_by=q.group_by, step=q.step, namespaces=spaces)
        return web.json_response({"name": q.name, "agg": q.agg, "from": q.window.start,
                                  "to": q.window.end, "group_by": q.group_by,
                                  "step": q.step, "series": series})

    async def rusage(self, request: web.Request) -> web.Response:
        """Task usage over the window per job or namespace: cpu-seconds and MiB-hours."""
        try:
            span, group_by = rusage_query(request.query, self.service.clock())
        except SpecError as exc:
            return error_response(400, f"invalid rusage query: {exc}", exc.problems)
        store = self._store()
        usage = [] if store is None else await asyncio.to_thread(
            store.rusage, start=span.start, end=span.end, group_by=group_by,
            namespaces=limited_to(request))
        return web.json_response({"from": span.start, "to": span.end, "group_by": group_by,
                                  "usage": usage})


ROUTES = [("POST", "/v1/metrics", "post"), ("GET", "/v1/metrics", "get"),
          ("GET", "/v1/rusage", "rusage")]


def add_metrics_routes(app: web.Application, service: FrameworkService) -> None:
    handlers = MetricsHandlers(service)
    for method, path, name in ROUTES:
        app.router.add_route(method, path, getattr(handlers, name))


class StoredMetricsCollector:
    """The metrics store on the framework's Prometheus `/metrics`: each series' newest
    value of the last five minutes (`berth_metric`, the metric's name as a label, as a
    name may hold characters Prometheus names may not) and the last hour's usage per
    namespace. `refresh()` reads the store off the loop before a scrape."""

    FRESH_SECONDS = 300.0
    LABELS = ("metric", "node", "job", "instance", "namespace")

    def __init__(self, service: FrameworkService) -> None:
        self.service = service
        self._latest: list = []
        self._usage: list[dict] = []

    async def refresh(self) -> None:
        store = self.service.metrics_store
        if store is None:
            return
        now = self.service.clock()
        try:
            self._latest = await asyncio.to_thread(store.latest, now - self.FRESH_SECONDS)
            self._usage = await asyncio.to_thread(store.rusage, start=now - 3600, end=now)
        except Exception:  # the database is away: the scrape shows the rest
            self._latest, self._usage = [], []

    def collect(self):
        values = GaugeMetricFamily("berth_metric", "Newest value of each stored metric "
                                   "series (last 5 minutes)", labels=list(self.LABELS))
        for series, _t, value in self._latest:
            values.add_metric([series.name, *(series.tags.get(k, "") for k in self.LABELS[1:])],
                              value)
        yield values
        cpu = GaugeMetricFamily("berth_rusage_cpu_seconds", "Task CPU used over the last "
                                "hour per namespace", labels=["namespace"])
        mem = GaugeMetricFamily("berth_rusage_mem_mib_hours", "Task memory used over the "
                                "last hour per namespace", labels=["namespace"])
        for row in self._usage:
            cpu.add_metric([row["namespace"]], row["cpu_seconds"])
            mem.add_metric([row["namespace"]], row["mem_mib_hours"])
        yield cpu
        yield mem
