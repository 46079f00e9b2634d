"""Metrics on the framework's REST API: custom samples posted one at a time, in batches or
JuliaRun's several-at-once form come back aggregated, grouped and stepped; a task
instance's samples are tagged with its job and namespace; usage adds up in cpu-seconds and
MiB-hours; Prometheus shows them; bad input is a 400 naming the field and stores nothing;
a team sees only its own series. Real HTTP, real SQLite, no master."""

from __future__ import annotations

import json
import time

import aiohttp
import pytest

from api.framework_server import start_framework
from tests.test_namespaces_http import auth, berth

JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def fw(tmp_path):
    running = await start_framework(None, "127.0.0.1", 0,
                                    db_url=f"sqlite:///{tmp_path / 'b.db'}")
    async with aiohttp.ClientSession() as http:
        yield running.url, http
    await running.stop()


async def _post(http, url, body, headers=JSON, raw: str | None = None):
    data = raw if raw is not None else json.dumps(body)
    async with http.post(f"{url}/v1/metrics", data=data, headers=headers) as r:
        return r.status, await r.json()


async def _get(http, url, path, headers=None):
    async with http.get(f"{url}{path}", headers=headers) as r:
        return r.status, await r.json()


async def test_posted_samples_come_back_aggregated_grouped_and_stepped(fw):
    url, http = fw
    now = time.time() // 60 * 60 - 120  # two whole minutes ago
    status, answer = await _post(http, url, [
        {"resource": "queue_depth", "value": v, "at": now + i * 20,
         "tags": {"node": f"n{i % 2}"}} for i, v in enumerate([1, 2, 3, 4, 5, 6])])
    assert (status, answer["stored"]) == (201, 6)
    status, _ = await _post(http, url, {"resource": "queue_depth", "value": 7.5})
    assert status == 201  # `at` defaults to now
    status, answer = await _post(http, url, {"metrics": {"a.b": 1, "c:d-e": 2}, "at": now})
    assert (status, answer["stored"]) == (201, 2)

    status, names = await _get(http, url, "/v1/metrics")
    assert status == 200 and {"queue_depth", "a.b", "c:d-e"} <= set(names["names"])
    q = f"/v1/metrics?name=queue_depth&from={now}&to={now + 120}"
    status, mean = await _get(http, url, q)
    assert status == 200 and mean["series"] == [{"group": {}, "value": 3.5}]
    _, by_node = await _get(http, url, q + "&agg=max&group_by=node")
    assert by_node["series"] == [{"group": {"node": "n0"}, "value": 5.0},
                                 {"group": {"node": "n1"}, "value": 6.0}]
    _, stepped = await _get(http, url, q + "&agg=sum&step=1m")
    assert stepped["series"][0]["points"] == [[now, 6.0], [now + 60, 15.0]]
    _, last = await _get(http, url, "/v1/metrics?name=queue_depth&agg=last&from=-5m")
    assert last["series"][0]["value"] == 7.5
    _, node_only = await _get(http, url, q + "&node=n1&agg=min")
    assert node_only["series"] == [{"group": {}, "value": 2.0}]


async def test_a_task_instances_metrics_are_tagged_with_its_job_and_namespace(fw):
    url, http = fw
    async with http.post(f"{url}/v1/jobs", headers=JSON, data=json.dumps({
            "name": "web", "type": "service", "count": 1, "namespace": "shop",
            "task": {"dockerimage": "berth/busybox", "mem": 16, "cpus": 0.1}})) as r:
        assert r.status == 201
        [instance] = [i["id"] for i in (await r.json())["instances"]]
    status, _ = await _post(http, url, {"resource": "response_time", "value": 120,
                                        "tags": {"instance": instance}})
    assert status == 201
    _, by_job = await _get(http, url, "/v1/metrics?name=response_time&group_by=job")
    assert by_job["series"] == [{"group": {"job": "web"}, "value": 120.0}]
    _, by_ns = await _get(http, url, "/v1/metrics?name=response_time&group_by=namespace")
    assert by_ns["series"] == [{"group": {"namespace": "shop"}, "value": 120.0}]
    status, wrong = await _post(http, url, {"resource": "response_time", "value": 1,
                                            "tags": {"instance": instance, "job": "db"}})
    assert status == 400 and wrong["errors"][0]["field"] == "tags.job"


