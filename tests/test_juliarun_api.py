"""JuliaRun's HTTP API on a real framework over real HTTP (no master: nothing launches,
so what is tested here is what the API stores, refuses and answers; the Docker flow is in
tests/test_juliarun_docker.py). Answers are JuliaWebAPI's `{"code": 0, "data": ...}`."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal

import aiohttp
import pytest
from click.testing import CliRunner

from api.framework_server import start_framework
from cli import main
from cli.signals import on_hangup

CONFIG = {
    "log": {"level": "INFO", "filename": "juliarun.log"},
    "clustertype": "JuliaRun.KuberClusters.KuberCluster",
    "images": {"julia": {"image": "berth/busybox", "executable": "sh"}},
    "storage": {"hostpath": [{"name": "juliarun", "path": "/tmp/juliarun-api-test"}]},
}
HELLO = {"name": "hello", "start_script": "/mnt/juliarun/hello.sh", "run_volume": "juliarun"}


@pytest.fixture
async def julia(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(CONFIG))
    fw = await start_framework(None, "127.0.0.1", 0, juliarun_config=config,
                               db_url=f"sqlite:///{(tmp_path / 'berth.db').resolve()}")
    fw.access.poll_seconds = 0.1
    async with aiohttp.ClientSession() as http:
        yield fw, http, config
    await fw.stop()


async def call(http, url: str, path: str, status: int = 200, method: str = "GET",
               **params) -> dict:
    async with http.request(method, f"{url}{path}", params=params) as resp:
        body = await resp.json()
        assert resp.status == status, body
        return body


async def data(http, url: str, path: str, **params):
    body = await call(http, url, path, **params)
    assert body["code"] == 0, body
    return body["data"]


async def test_submit_then_status_scale_list_and_delete(julia):
    fw, http, _ = julia
    url = fw.url
    assert await data(http, url, "/getSystemStatus") is False  # no master here
    assert await data(http, url, "/submitJob/JuliaParBatch/", **HELLO, nworkers="2",
                      worker_start_script="/mnt/juliarun/worker.sh") is None
    assert await data(http, url, "/listJobs") == {"hello": {"type": "JuliaParBatch"}}
    # (completed, workers succeeded, workers, created, notebook): nothing launched yet
    assert await data(http, url, "/getJobStatus/JuliaParBatch/", name="hello") == [
        False, 0, 2, False, False]
    assert await data(http, url, "/getJobScale/JuliaParBatch/", name="hello") == [0, 2]
    assert await data(http, url, "/setJobScale/JuliaParBatch/", name="hello",
                      parallelism="3") is True
    assert await data(http, url, "/getJobScale/JuliaParBatch/", name="hello") == [0, 3]
    assert await data(http, url, "/getJobEndpoint/JuliaParBatch/", name="hello") == [[], {}]
    info = await data(http, url, "/getAllJobInfo")
    assert info == {"hello": {"type": "JuliaParBatch", "status": [False, 0, 3, False, False],
                              "scale": [0, 3], "endpoint": [[], {}]}}
    # berth's own API shows the same job: a parallel one, labelled with its JuliaRun type
    async with http.get(f"{url}/v1/jobs/hello") as resp:
        job = await resp.json()
    assert job["type"] == "parallel" and job["desired"] == 4
    assert job["spec"]["labels"]["juliarun.type"] == "JuliaParBatch"
    assert job["spec"]["master"]["arguments"] == ["sh", "/mnt/juliarun/hello.sh"]
    # an incomplete job is refused without force
    body = await call(http, url, "/deleteJob/JuliaParBatch/", 409, name="hello")
    assert body["code"] == 409 and "force=true" in body["data"]
    assert await data(http, url, "/deleteJob/JuliaParBatch/", name="hello",
                      force="true") is True
    assert await data(http, url, "/listJobs") == {}


async def test_post_takes_the_parameters_in_a_json_body(julia):
    fw, http, _ = julia
    async with http.post(f"{fw.url}/submitJob/JuliaBatch/", json={**HELLO, "cpu": "1"}) \
            as resp:
        assert resp.status == 200 and (await resp.json()) == {"code": 0, "data": None}
    async with http.get(f"{fw.url}/v1/jobs/hello") as resp:
        assert (await resp.json())["spec"]["task"]["cpus"] == 1.0


@pytest.mark.parametrize(("path", "params", "field", "words"), [
    ("/submitJob/JuliaQuantum/", HELLO, "JobType", "not a JuliaRun job type"),
    ("/submitJob/JuliaBatch/", {**HELLO, "colour": "blue"}, "colour", "unknown parameter"),
    ("/submitJob/JuliaBatch/", {**HELLO, "ports": "http:80:x"}, "ports", "port number"),
    ("/submitJob/JuliaBatch/", {**HELLO, "ports": "a:1:2:3"}, "ports",
     "name:container:service"),
    ("/submitJob/JuliaBatch/", {**HELLO, "memory": "12Qi"}, "memory", "not a quantity"),
    ("/submitJob/JuliaBatch/", {**HELLO, "image": "julia-0.4"}, "image", "not an image"),
    ("/submitJob/JuliaBatch/", {**HELLO, "run_volume": "gce"}, "run_volume", "not a volume"),
    ("/submitJob/JuliaBatch/", {"name": "x"}, "start_script", "is required"),
])
async def test_bad_input_is_refused_by_name_and_nothing_is_stored(julia, path, params,
                                                                  field, words):
    fw, http, _ = julia
    body = await call(http, fw.url, path, 400, **params)
    assert body["code"] == 400
    assert field in body["data"] and words in body["data"], body
    assert any(e["field"] == field and words in e["problem"] for e in body["errors"])
    assert await data(http, fw.url, "/listJobs") == {}
    async with http.get(f"{fw.url}/v1/jobs") as resp:
        assert (await resp.json())["jobs"] == []


async def test_refusals_on_existing_jobs(julia):
    fw, http, _ = julia
    url = fw.url
    await data(http, url, "/submitJob/JuliaBatch/", **HELLO)
    body = await call(http, url, "/submitJob/JuliaBatch/", 409, **HELLO)
    assert "exists already" in body["data"]
    body = await call(http, url, "/getJobStatus/JuliaParBatch/", 404, name="hello")
    assert "is a JuliaBatch job" in body["data"]
    body = await call(http, url, "/getJobStatus/JuliaBatch/", 404, name="nobody")
    assert body["code"] == 404
    body = await call(http, url, "/setJobScale/JuliaBatch/", 409, name="hello",
                      parallelism="2")
    assert "no workers" in body["data"]
    body = await call(http, url, "/getJobStatus/JuliaBatch/", 400)
    assert "name: is required" in body["data"]
    body = await call(http, url, "/tailJob/JuliaBatch/", 400, name="hello",
                      stream="stdin", count="-1")
    assert {e["field"] for e in body["errors"]} == {"stream", "count"}
    body = await call(http, url, "/deleteJob/JuliaBatch/", 400, name="hello", force="yes!")
    assert body["errors"][0]["field"] == "force"
    assert await data(http, url, "/getJobScale/JuliaBatch/", name="hello") == [0, 0]


async def test_reconfigure_loads_a_new_file_and_refuses_a_broken_one(julia):
    fw, http, config = julia
    url = fw.url
    await data(http, url, "/submitJob/JuliaBatch/", **HELLO)
    changed = {**CONFIG, "images": {"julia": {"image": "berth/other", "executable": "ash"}}}
    config.write_text(json.dumps(changed))
    assert await data(http, url, "/reconfigure") is True
    await data(http, url, "/submitJob/JuliaBatch/", **{**HELLO, "name": "second"})
    config.write_text('{"images": {"julia": ')  # does not parse
    body = await call(http, url, "/reconfigure", 422)
    assert body["code"] == 422 and "not JSON" in body["data"] and "stays" in body["data"]
    config.write_text(json.dumps({"storage": {"nfs": []}}))
    body = await call(http, url, "/reconfigure", 422)
    assert "storage.nfs" in body["data"]
    await data(http, url, "/submitJob/JuliaBatch/", **{**HELLO, "name": "third"})
    images = {}
    for name in ("hello", "second", "third"):
        async with http.get(f"{url}/v1/jobs/{name}") as resp:
            images[name] = (await resp.json())["spec"]["task"]["dockerimage"]
    # the first job untouched by the reload; the broken file changed nothing
    assert images == {"hello": "berth/busybox", "second": "berth/other",
                      "third": "berth/other"}
    assert "configuration loaded" in (config.parent / "juliarun.log").read_text()


async def test_sighup_reloads_the_file(julia):
    fw, _, config = julia
    on_hangup(fw.juliarun.reload)
    try:
        config.write_text(json.dumps({**CONFIG, "images": {
            "julia": {"image": "berth/after-hup", "executable": "sh"}}}))
        os.kill(os.getpid(), signal.SIGHUP)
        for _ in range(100):
            if fw.juliarun.config.images["julia"].image == "berth/after-hup":
                break
            await asyncio.sleep(0.05)
        assert fw.juliarun.config.images["julia"].image == "berth/after-hup"
    finally:
        asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)


# -- jruntok and jrunns -----------------------------------------------------------------


def berth(data_dir, *args: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(main, [*args, "--data-dir", str(data_dir)], input=stdin,
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def token(data_dir, *args: str) -> str:
    return berth(data_dir, "token", "create", *args).strip().splitlines()[-1]


async def test_jruntok_authenticates_and_jrunns_chooses_the_namespace(julia, tmp_path):
    fw, http, _ = julia
    url = fw.url
    berth(tmp_path, "user", "add", "root", "--admin", "--password-stdin", stdin="rootpass1\n")
    berth(tmp_path, "user", "add", "alice", "--namespace", "team-a", "--namespace",
          "team-b", "--password-stdin", stdin="alicepass\n")
    alice = token(tmp_path, "--user", "alice")
    reader = token(tmp_path, "--user", "alice", "--scope", "read")
    for _ in range(100):  # the gate reloads users within 0.1 s
        async with http.get(f"{url}/listJobs") as resp:
            if resp.status == 401:
                break
        await asyncio.sleep(0.1)
    body = await call(http, url, "/listJobs", 401)
    assert body["code"] == 401
    # the token as it is, and base64 encoded as JuliaRun's clients send theirs
    assert await data(http, url, "/submitJob/JuliaBatch/", **HELLO, jruntok=alice,
                      jrunns="team-b") is None
    encoded = base64.b64encode(alice.encode()).decode()
    assert await data(http, url, "/listJobs", jruntok=encoded) == {
        "hello": {"type": "JuliaBatch"}}
    assert await data(http, url, "/listJobs", jruntok=alice, jrunns="team-a") == {}
    async with http.get(f"{url}/v1/jobs/hello", params={"jruntok": alice}) as resp:
        assert (await resp.json())["namespace"] == "team-b"
    assert await data(http, url, "/getJobStatus/JuliaBatch/", name="hello",
                      jruntok=alice, jrunns="team-b") == [False, 0, 0, False, False]
    body = await call(http, url, "/getJobStatus/JuliaBatch/", 404, name="hello",
                      jruntok=alice, jrunns="team-a")  # not in that namespace
    # a namespace that is not hers, and a wrong token
    await call(http, url, "/submitJob/JuliaBatch/", 403, **{**HELLO, "name": "x"},
               jruntok=alice, jrunns="default")
    await call(http, url, "/listJobs", 401, jruntok="berth_nope")
    # a read token may look but not act, even with GET
    assert "hello" in await data(http, url, "/listJobs", jruntok=reader)
    body = await call(http, url, "/deleteJob/JuliaBatch/", 403, name="hello",
                      force="true", jruntok=reader)
    assert "needs write" in json.dumps(body)
    # /reconfigure is an admin's
    await call(http, url, "/reconfigure", 403, jruntok=alice)
    assert await data(http, url, "/listJobs", jruntok=reader) == {
        "hello": {"type": "JuliaBatch"}}
    # what acts is audited as a write though sent as GET; the token is not in the log
    root = {"Authorization": aiohttp.encode_basic_auth("root", "rootpass1")}
    async with http.get(f"{url}/v1/audit", headers=root) as resp:
        entries = (await resp.json())["entries"]
    actions = [(e["action"], e["status"]) for e in entries]
    assert ("GET /deleteJob/JuliaBatch/", 403) in actions
    assert ("GET /submitJob/JuliaBatch/", 200) in actions
    assert not any(a.startswith("GET /listJobs") for a, _ in actions)
    assert alice not in json.dumps(entries)


async def test_a_namespace_that_is_no_dns_label_is_refused_and_nothing_stored(julia):
    fw, http, _ = julia
    body = await call(http, fw.url, "/submitJob/JuliaBatch/", 400, **HELLO,
                      jrunns="Team_A")
    assert body["errors"][0]["field"] == "jrunns" and "DNS label" in body["data"]
    job = {"name": "web", "task": {"dockerimage": "berth/busybox"}}
    async with http.post(f"{fw.url}/v1/jobs", params={"namespace": "Team_A"}, json=job) \
            as resp:  # berth's own job API refuses it the same way
        assert resp.status == 400
        assert (await resp.json())["errors"][0]["field"] == "namespace"
    async with http.get(f"{fw.url}/v1/jobs") as resp:
        assert (await resp.json())["jobs"] == []


async def test_workers_start_at_none_and_are_scaled_later(julia):
    """JuliaParBatchWorkers' `nworkers` defaults to 0, "can be scaled later": an array
    of no units waits to be scaled instead of being done at once."""
    fw, http, _ = julia
    url = fw.url
    await data(http, url, "/submitJob/JuliaParBatchWorkers/", **HELLO)
    assert await data(http, url, "/getJobStatus/JuliaParBatchWorkers/", name="hello") == [
        False, 0, 0, False, False]
    assert await data(http, url, "/setJobScale/JuliaParBatchWorkers/", name="hello",
                      parallelism="2") is True
    assert await data(http, url, "/getJobScale/JuliaParBatchWorkers/", name="hello") == [
        0, 2]
    async with http.get(f"{url}/v1/jobs/hello") as resp:
        job = await resp.json()
    assert (job["type"], job["phase"], job["pending"]) == ("array", "pending", 2)
