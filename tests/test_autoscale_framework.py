"""Autoscaling through the framework's REST API, on a real SQLite store, with the
framework's clock injected and its tick driven by the test, metrics read from an
in-memory source (the metrics store's protocol). No master: the counts a user sees are
the job's desired counts and its instances, pending until offers come.
"""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner

from cli import main
from framework.autoscale_store import AutoscaleStore
from framework.autoscaling import Decision
from framework.store import FrameworkStore
from offers import autoscale
from tests.clocked_framework import call, framework_starter, http, tick_at
from tests.framework_harness import Clock
from tests.metric_source import InMemoryMetrics

__all__ = ["http"]  # the fixture

TASK = {"dockerimage": "berth/busybox", "cpus": 0.1, "mem": 16,
        "arguments": ["httpd", "-f", "-p", "8080"]}
T0 = 1_800_000_000.0


def service(name="web", **autoscale) -> dict:
    return {"name": name, "type": "service", "count": 1, "task": TASK,
            "autoscale": autoscale}


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def metrics():
    return InMemoryMetrics()


@pytest.fixture
async def start(tmp_path, clock, metrics):
    async for starter in framework_starter(tmp_path, clock, metric_source=metrics):
        yield starter



async def desired(http, fw, name="web") -> int:
    status, doc = await call(http, fw, "GET", f"/v1/jobs/{name}")
    assert status == 200, doc
    return doc["desired"]


PRESET = {"min": 1, "max": 4, "on_autoscaling": {
    "response_time_threshold": 2000, "adapt_interval": 1, "strategy": "medium",
    "sizes": [{"cpus": 0.5, "mem": 256}, {"cpus": 0.25, "mem": 128},
              {"cpus": 1, "mem": 512}]}}


async def test_a_service_scales_to_its_maximum_and_back_down_after_the_cooldown(
        start, clock, metrics, http):
    fw = await start()
    status, doc = await call(http, fw, "POST", "/v1/jobs", service(**PRESET))
    assert status == 201, doc
    assert doc["autoscale"]["min"] == 1 and doc["autoscale"]["interval"] == 60
    await tick_at(fw, clock, T0)  # no reading yet: a missing metric changes nothing
    assert await desired(http, fw) == 1

    counts = []
    for minute in range(1, 6):  # slow responses: one more instance a minute, up to 4
        at = T0 + 60 * minute
        metrics.record("response_time", 2450, at - 10, job="web", namespace="default")
        await tick_at(fw, clock, at)
        counts.append(await desired(http, fw))
    assert counts == [2, 3, 4, 4, 4]

    status, doc = await call(http, fw, "GET", "/v1/jobs/web/autoscale")
    assert status == 200
    newest = doc["decisions"][0]
    assert newest["desired"] == 4 and not newest["changed"]
    third = doc["decisions"][2]
    assert third["reason"] == ("count 3 -> 4: response_time mean 2,450 ms over 2,000 ms "
                               "for 3 intervals")
    assert third["inputs"] == {"response_time mean 60s": 2450}
    assert third["size"] == {"cpus": 0.5, "mem": 256}  # `medium` of the three sizes
    # instances added by the autoscaler have the size its strategy picked
    job = fw.service.scheduler.job("web")
    sizes = sorted((r.spec.cpus, r.spec.mem) for r in fw.service.scheduler.job_instances(job))
    assert sizes == [(0.1, 16), (0.5, 256), (0.5, 256), (0.5, 256)]

    # fast again: nothing changes until 300 s (the scale-down stabilization) after the last
    # call for 4, then one fewer a minute, down to the minimum
    quiet = T0 + 6 * 60
    counts = []
    for minute in range(0, 12):
        at = quiet + 60 * minute
        metrics.record("response_time", 300, at - 10, job="web", namespace="default")
        await tick_at(fw, clock, at)
        counts.append(await desired(http, fw))
    assert counts == [4, 4, 4, 4, 3, 2, 1, 1, 1, 1, 1, 1]
    status, doc = await call(http, fw, "GET", "/v1/jobs/web")
    last = doc["autoscale"]["last_decision"]
    assert last["reason"].startswith("count 1 kept: response_time mean 300 ms under "
                                     "1,000 ms")


async def test_without_a_metric_source_the_count_never_changes(start, clock, http):
    fw = await start(metric_source=None)
    status, doc = await call(http, fw, "POST", "/v1/jobs", service(**PRESET))
    assert status == 201, doc
    for minute in range(0, 10):
        await tick_at(fw, clock, T0 + 60 * minute)
    assert await desired(http, fw) == 1
    status, doc = await call(http, fw, "GET", "/v1/jobs/web/autoscale")
    assert {d["reason"] for d in doc["decisions"]} == {
        "count 1 kept: response_time mean missing: no metric, no change"}


async def test_decisions_and_the_resized_template_survive_a_restart(
        start, clock, metrics, http):
    fw = await start()
    await call(http, fw, "POST", "/v1/jobs", service(**PRESET))
    metrics.record("response_time", 5000, T0 - 1, job="web", namespace="default")
    await tick_at(fw, clock, T0)
    assert await desired(http, fw) == 2
    await fw.stop()
    fw = await start()
    status, doc = await call(http, fw, "GET", "/v1/jobs/web/autoscale")
    assert status == 200
    assert [d["reason"] for d in doc["decisions"]] == [
        "count 1 -> 2: response_time mean 5,000 ms over 2,000 ms"]
    job = fw.service.scheduler.job("web")
    assert (job.templates[0].cpus, job.templates[0].mem) == (0.5, 256)
    assert await desired(http, fw) == 2


