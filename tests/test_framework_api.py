"""The Charmander REST API over real HTTP on loopback, with a real SQLite store.

No master here: tasks stay PENDING, which is all the API's own contract needs.
"""

from __future__ import annotations

import json

import aiohttp
import pytest

from api.framework_server import start_framework

STRESS60 = {"id": "stress60", "dockerimage": "stress", "mem": "100", "reshuffleable": True,
            "nodetype": "lab", "arguments": ["--vm-bytes", "60M", "--vm", "1"]}


@pytest.fixture
async def framework(tmp_path):
    fw = await start_framework(None, "127.0.0.1", 0, db_url=f"sqlite:///{tmp_path / 'b.db'}")
    yield fw
    await fw.stop()


@pytest.fixture
async def http():
    # Bodies are declared JSON, as the seed's curl session does (text/plain is a 415).
    async with aiohttp.ClientSession(headers={"Content-Type": "application/json"}) as session:
        yield session


async def test_ping_answers_pong(framework, http):
    async with http.get(f"{framework.url}/admin/ping") as resp:
        assert resp.status == 200
        assert await resp.text() == "pong"


async def test_submit_answers_202_and_the_task_is_listed_pending(framework, http):
    async with http.post(f"{framework.url}/client/task", data=json.dumps(STRESS60),
                         headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 202
        body = await resp.json()
        location = resp.headers["Location"]
    assert body == {"code": 202, "message": "Run task: stress60"}
    internal = location.removeprefix("/v1/tasks/")
    assert internal.startswith("stress60-") and internal.split("-")[-1].isdigit()
    async with http.get(f"{framework.url}/client/task") as resp:
        [item] = await resp.json()
    assert item["internal_id"] == item["InternalID"] == internal
    assert item["state"] == "PENDING" and item["reason"]
    assert item["running"] is False and item["Running"] is False
    assert item["dockerimage"] == "stress" and item["mem"] == 100.0
    for field in ("agent_id", "hostname", "container_id", "container_name", "created_at",
                  "SlaveID", "ContainerID", "ContainerName", "CreatedAt"):
        assert field in item


async def test_put_upload_works_like_post(framework, http):
    async with http.put(f"{framework.url}/client/task", data=json.dumps(STRESS60)) as resp:
        assert resp.status == 202


async def test_kill_by_prefix_and_404_when_nothing_matches(framework, http):
    ids = []
    for name in ("stress60", "stress80", "other"):
        async with http.post(f"{framework.url}/client/task",
                             data=json.dumps({**STRESS60, "id": name})) as resp:
            ids.append(resp.headers["Location"].removeprefix("/v1/tasks/"))
    async with http.delete(f"{framework.url}/client/task/stress60") as resp:
        assert resp.status == 200
        assert await resp.json() == {"code": 200, "message": f"Kill task: {ids[0]}"}
    async with http.delete(f"{framework.url}/client/task/stress") as resp:
        assert resp.status == 200
        assert await resp.json() == {"code": 200, "message": f"Kill task: {ids[1]}"}
    async with http.post(f"{framework.url}/client/task",
                         data=json.dumps({**STRESS60, "id": "stress90"})) as resp:
        ids.append(resp.headers["Location"].removeprefix("/v1/tasks/"))
    async with http.post(f"{framework.url}/client/task",
                         data=json.dumps({**STRESS60, "id": "stress91"})) as resp:
        ids.append(resp.headers["Location"].removeprefix("/v1/tasks/"))
    async with http.delete(f"{framework.url}/client/task/stress9") as resp:
        assert resp.status == 200
        assert await resp.json() == [{"code": 200, "message": f"Kill task: {i}"}
                                     for i in ids[3:]]
    async with http.delete(f"{framework.url}/client/task/nothing") as resp:
        assert resp.status == 404
        body = await resp.json()
        assert body["code"] == 404 and body["errors"][0]["field"] == "prefix"
    async with http.get(f"{framework.url}/client/task") as resp:
        states = {t["internal_id"]: t["state"] for t in await resp.json()}
    assert states == {ids[0]: "KILLED", ids[1]: "KILLED", ids[2]: "PENDING",
                      ids[3]: "KILLED", ids[4]: "KILLED"}


async def test_reshuffle_answers_202(framework, http):
    async with http.get(f"{framework.url}/client/task/reshuffle") as resp:
        assert resp.status == 202
        assert await resp.json() == {"code": 202, "message": "Reshuffle tasks"}


BAD = [
    ("malformed JSON", b'{"id": "x", ', "body"),
    ("not an object", b'["x"]', ""),
    ("empty body", b"", "body"),
    ("not UTF-8", b'{"id": "\xff"}', "body"),
    ("missing id", json.dumps({"dockerimage": "x"}).encode(), "id"),
    ("missing dockerimage", json.dumps({"id": "x"}).encode(), "dockerimage"),
    ("wrong type", json.dumps({"id": "x", "dockerimage": "y", "mem": [1]}).encode(), "mem"),
    ("mem as bool", json.dumps({"id": "x", "dockerimage": "y", "mem": True}).encode(), "mem"),
    ("mem <= 0", json.dumps({"id": "x", "dockerimage": "y", "mem": "0"}).encode(), "mem"),
    ("unknown sla", json.dumps({"id": "x", "dockerimage": "y", "sla": "twice"}).encode(),
     "sla"),
    ("unknown networkmode",
     json.dumps({"id": "x", "dockerimage": "y", "networkmode": "mesh"}).encode(),
     "networkmode"),
    ("host ports with host networking",
     json.dumps({"id": "x", "dockerimage": "y", "networkmode": "host",
                 "ports": [{"host_port": 31500, "container_port": 80}]}).encode(), "ports"),
    ("duplicate host port",
     json.dumps({"id": "x", "dockerimage": "y",
                 "ports": [{"host_port": 31500, "container_port": 80},
                           {"host_port": "31500", "container_port": 81}]}).encode(), "ports"),
    ("relative volume path",
     json.dumps({"id": "x", "dockerimage": "y", "volumes": [
         {"host_path": "data", "container_path": "/data", "mode": "rw"}]}).encode(),
     "volumes[0].host_path"),
    ("bad volume mode",
     json.dumps({"id": "x", "dockerimage": "y", "volumes": [
         {"host_path": "/d", "container_path": "/data", "mode": "rwx"}]}).encode(),
     "volumes[0].mode"),
    ("unknown field", json.dumps({"id": "x", "dockerimage": "y", "colour": 1}).encode(),
     "colour"),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD, ids=[c[0] for c in BAD])
async def test_bad_task_json_is_a_400_naming_the_field(framework, http, case, body, field):
    async with http.post(f"{framework.url}/client/task", data=body) as resp:
        assert resp.status == 400, case
        answer = await resp.json()
    assert answer["code"] == 400 and answer["message"]
    assert field in [e["field"] for e in answer["errors"]], answer


async def test_oversized_body_unknown_route_and_wrong_method_are_json(framework, http):
    big = json.dumps({**STRESS60, "arguments": ["x" * 100_000]})
    async with http.post(f"{framework.url}/client/task", data=big) as resp:
        assert resp.status == 413
        assert (await resp.json())["errors"][0]["field"] == "body"
    async with http.get(f"{framework.url}/no/such/route") as resp:
        assert resp.status == 404
        assert (await resp.json())["code"] == 404
    async with http.patch(f"{framework.url}/client/task") as resp:
        assert resp.status == 405
        assert (await resp.json())["code"] == 405


async def test_bad_input_loses_nothing_and_the_server_keeps_serving(framework, http):
    async with http.post(f"{framework.url}/client/task", data=json.dumps(STRESS60)) as resp:
        internal = resp.headers["Location"].removeprefix("/v1/tasks/")
    for _case, body, _field in BAD:
        async with http.post(f"{framework.url}/client/task", data=body) as resp:
            assert 400 <= resp.status < 500
    async with http.get(f"{framework.url}/client/task") as resp:
        assert [t["internal_id"] for t in await resp.json()] == [internal]


async def test_accepted_tasks_survive_a_restart(tmp_path, http):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    fw = await start_framework(None, "127.0.0.1", 0, db_url=url)
    async with http.post(f"{fw.url}/client/task", data=json.dumps(STRESS60)) as resp:
        internal = resp.headers["Location"].removeprefix("/v1/tasks/")
    await fw.stop()
    fw = await start_framework(None, "127.0.0.1", 0, db_url=url)
    try:
        async with http.get(f"{fw.url}/client/task") as resp:
            [item] = await resp.json()
        assert item["internal_id"] == internal and item["state"] == "PENDING"
    finally:
        await fw.stop()


async def test_v1_endpoints(framework, http):
    async with http.post(f"{framework.url}/v1/tasks", data=json.dumps(STRESS60)) as resp:
        internal = resp.headers["Location"].removeprefix("/v1/tasks/")
    async with http.get(f"{framework.url}/v1/tasks?state=pending") as resp:
        assert [t["internal_id"] for t in (await resp.json())["tasks"]] == [internal]
    async with http.get(f"{framework.url}/v1/tasks?state=sleepy") as resp:
        assert resp.status == 400
    async with http.get(f"{framework.url}/v1/tasks/{internal}") as resp:
        assert (await resp.json())["pending_reason"]
    async with http.get(f"{framework.url}/v1/tasks/nope") as resp:
        assert resp.status == 404
    samples = {"samples": [{"task_id": internal, "cpus": 0.2, "mem": 20}]}
    async with http.post(f"{framework.url}/v1/usage", json=samples) as resp:
        assert resp.status == 202
    async with http.get(f"{framework.url}/v1/usage") as resp:
        assert (await resp.json())["usage"] == [
            {"submission_id": internal, "peak_cpus": 0.2, "peak_mem": 20.0}]
    async with http.post(f"{framework.url}/v1/usage", json={"samples": [{"mem": -1}]}) as resp:
        assert resp.status == 400
    for path in ("/v1/agents", "/v1/offers"):
        async with http.get(f"{framework.url}{path}") as resp:
            assert resp.status == 200


async def test_metrics_count_tasks_by_state(framework, http):
    async with http.post(f"{framework.url}/client/task", data=json.dumps(STRESS60)) as resp:
        assert resp.status == 202
    async with http.get(f"{framework.url}/metrics") as resp:
        text = await resp.text()
    assert 'berth_framework_tasks{state="PENDING"} 1.0' in text
    assert "berth_framework_submissions_total 1.0" in text
    assert "berth_framework_offer_round_trip_seconds_bucket" in text
    assert "berth_framework_launch_latency_seconds_bucket" in text