async def test_rusage_in_cpu_seconds_and_mib_hours_and_prometheus(fw):
    url, http = fw
    now = time.time() - 100
    samples = [{"resource": name, "value": value, "at": now + i * 5,
                "tags": {"job": "batch", "namespace": "lab", "instance": "batch-1"}}
               for i in range(12) for name, value in (("cpu", 0.5), ("mem", 256))]
    assert (await _post(http, url, samples))[0] == 201
    status, usage = await _get(http, url, "/v1/rusage?from=-10m&group_by=job")
    assert status == 200
    assert usage["usage"] == [{"job": "batch", "cpu_seconds": 30.0,
                               "mem_mib_hours": pytest.approx(256 * 60 / 3600, abs=1e-3)}]
    _, by_ns = await _get(http, url, "/v1/rusage")
    assert [u["namespace"] for u in by_ns["usage"]] == ["lab"]
    async with http.get(f"{url}/metrics") as r:
        text = await r.text()
    assert 'berth_metric{instance="batch-1",job="batch",metric="cpu",namespace="lab"' in text
    assert 'berth_rusage_cpu_seconds{namespace="lab"} 30.0' in text


BAD_POSTS = [
    ({"resource": "cpu", "value": "NaN-ish"}, None, "value", "must be a number"),
    (None, '{"resource": "cpu", "value": NaN}', "value", "finite"),
    (None, '{"resource": "cpu", "value": 1e999}', "value", "finite"),
    (None, '[{"resource": "ok", "value": 1}, {"resource": "cpu", "value": -Infinity}]',
     "1.value", "finite"),
    ({"resource": "cpu load", "value": 1}, None, "resource", "not a metric name"),
    ({"resource": "cpu/1", "value": 1}, None, "resource", "not a metric name"),
    ({"metrics": {"bad name": 1}}, None, "metrics.bad name", "not a metric name"),
    ({"resource": "cpu", "value": 1, "at": 4e9}, None, "at", "in the future"),
    ({"resource": "cpu", "value": 1, "at": -5}, None, "at", "before 1970"),
    ({"resource": "cpu", "value": 1, "tags": {"node": 5}}, None, "tags.node", "string"),
    ({"resource": "cpu", "value": 1, "tags": {"bad key": "x"}}, None, "tags.bad key",
     "tag name"),
    ([], None, "", "no samples"),
]


@pytest.mark.parametrize("body, raw, field, problem", BAD_POSTS)
async def test_bad_samples_are_400_naming_the_field_and_nothing_is_stored(
        fw, body, raw, field, problem):
    url, http = fw
    status, answer = await _post(http, url, body, raw=raw)
    assert status == 400, answer
    assert any(e["field"] == field and problem in e["problem"] for e in answer["errors"]), \
        answer
    _, names = await _get(http, url, "/v1/metrics")
    assert names["names"] == []  # not even the good sample of a bad batch


BAD_QUERIES = [
    ("/v1/metrics?name=cpu&agg=median", "agg"),
    ("/v1/metrics?name=cpu&group_by=rack", "group_by"),
    ("/v1/metrics?name=cpu%20load", "name"),
    ("/v1/metrics?name=cpu&from=yesterday", "from"),
    ("/v1/metrics?name=cpu&from=-1m&to=-2m", "from"),
    ("/v1/metrics?name=cpu&step=0", "step"),
    ("/v1/metrics?name=cpu&from=0&step=1s", "step"),
    ("/v1/rusage?group_by=node", "group_by"),
    ("/v1/rusage?to=soon", "to"),
]


@pytest.mark.parametrize("path, field", BAD_QUERIES)
async def test_bad_queries_are_400_naming_the_parameter(fw, path, field):
    url, http = fw
    status, answer = await _get(http, url, path)
    assert status == 400 and field in {e["field"] for e in answer["errors"]}, answer


async def test_a_team_sees_only_its_own_series_and_posts_only_into_its_namespace(tmp_path):
    for user, space in (("alice", "team-a"), ("bob", "team-b")):
        berth(tmp_path, "user", "add", user, "--namespace", space, "--password-stdin",
              stdin=f"{user}-pass1\n")
    fw = await start_framework(None, "127.0.0.1", 0,
                               db_url=f"sqlite:///{(tmp_path / 'berth.db').resolve()}")
    try:
        async with aiohttp.ClientSession() as http:
            status, _ = await _post(http, fw.url, {"resource": "secret", "value": 1},
                                    headers=auth("alice"))
            assert status == 201  # into her only namespace
            status, refused = await _post(http, fw.url, {"resource": "x", "value": 1,
                                                         "tags": {"namespace": "team-a"}},
                                          headers=auth("bob"))
            assert status == 403 and refused["errors"][0]["field"] == "namespace"
            _, hers = await _get(http, fw.url, "/v1/metrics?name=secret&group_by=namespace",
                                 headers=auth("alice"))
            assert hers["series"] == [{"group": {"namespace": "team-a"}, "value": 1.0}]
            _, his = await _get(http, fw.url, "/v1/metrics?name=secret", headers=auth("bob"))
            assert his["series"] == []
            _, names = await _get(http, fw.url, "/v1/metrics", headers=auth("bob"))
            assert names["names"] == []
    finally:
        await fw.stop()
