"""berth's images for real: image templates uploaded to the framework's `/upload` (Jisto's
multipart form, HTTP Basic against berth's users), built by the local Docker engine,
pushed to a registry the test starts (Debian's docker-registry), and run by a job on a
real agent; refusals of bad input; a build that fails; `pullImage` with no network; a
restart while building; jobs waiting for an image being built.

No outside network here: `pullImage` from Docker Hub really cannot reach it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import uuid
from dataclasses import replace

import aiohttp
import docker
import docker.errors
import pytest
from click.testing import CliRunner

from access.passwords import hash_password
from access.store import AccessStore
from api.agent_node import start_agent
from api.framework_server import start_framework
from cli import main
from cli.agent import agent_config
from framework import events as ev
from framework.images import RESTARTED, ImageRecord, ImageState, ImageStore
from framework.store import FrameworkStore
from master.registry_server import RegistryServer
from offers.states import TaskState
from tests.agent_helpers import build_images, free_port, remove_agent_containers, wait_for
from tests.cluster_harness import Cluster
from tests.framework_harness import task
from tests.image_templates import config, template
from tests.master_fixtures import start_test_master

PASSWORD = "s3cret-pass"
JSON = {"Content-Type": "application/json"}  # as the seed's curl calls send


def _basic(user: str = "admin", password: str = PASSWORD) -> dict[str, str]:
    pair = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def _form(archive: bytes, content_type: str = "images") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("contentType", content_type)
    form.add_field("files[]", archive, filename="t.tar.gz", content_type="application/gzip")
    return form


def _name() -> str:
    return f"tmpl-{uuid.uuid4().hex[:8]}"


def _db(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'berth.db'}"


def _add_admin(db_url: str) -> None:
    store = AccessStore(db_url)
    try:
        store.add_user("admin", "admin", frozenset(), hash_password(PASSWORD), 0.0)
    finally:
        store.close()


async def _until_built(http: aiohttp.ClientSession, url: str, name: str,
                       timeout: float = 120.0) -> dict:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        async with http.get(f"{url}/v1/images", headers=_basic()) as resp:
            images = {i["name"]: i for i in (await resp.json())["images"]}
        image = images.get(name)
        if image is not None and image["state"] != "building":
            return image
        assert loop.time() < end, f"{name} still building"
        await asyncio.sleep(0.2)


def _tags() -> set[str]:
    client = docker.from_env()
    try:
        return {tag for image in client.images.list() for tag in image.tags}
    finally:
        client.close()


def _remove(*refs: str) -> None:
    client = docker.from_env()
    try:
        for ref in refs:
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(ref, force=True)
    finally:
        client.close()


# -- the pending reason, in the cores ------------------------------------------------------


def test_a_task_whose_image_is_building_waits_with_that_reason_then_runs():
    c = Cluster.make()
    c.wiring.to_framework(ev.ImagesBuilding(frozenset({"app:latest"}), "reg:5000"))
    waiting = c.submit(task("w", dockerimage="reg:5000/app"))
    other = c.submit(task("o", dockerimage="other"))
    c.add_agent("a1")
    c.allocate()
    assert c.scheduler.pending_reason(waiting) == "image app:latest is building"
    assert c.states("o") == [("RUNNING", "a1")] and other
    c.wiring.to_framework(ev.ImagesBuilding(frozenset(), "reg:5000"))
    c.advance(10.0, heard_from=("a1",))
    c.allocate()
    assert c.states("w") == [("RUNNING", "a1")]
    assert c.scheduler.task(waiting).state is TaskState.RUNNING


# -- over HTTP, without Docker --------------------------------------------------------------


@pytest.fixture
async def secured(tmp_path):
    db = _db(tmp_path)
    _add_admin(db)
    fw = await start_framework(None, "127.0.0.1", 0, db_url=db)
    http = aiohttp.ClientSession()
    yield fw, http
    await http.close()
    await fw.stop()


async def test_a_wrong_password_is_401_with_the_challenge(secured):
    fw, http = secured
    async with http.post(f"{fw.url}/upload", data=_form(template(config())),
                         headers=_basic(password="wrong")) as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith("Basic")
        assert "wrong user name or password" in (await resp.json())["message"]
    async with http.get(f"{fw.url}/v1/images", headers=_basic()) as resp:
        assert (await resp.json()) == {"images": []}  # nothing was stored


@pytest.mark.parametrize(("body", "status", "field", "words"), [
    (_form(template(config(), gzipped=False)), 400, "archive", "not gzip"),
    (_form(template(None)), 400, "config.json", "no config.json"),
    (_form(template(config(), {"build.sh": b"true"})), 400, "config.json.runfile",
     "has no file"),
    (_form(template(config(), {"../x": b"", "build.sh": b"", "run.sh": b""})), 400,
     "archive", "leads out"),
    (_form(template(config("Bad_Name"))), 400, "config.json.name", "lowercase"),
    (_form(template(config()), content_type="jobs"), 400, "contentType", "images"),
    (aiohttp.FormData({"contentType": "images"}, default_to_multipart=True), 400, "files[]",
     "is required"),
])
async def test_each_bad_upload_is_refused_naming_the_problem(secured, body, status, field,
                                                            words):
    fw, http = secured
    async with http.post(f"{fw.url}/upload", data=body, headers=_basic()) as resp:
        answer = await resp.json()
        assert resp.status == status, answer
        problems = {e["field"]: e["problem"] for e in answer["errors"]}
        assert words in problems[field], answer
    async with http.get(f"{fw.url}/v1/images", headers=_basic()) as resp:
        assert (await resp.json()) == {"images": []}


async def test_an_archive_over_the_configured_limit_is_413(tmp_path):
    fw = await start_framework(None, "127.0.0.1", 0, db_url=_db(tmp_path),
                               max_image_template=10_000)
    big = template(config(), {"build.sh": b"", "run.sh": b"", "blob": os.urandom(20_000)})
    async with aiohttp.ClientSession() as http, \
            http.post(f"{fw.url}/upload", data=_form(big)) as resp:
        assert resp.status == 413
        assert (await resp.json())["errors"][0]["field"] == "files[]"
    await fw.stop()


async def test_pull_image_with_no_network_is_502_naming_the_registry(secured):
    fw, http = secured
    async with http.post(f"{fw.url}/pullImage/hello-world%3Alatest",
                         headers=JSON | _basic()) as resp:
        answer = await resp.json()
        assert resp.status == 502, answer
        assert "registry-1.docker.io cannot be reached" in answer["message"]
    async with http.post(f"{fw.url}/pullImage/Hello", headers=JSON | _basic()) as resp:
        assert resp.status == 400
        assert (await resp.json())["errors"][0]["field"] == "imageName"


async def test_unknown_images_are_404(secured):
    fw, http = secured
    async with http.post(f"{fw.url}/deleteImage/nothing%3A1",
                         headers=JSON | _basic()) as resp:
        assert resp.status == 404
    async with http.get(f"{fw.url}/v1/images/nothing/log", headers=_basic()) as resp:
        assert resp.status == 404


async def test_a_restart_while_building_marks_it_failed_with_the_reason(tmp_path):
    db = _db(tmp_path)
    store = FrameworkStore(db)
    store.migrate()
    ImageStore(store.engine).save(ImageRecord("half:latest", ImageState.BUILDING, "template",
                                              1.0, 1.0, log="Step 1/6 : FROM x\n"))
    store.close()
    fw = await start_framework(None, "127.0.0.1", 0, db_url=db)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{fw.url}/v1/images") as resp:
                [image] = (await resp.json())["images"]
            async with http.get(f"{fw.url}{image['log']}") as resp:
                text = await resp.text()
        assert image["state"] == "failed" and image["reason"] == RESTARTED
        assert text.startswith("Step 1/6") and RESTARTED in text
    finally:
        await fw.stop()


# -- with Docker and a registry ---------------------------------------------------------------


@pytest.fixture
async def registry(tmp_path):
    server = RegistryServer(tmp_path / "registry-data", port=free_port())
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def stack(tmp_path, registry):
    """A master, an agent on the local engine and a framework pushing to `registry`, with
    a user `admin`."""
    build_images()
    db = f"sqlite:///{tmp_path / 'fw.db'}"  # the master's is its own, without users
    _add_admin(db)
    master = await start_test_master(tmp_path)
    low = min(free_port(), 65535 - 10)
    conf = agent_config(master.url, hostname=f"node-{uuid.uuid4().hex[:6]}", nodetype="lab",
                        resources=f"cpus:2;mem:1024;ports:[{low}-{low + 9}]", headroom="",
                        data_dir=tmp_path / "agent", ignore_incumbent=True)
    agent = await start_agent(replace(conf, meter_seconds=0.5), host="127.0.0.1", port=0)
    await wait_for(lambda: agent.agent.connected.is_set(), what="agent connected")
    fw = await start_framework(master.url, "127.0.0.1", 0, db_url=db,
                               registry=registry.address,
                               upstream_registry=registry.address)
    http = aiohttp.ClientSession()
    made: list[str] = []
    yield fw, http, registry, made
    await http.close()
    await fw.stop()
    await agent.stop()
    await master.stop()
    remove_agent_containers(agent.agent.agent_id)
    _remove(*made, *(f"{registry.address}/{name}" for name in made))


async def _catalog(registry: RegistryServer, name: str) -> list[str]:
    async with aiohttp.ClientSession() as http, \
            http.get(f"{registry.url}/v2/{name}/tags/list") as resp:
        return (await resp.json()).get("tags") or [] if resp.status == 200 else []


@pytest.mark.docker
async def test_a_template_builds_is_pushed_and_a_job_runs_it(stack):
    fw, http, registry, made = stack
    name = _name()
    made.append(f"{name}:latest")
    async with http.post(f"{fw.url}/upload", data=_form(template(config(name))),
                         headers=_basic()) as resp:
        answer = await resp.json()
        assert resp.status == 200, answer
        assert (answer["name"], answer["state"]) == (f"{name}:latest", "building")
    job = {"name": f"use-{name}", "type": "batch", "completions": 1,
           "task": {"dockerimage": name, "cpus": 0.05, "mem": 16, "nodetype": "lab"}}
    async with http.post(f"{fw.url}/v1/jobs", json=job, headers=_basic()) as resp:
        assert resp.status == 201, await resp.text()  # accepted while building: it waits
    image = await _until_built(http, fw.url, f"{name}:latest")
    assert image["state"] == "ready", image
    assert image["size"] > 0
    assert await _catalog(registry, name) == ["latest"]
    assert {f"{name}:latest", f"{registry.address}/{name}:latest"} <= _tags()
    async with http.get(f"{fw.url}{image['log']}", headers=_basic()) as resp:
        log = await resp.text()
    assert "building in /app" in log and f"pushed {registry.address}/{name}" in log
    async with http.get(f"{fw.url}/v1/jobs/{job['name']}/wait?timeout=60",
                        headers=_basic()) as resp:
        done = await resp.json()
    assert done["phase"] == "complete", done
    async with http.get(f"{fw.url}/v1/tasks/{done['instances'][0]['id']}/logs",
                        headers=_basic()) as resp:
        logs = await resp.text()
        assert resp.status == 200, logs
        assert "hello from the template" in logs  # the template's run.sh ran

    async with http.post(f"{fw.url}/deleteImage/{name}%3Alatest",
                         headers=JSON | _basic()) as resp:
        assert resp.status == 200 and (await resp.json())["deleted"] is True
    assert await _catalog(registry, name) == []
    async with http.get(f"{fw.url}/v1/images", headers=_basic()) as resp:
        assert (await resp.json())["images"] == []
    assert f"{name}:latest" not in _tags()


@pytest.mark.docker
async def test_a_failing_build_ends_failed_with_its_log_and_refuses_jobs(stack):
    fw, http, _registry, made = stack
    name = _name()
    made.append(f"{name}:latest")
    broken = template(config(name), {"build.sh": b"echo about to break\nexit 1\n",
                                     "run.sh": b"true"})
    async with http.post(f"{fw.url}/upload", data=_form(broken), headers=_basic()) as resp:
        assert resp.status == 200
    image = await _until_built(http, fw.url, f"{name}:latest")
    assert image["state"] == "failed" and "the build failed" in image["reason"]
    async with http.get(f"{fw.url}{image['log']}", headers=_basic()) as resp:
        assert "about to break" in await resp.text()
    assert f"{name}:latest" not in _tags()  # nothing half-built is left tagged
    job = {"name": f"use-{name}", "type": "batch", "completions": 1,
           "task": {"dockerimage": name, "cpus": 0.05, "mem": 16}}
    async with http.post(f"{fw.url}/v1/jobs", json=job, headers=_basic()) as resp:
        answer = await resp.json()
        assert resp.status == 400, answer
        [problem] = answer["errors"]
        assert problem["field"] == "task.dockerimage"
        assert "failed to build" in problem["problem"] and "about to break" in \
            problem["problem"]
    async with http.post(f"{fw.url}/v1/job", json={"Name": "jisto"}, headers=_basic()) as resp:
        uuid_ = (await resp.json())["UUID"]
    async with http.post(f"{fw.url}/v1/task", json={"Image": name, "JobUUID": uuid_},
                         headers=_basic()) as resp:
        assert resp.status == 200
    async with http.post(f"{fw.url}/v1/job/{uuid_}/op/RunJob", headers=JSON | _basic()) \
            as resp:  # Jisto's run of a task using it: refused the same way
        answer = await resp.json()
        assert resp.status == 400, answer
        assert "failed to build" in answer["errors"][0]["problem"]


@pytest.mark.docker
async def test_a_runfile_not_executable_after_the_build_fails_the_image(stack):
    fw, http, _registry, made = stack
    name = _name()
    made.append(f"{name}:latest")
    lazy = template(config(name), {"build.sh": b"true\n", "run.sh": b"echo hi\n"},
                    modes={"run.sh": 0o644})
    async with http.post(f"{fw.url}/upload", data=_form(lazy), headers=_basic()) as resp:
        assert resp.status == 200
    image = await _until_built(http, fw.url, f"{name}:latest")
    assert image["state"] == "failed"
    assert "runfile is not executable after the build: /app/run.sh" in image["reason"]
    assert f"{name}:latest" not in _tags()


@pytest.mark.docker
async def test_pull_image_copies_from_the_upstream_into_berths_registry(stack):
    fw, http, registry, made = stack
    name = _name()  # the upstream is the same registry under another name
    made.append(f"{name}:1")
    source = f"{registry.address}/{name}:1"
    client = docker.from_env()
    try:
        client.images.get("berth/busybox").tag(source)
        await asyncio.to_thread(client.images.push, source)
        client.images.remove(source)
    finally:
        client.close()
    async with http.post(f"{fw.url}/pullImage/{name}%3A1", headers=JSON | _basic()) as resp:
        assert resp.status == 200, await resp.text()
    image = await _until_built(http, fw.url, f"{name}:1")
    assert image["state"] == "ready" and image["origin"] == "pull", image
    assert f"{name}:1" in _tags()


@pytest.mark.docker
async def test_the_cli_verbs(tmp_path, stack):
    fw, _http, _registry, made = stack
    name = _name()
    made.append(f"{name}:latest")
    archive = tmp_path / "image.tar.gz"
    archive.write_bytes(template(config(name)))

    def cli(*args: str, password: str | None = PASSWORD):
        return CliRunner().invoke(main, [*args, "--url", fw.url],
                                  input=None if password is None else f"{password}\n",
                                  env={"BERTH_USER": None, "BERTH_PASSWORD": None,
                                       "BERTH_TOKEN": None})

    result = await asyncio.to_thread(cli, "image", "upload", str(archive), "-u", "admin")
    assert result.exit_code == 0, result.output
    assert f"Image {{{name}:latest}} uploaded. Note that it may not be available for " \
           "immediate use." in result.output
    wrong = await asyncio.to_thread(cli, "image", "list", "-u", "admin", password="nope")
    assert wrong.exit_code != 0 and "401" in wrong.output
    async with aiohttp.ClientSession() as http:
        await _until_built(http, fw.url, f"{name}:latest")
    listed = await asyncio.to_thread(cli, "image", "list", "-u", "admin")
    assert listed.exit_code == 0 and f"{name}:latest" in listed.output
    assert "ready" in listed.output
    deleted = await asyncio.to_thread(cli, "image", "delete", name, "-u", "admin")
    assert deleted.exit_code == 0, deleted.output
    assert deleted.output.rstrip().endswith(f"Image {{{name}}} Deleted.")
