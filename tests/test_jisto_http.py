"""Jisto's RESTful API on the framework's port, as seed 000 section 5 calls it: real
HTTP, real SQLite, no master (a job that runs stays Pending). Every route, every bad
input of the issue (an unknown operation, an archive without config.json, iterations
that is not a positive whole number, `../` paths): a 4xx naming the field, and nothing
stored; drafts survive a restart; a caller sees only its namespace's jobs."""

from __future__ import annotations

import dataclasses
import json

import aiohttp
import pytest
from click.testing import CliRunner

from api.framework_server import start_framework
from cli import main
from framework.jisto_store import JistoStore
from framework.store import FrameworkStore
from offers.jisto import JistoJob, JistoTask, parse_job_source
from tests.test_jisto_source import archive, config

JSON = {"Content-Type": "application/json", "Accept": "application/json"}


class Jisto:
    """A client of one framework, with a look at what its store holds."""

    def __init__(self, url: str, http: aiohttp.ClientSession, db_url: str) -> None:
        self.url, self.http, self.db_url = url, http, db_url

    async def call(self, method: str, path: str, body=None, headers=None,
                   data=None) -> tuple[int, dict]:
        if data is None and body is not None:
            data = json.dumps(body)
        async with self.http.request(method, f"{self.url}{path}", data=data,
                                     headers=JSON if headers is None else headers) as resp:
            return resp.status, await resp.json()

    async def job(self, name: str = "MikeTestJob") -> str:
        status, answer = await self.call("POST", "/v1/job", {"Name": name})
        assert status == 200, answer
        return answer["UUID"]

    async def task(self, job: str, image: str = "berth/busybox", **extra) -> str:
        status, answer = await self.call("POST", "/v1/task",
                                         {"Image": image, "JobUUID": job, **extra})
        assert status == 200, answer
        return answer["UUID"]

    async def op(self, job: str, op: str) -> tuple[int, dict]:
        return await self.call("POST", f"/v1/job/{job}/op/{op}")

    async def get(self, job: str) -> dict:
        status, answer = await self.call("GET", f"/v1/job/{job}")
        assert status == 200, answer
        return answer

    async def upload(self, data: bytes | None, image: str | None = "berth/busybox",
                     **fields: str) -> tuple[int, dict]:
        form = aiohttp.FormData(default_to_multipart=True)  # as curl -F sends it
        if data is not None:
            form.add_field("archive", data, filename="job.tar.gz",
                           content_type="application/gzip")
        if image is not None:
            form.add_field("image", image)
        for name, value in fields.items():
            form.add_field(name, value)
        async with self.http.post(f"{self.url}/v1/jobsource", data=form) as resp:
            return resp.status, await resp.json()

    def stored(self) -> list:
        """The Jisto jobs on disk, read apart from the server."""
        store = FrameworkStore(self.db_url)
        try:
            return JistoStore(store.engine).load()
        finally:
            store.close()


@pytest.fixture
async def jisto(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'berth.db'}"
    fw = await start_framework(None, "127.0.0.1", 0, db_url=db_url)
    async with aiohttp.ClientSession() as http:
        yield Jisto(fw.url, http, db_url)
    await fw.stop()


def _fields(answer: dict) -> list[str]:
    return [e["field"] for e in answer["errors"]]


# -- the seed's calls ---------------------------------------------------------------------


async def test_create_a_job_add_tasks_run_it_and_read_it_back(jisto):
    job = await jisto.job()
    first = await jisto.get(job)
    assert (first["UUID"], first["Name"], first["State"]) == (job, "MikeTestJob", "Created")
    assert (first["TasksLeft"], first["Progress"], first["Nodes"]) == (0, 0, 0)
    tasks = [await jisto.task(job) for _ in range(2)]
    tasks.append(await jisto.task(job, "stress", Env="SLEEP_TIME=300;baz=quux"))
    assert len(set(tasks)) == 3
    draft = await jisto.get(job)
    assert draft["Iterations"] == 3 and draft["TasksLeft"] == 3
    assert draft["Tasks"][2] == {"UUID": tasks[2], "Name": None, "Image": "stress",
                                 "Env": ["SLEEP_TIME", "baz"], "Iterations": 1}

    assert await jisto.op(job, "RunJob") == (200, {"UUID": job})
    running = await jisto.get(job)
    assert running["State"] == "Pending"  # no master here: nothing is placed
    assert running["TasksLeft"] == 3 and running["Progress"] == 0
    status, berth = await jisto.call("GET", f"/v1/jobs/{running['Job']}")
    assert status == 200 and berth["type"] == "batch"
    assert running["Job"] == f"MikeTestJob-{job.replace('-', '')[:8]}"
    assert [(t["dockerimage"], t["count"], sorted(t["env"])) for t in berth["spec"]["tasks"]] \
        == [("berth/busybox", 2, []), ("stress", 1, ["SLEEP_TIME", "baz"])]
    assert (await jisto.call("GET", f"/v1/job/{job.upper()}"))[1]["UUID"] == job
    status, listing = await jisto.call("GET", "/v1/job")
    assert status == 200 and [j["UUID"] for j in listing["Jobs"]] == [job]