async def test_a_deleted_job_takes_its_decisions_with_it(start, clock, metrics, http):
    fw = await start()
    await call(http, fw, "POST", "/v1/jobs", service(**PRESET))
    await tick_at(fw, clock, T0)
    status, _ = await call(http, fw, "DELETE", "/v1/jobs/web?force=true")
    assert status == 200
    clock.now = T0 + 1
    await call(http, fw, "POST", "/v1/jobs", service(**PRESET))
    await tick_at(fw, clock, T0 + 2)
    status, doc = await call(http, fw, "GET", "/v1/jobs/web/autoscale")
    assert [d["at"]["at"] for d in doc["decisions"]] == [T0 + 2]


@pytest.mark.parametrize(("autoscale", "field", "words"), [
    ({"max": 3, "rule": {"node": "threshold", "low": 1, "high": 2,
                         "of": {"node": "percentile", "name": "cpu"}}},
     "autoscale.rule.of.node", "unknown node type 'percentile'"),
    ({"min": 5, "max": 3, "rule": {"node": "threshold", "low": 1, "high": 2,
                                   "of": {"node": "metric", "name": "cpu"}}},
     "autoscale.min", "min 5 is above max 3"),
    ({"max": 3, "rule": {"node": "bounded", "min": 4, "max": 2, "of": {
        "node": "target", "value": 50, "of": {"node": "metric", "name": "cpu"}}}},
     "autoscale.rule.min", "min 4 is above max 2"),
    ({"max": 3, "rule": {"node": "metric", "name": "cpu"}},
     "autoscale.rule", "yields a metric value, not a count"),
    ({"max": 3, "rule": {"node": "target", "value": 50,
                         "of": {"node": "metric", "name": "cpu", "agg": "p99"}}},
     "autoscale.rule.of.agg", "'mean', 'max', 'min', 'sum' or 'last'"),
    ({"max": 3, "on_autoscaling": {"response_time_threshold": 2000,
                                   "strategy": "huge"}},
     "autoscale.on_autoscaling.strategy", "'low'"),
])
async def test_bad_autoscale_input_is_a_400_naming_the_field_and_nothing_is_stored(
        start, clock, http, autoscale, field, words):
    fw = await start()
    status, doc = await call(http, fw, "POST", "/v1/jobs", service(**autoscale))
    assert status == 400, doc
    problems = {p["field"]: p["problem"] for p in doc["errors"]}
    assert field in problems, problems
    assert words in problems[field]
    assert fw.service.scheduler.job("web") is None
    status, _ = await call(http, fw, "GET", "/v1/jobs/web")
    assert status == 404
    await fw.stop()
    fw = await start()
    assert fw.service.scheduler.job("web") is None


async def test_only_service_and_array_jobs_are_autoscaled(start, http):
    fw = await start()
    body = {**service(**PRESET), "type": "batch", "count": None}
    del body["count"]
    status, doc = await call(http, fw, "POST", "/v1/jobs", body)
    assert status == 400
    assert [p["field"] for p in doc["errors"]] == ["autoscale"]


async def test_every_autoscale_field_is_described_in_the_openapi_document(start, http):
    fw = await start()
    status, document = await call(http, fw, "GET", "/openapi.json")
    assert status == 200
    schemas = document["components"]["schemas"]
    models = (autoscale.AutoscalePolicy, autoscale.MetricNode, autoscale.PerInstanceNode,
              autoscale.AverageNode, autoscale.CombineNode, autoscale.ThresholdNode,
              autoscale.TargetNode, autoscale.BoundedNode, autoscale.OnAutoscaling,
              autoscale.InstanceSize, autoscale.ScaleUp, autoscale.ScaleDown)
    for model in models:
        for name in model.model_fields:
            assert schemas[model.__name__]["properties"][name].get("description"), \
                (model.__name__, name)
    assert "/v1/jobs/{name}/autoscale" in document["paths"]


async def test_berth_job_autoscale_prints_the_decisions(start, clock, metrics, http):
    fw = await start()
    await call(http, fw, "POST", "/v1/jobs", service(**PRESET))
    metrics.record("response_time", 2450, T0 - 1, job="web", namespace="default")
    await tick_at(fw, clock, T0)
    runner = CliRunner()

    async def berth(*args):
        result = await asyncio.to_thread(runner.invoke, main, [*args, "--url", fw.url],
                                         env={"COLUMNS": "200"})
        return result.exit_code, result.output

    code, out = await berth("job", "autoscale", "web")
    assert code == 0, out
    assert "1 -> 2" in out and "response_time mean 2,450 ms over 2,000 ms" in out
    code, out = await berth("job", "status", "web")
    assert code == 0, out
    assert "autoscaled 1..4 every 60 s; last decision: count 1 -> 2" in out


def test_the_store_keeps_the_newest_100_decisions_per_job(tmp_path):
    store = FrameworkStore(f"sqlite:///{tmp_path}/f.db")
    store.migrate()
    decisions = AutoscaleStore(store.engine)
    for start in range(0, 130, 10):
        decisions.add([Decision(job, T0 + i, 1, 1, 1, f"{job} {i}")
                       for i in range(start, start + 10) for job in ("web", "api")])
    kept = decisions.load()
    assert [d.at for d in kept["web"]] == [T0 + i for i in range(30, 130)]
    assert len(kept["api"]) == 100
    decisions.forget(["api"])
    assert set(decisions.load()) == {"web"}
    store.close()