async def test_a_job_cannot_run_before_it_has_a_task(jisto):
    job = await jisto.job()
    status, answer = await jisto.op(job, "RunJob")
    assert status == 409
    assert "cannot run before it has a task" in answer["message"]
    assert (await jisto.get(job))["State"] == "Created"
    status, _ = await jisto.call("GET", "/v1/jobs")
    assert (await jisto.call("GET", "/v1/jobs"))[1]["jobs"] == []


async def test_stop_cancel_and_run_again(jisto):
    job = await jisto.job("again")
    await jisto.task(job)
    assert (await jisto.op(job, "StopJob"))[0] == 409  # has not run
    assert (await jisto.op(job, "RunJob"))[0] == 200
    status, answer = await jisto.op(job, "RunJob")
    assert status == 409 and "already" in answer["message"]
    status, answer = await jisto.call("POST", "/v1/task", {"Image": "x", "JobUUID": job})
    assert status == 409 and _fields(answer) == ["JobUUID"]  # not while it runs
    assert await jisto.op(job, "CancelJob") == (200, {"UUID": job})
    assert (await jisto.get(job))["State"] == "Cancelled"
    assert (await jisto.op(job, "RunJob"))[0] == 200  # starts over
    assert (await jisto.get(job))["State"] == "Pending"
    assert (await jisto.op(job, "StopJob"))[0] == 200
    assert (await jisto.get(job))["State"] == "Stopped"


async def test_delete_job_removes_it_its_tasks_and_its_berth_job(jisto):
    job = await jisto.job()
    await jisto.task(job)
    await jisto.op(job, "RunJob")
    name = (await jisto.get(job))["Job"]
    assert await jisto.op(job, "DeleteJob") == (200, {"UUID": job})
    status, answer = await jisto.call("GET", f"/v1/job/{job}")
    assert status == 404 and _fields(answer) == ["UUID"]
    assert (await jisto.call("GET", f"/v1/jobs/{name}"))[0] == 404
    assert jisto.stored() == []


async def test_drafts_are_on_disk_when_answered_and_survive_a_restart(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'berth.db'}"
    fw = await start_framework(None, "127.0.0.1", 0, db_url=db_url)
    async with aiohttp.ClientSession() as http:
        jisto = Jisto(fw.url, http, db_url)
        job = await jisto.job("keeper")
        tasks = [await jisto.task(job, Env="A=1") for _ in range(3)]
        [stored] = jisto.stored()  # on disk before the answer
        assert [t.uuid for t in stored.tasks] == tasks
        await fw.stop()
        fw = await start_framework(None, "127.0.0.1", 0, db_url=db_url)
        jisto.url = fw.url
        try:
            again = await jisto.get(job)
            assert again["Name"] == "keeper" and [t["UUID"] for t in again["Tasks"]] == tasks
            assert (await jisto.op(job, "RunJob"))[0] == 200
        finally:
            await fw.stop()


def test_the_store_gives_back_what_it_was_given(tmp_path):
    """Options (ports as numbers, flags), tasks in order with their env and counts."""
    store = FrameworkStore(f"sqlite:///{tmp_path / 'b.db'}")
    store.migrate()
    jisto = JistoStore(store.engine)
    options = parse_job_source({"iterations": "1", "options": {
        "privileged": "true", "volumes": {"/data": "/in"}, "udpports": {"5353": "53"}}}
        ).options
    job = JistoJob("u1", "Hello World!", "team-a", 12.5,
                   (JistoTask("t1", "stress", (("A", "1"),), 20),), options)
    jisto.create(job)
    jisto.add_task(job, JistoTask("t2", "berth/busybox", name="second"))
    jisto.set_op("u1", "CancelJob")
    [back] = jisto.load()
    assert back == dataclasses.replace(
        job, tasks=(*job.tasks, JistoTask("t2", "berth/busybox", name="second")),
        op="CancelJob")
    jisto.delete("u1")
    assert jisto.load() == []
    store.close()


async def test_a_job_source_creates_a_job_of_its_iterations(jisto):
    status, answer = await jisto.upload(config({
        "iterations": "20", "jobName": "Hello World!",
        "options": {"udpports": {"5353": "53"}, "tcpports": {"8080": "80"}},
        "env": "SLEEP_TIME=300;baz=quux"}))
    assert status == 200, answer
    assert answer["Name"] == "Hello World!"
    job = await jisto.get(answer["UUID"])
    assert (job["State"], job["Iterations"], job["TasksLeft"]) == ("Created", 20, 20)
    assert job["Tasks"][0]["Env"] == ["SLEEP_TIME", "baz"]
    assert (await jisto.op(answer["UUID"], "RunJob"))[0] == 200
    _, berth = await jisto.call("GET", f"/v1/jobs/{(await jisto.get(answer['UUID']))['Job']}")
    [template] = berth["spec"]["tasks"]
    assert template["count"] == 20
    assert {(p["host_port"], p["container_port"], p["protocol"]) for p in template["ports"]} \
        == {(5353, 53, "udp"), (8080, 80, "tcp")}
    status, unnamed = await jisto.upload(config({"iterations": 1}), image="stress",
                                         contentType="images")
    assert status == 200 and unnamed["Name"] == "stress"  # the image's name, as Jisto does


# -- bad input: a 4xx naming the field, nothing stored ------------------------------------


async def test_an_unknown_operation_is_refused_by_name_and_changes_nothing(jisto):
    job = await jisto.job()
    await jisto.task(job)
    before = jisto.stored()
    status, answer = await jisto.op(job, "LaunchJob")
    assert status == 400 and _fields(answer) == ["JobOperation"]
    assert "'LaunchJob'" in answer["errors"][0]["problem"] and "RunJob" in \
        answer["errors"][0]["problem"]
    assert jisto.stored() == before
    assert (await jisto.get(job))["State"] == "Created"


@pytest.mark.parametrize(("data", "field"), [
    (archive({"job.json": b'{"iterations": "1"}'}), "config.json"),
    (config({"iterations": "0"}), "iterations"),
    (config({"iterations": "-5"}), "iterations"),
    (config({"iterations": "1.5"}), "iterations"),
    (config({"iterations": "many"}), "iterations"),
    (config({"jobName": "no iterations"}), "iterations"),
    (archive({"../config.json": b'{"iterations": "1"}'}), "archive"),
    (archive({"config.json": b'{"iterations": "1"}', "../../etc/cron.d/x": b"boom"}),
     "archive"),
    (config({"iterations": "1", "options": {"net": "host", "tcpports": {"80": "80"}}}),
     "options.tcpports"),
    (config({"iterations": "1", "options": {"volumes": {"relative": "/x"}}}),
     "options.volumes.relative"),
    (b"not an archive", "archive"),
])
async def test_a_bad_job_source_is_refused_by_name_and_nothing_is_stored(jisto, data, field):
    status, answer = await jisto.upload(data)
    assert status == 400, answer
    assert field in _fields(answer), answer
    assert jisto.stored() == []
    assert (await jisto.call("GET", "/v1/job"))[1] == {"Jobs": []}


@pytest.mark.parametrize(("kwargs", "status", "field"), [
    ({"image": None}, 400, "image"),
    ({"data": None}, 400, "archive"),
    ({"image": "has space"}, 400, "image"),
    ({"colour": "red"}, 400, "colour"),
])
async def test_a_bad_job_source_form_is_refused_by_name(jisto, kwargs, status, field):
    data = kwargs.pop("data", config({"iterations": "1"}))
    got, answer = await jisto.upload(data, **kwargs)
    assert got == status and field in _fields(answer), answer
    assert jisto.stored() == []


async def test_an_archive_too_large_is_refused_and_a_json_body_is_not_an_upload(jisto):
    status, answer = await jisto.upload(b"x" * (1024 * 1024 + 1))
    assert status == 413 and _fields(answer) == ["archive"]
    status, answer = await jisto.call("POST", "/v1/jobsource", {"iterations": "1"})
    assert status == 415 and _fields(answer) == ["Content-Type"]
    assert jisto.stored() == []


async def test_an_upload_from_another_sites_page_is_refused(jisto):
    form = aiohttp.FormData()
    form.add_field("archive", config({"iterations": "1"}), filename="j.tar.gz")
    form.add_field("image", "berth/busybox")
    async with jisto.http.post(f"{jisto.url}/v1/jobsource", data=form,
                               headers={"Origin": "https://evil.example"}) as resp:
        assert resp.status == 403
    form = aiohttp.FormData()
    form.add_field("Name", "x")
    form.add_field("file", b"x", filename="x")  # multipart elsewhere: not an upload route
    async with jisto.http.post(f"{jisto.url}/v1/job", data=form) as resp:
        assert resp.status == 415
    assert jisto.stored() == []


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/v1/job", {}, "Name"),
    ("/v1/job", {"Name": ""}, "Name"),
    ("/v1/job", {"Name": "   "}, "Name"),
    ("/v1/job", {"Name": 42}, "Name"),
    ("/v1/job", {"Name": "x", "Owner": "me"}, "Owner"),
    ("/v1/job", ["Name"], "body"),
    ("/v1/task", {"JobUUID": "{job}"}, "Image"),
    ("/v1/task", {"Image": "berth/busybox"}, "JobUUID"),
    ("/v1/task", {"Image": "has space", "JobUUID": "{job}"}, "Image"),
    ("/v1/task", {"Image": "", "JobUUID": "{job}"}, "Image"),
    ("/v1/task", {"Image": "x", "JobUUID": "{job}", "Env": "NOT-A-PAIR"}, "Env"),
    ("/v1/task", {"Image": "x", "JobUUID": "{job}", "Env": {"A": "1"}}, "Env"),
    ("/v1/task", {"Image": "x", "JobUUID": "{job}", "Cmd": "sh"}, "Cmd"),
    ("/v1/task", {"Image": "x", "JobUUID": 7}, "JobUUID"),
])
async def test_bad_bodies_name_the_field_and_store_nothing(jisto, path, body, field):
    job = await jisto.job("keep")
    before = jisto.stored()
    if isinstance(body, dict):
        body = {k: (job if v == "{job}" else v) for k, v in body.items()}
    status, answer = await jisto.call("POST", path, body)
    assert status == 400 and field in _fields(answer), answer
    assert jisto.stored() == before
    status, answer = await jisto.call("POST", path, data=b"{not json")
    assert status == 400 and _fields(answer) == ["body"]


async def test_an_unknown_uuid_is_404_everywhere(jisto):
    nobody = "2cf2b20a-90a8-11e6-bcf7-0242ac120002"
    for method, path, body in (("GET", f"/v1/job/{nobody}", None),
                               ("POST", f"/v1/job/{nobody}/op/RunJob", None),
                               ("POST", f"/v1/job/{nobody}/op/DeleteJob", None),
                               ("POST", "/v1/task", {"Image": "x", "JobUUID": nobody})):
        status, answer = await jisto.call(method, path, body)
        assert status == 404, (path, answer)
    assert jisto.stored() == []


# -- namespaces -----------------------------------------------------------------------------


def _user(data_dir, name: str, *options: str) -> None:
    result = CliRunner().invoke(main, ["user", "add", name, *options, "--password-stdin",
                                       "--data-dir", str(data_dir)], input=f"{name}-pass1\n",
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output


async def test_a_caller_sees_only_its_namespaces_jobs(tmp_path):
    _user(tmp_path, "root", "--admin")
    _user(tmp_path, "alice", "--namespace", "team-a")
    _user(tmp_path, "bob", "--namespace", "team-b")
    db_url = f"sqlite:///{(tmp_path / 'berth.db').resolve()}"
    fw = await start_framework(None, "127.0.0.1", 0, db_url=db_url)

    def auth(user: str) -> dict[str, str]:
        return {"Authorization": aiohttp.encode_basic_auth(user, f"{user}-pass1"), **JSON}

    try:
        async with aiohttp.ClientSession() as http:
            jisto = Jisto(fw.url, http, db_url)
            status, answer = await jisto.call("POST", "/v1/job", {"Name": "hers"},
                                              auth("alice"))
            assert status == 200
            job = answer["UUID"]
            for method, path, body in (
                    ("GET", f"/v1/job/{job}", None),
                    ("POST", f"/v1/job/{job}/op/DeleteJob", None),
                    ("POST", "/v1/task", {"Image": "x", "JobUUID": job})):
                status, _ = await jisto.call(method, path, body, auth("bob"))
                assert status == 404, path
            assert (await jisto.call("GET", "/v1/job", None, auth("bob")))[1] == {"Jobs": []}
            status, mine = await jisto.call("GET", f"/v1/job/{job}", None, auth("alice"))
            assert status == 200 and mine["Namespace"] == "team-a"
            _, every = await jisto.call("GET", "/v1/job", None, auth("root"))
            assert [j["UUID"] for j in every["Jobs"]] == [job]
            status, _ = await jisto.call("POST", "/v1/task", {"Image": "x", "JobUUID": job},
                                         auth("alice"))
            assert status == 200
            assert (await jisto.call("POST", f"/v1/job/{job}/op/RunJob", None,
                                     auth("alice")))[0] == 200
            _, mine = await jisto.call("GET", f"/v1/job/{job}", None, auth("alice"))
            _, berth = await jisto.call("GET", f"/v1/jobs/{mine['Job']}", None, auth("alice"))
            assert berth["namespace"] == "team-a"
            assert (await jisto.call("GET", f"/v1/jobs/{mine['Job']}", None,
                                     auth("bob")))[0] == 404
    finally:
        await fw.stop()
