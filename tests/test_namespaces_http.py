"""Namespaces on the framework's REST API: a user of one namespace cannot see, kill, scale,
stop, wait on, read the logs of or delete what another namespace owns, on every route
(table-driven); admins see everything. Real HTTP, real SQLite, no master (all PENDING)."""

from __future__ import annotations

import json

import aiohttp
import pytest
import pytest_asyncio
from click.testing import CliRunner

from api.framework_server import start_framework
from cli import main

JSON = {"Content-Type": "application/json"}


def berth(data_dir, *args: str, stdin: str | None = None) -> None:
    result = CliRunner().invoke(main, [*args, "--data-dir", str(data_dir)], input=stdin,
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output


def auth(user: str) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(user, f"{user}-pass1"), **JSON}


def task(task_id: str, **extra) -> str:
    return json.dumps({"id": task_id, "dockerimage": "busybox", "mem": "64", "cpus": "0.1",
                       **extra})


def job(name: str, **extra) -> str:
    return json.dumps({"name": name, "type": "service", "count": 1,
                       "task": {"dockerimage": "busybox", "mem": 64, "cpus": 0.1}, **extra})


# One framework for the module: every test also checks that nothing of alice's changed.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def two_teams(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("teams")
    berth(tmp_path, "user", "add", "root", "--admin", "--password-stdin", stdin="root-pass1\n")
    berth(tmp_path, "user", "add", "alice", "--namespace", "team-a", "--password-stdin",
          stdin="alice-pass1\n")
    berth(tmp_path, "user", "add", "bob", "--namespace", "team-b", "--password-stdin",
          stdin="bob-pass1\n")
    fw = await start_framework(None, "127.0.0.1", 0,
                               db_url=f"sqlite:///{(tmp_path / 'berth.db').resolve()}")
    async with aiohttp.ClientSession() as http:
        for user, prefix in (("alice", "a"), ("bob", "b")):
            async with http.post(f"{fw.url}/client/task", data=task(f"{prefix}-task"),
                                 headers=auth(user)) as r:
                assert r.status == 202, await r.text()
            async with http.post(f"{fw.url}/v1/jobs", data=job(f"{prefix}-web"),
                                 headers=auth(user)) as r:
                assert r.status == 201, await r.text()
        async with http.get(f"{fw.url}/v1/tasks", headers=auth("alice")) as r:
            [alices] = [t for t in (await r.json())["tasks"] if t["id"] == "a-task"]
        yield fw, http, alices["internal_id"]
    await fw.stop()


# (method, path, body): bob aiming at what alice's namespace owns; each is 404 (it does not
# exist for him) or 403 (it names her namespace or needs an admin).
TOUCHING_HERS = [
    ("GET", "/v1/tasks/{instance}", None, 404),
    ("GET", "/v1/tasks/{instance}/logs", None, 404),
    ("DELETE", "/client/task/a-task", None, 404),
    ("DELETE", "/client/task/a", None, 404),
    ("GET", "/v1/jobs/a-web", None, 404),
    ("PUT", "/v1/jobs/a-web/scale", {"count": 3}, 404),
    ("POST", "/v1/jobs/a-web/stop", None, 404),
    ("GET", "/v1/jobs/a-web/wait?timeout=0", None, 404),
    ("GET", "/v1/jobs/a-web/logs", None, 404),
    ("DELETE", "/v1/jobs/a-web?force=true", None, 404),
    ("POST", "/client/task", {"id": "x", "dockerimage": "busybox", "namespace": "team-a"}, 403),
    ("POST", "/v1/jobs", {"name": "x", "type": "service", "count": 1, "namespace": "team-a",
                          "task": {"dockerimage": "busybox"}}, 403),
    ("GET", "/client/task?namespace=team-a", None, 403),
    ("GET", "/v1/jobs?jrunns=team-a", None, 403),
    ("GET", "/client/task/reshuffle", None, 403),
    ("POST", "/v1/usage", {"samples": []}, 403),
    ("GET", "/v1/audit", None, 403),
]


@pytest.mark.parametrize("method, path, body, status", TOUCHING_HERS,
                         ids=[f"{m} {p}" for m, p, _, _ in TOUCHING_HERS])
async def test_bob_cannot_touch_what_team_a_owns(two_teams, method, path, body, status):
    fw, http, instance = two_teams
    url = fw.url + path.format(instance=instance)
    async with http.request(method, url, headers=auth("bob"),
                            data=None if body is None else json.dumps(body)) as r:
        assert r.status == status, await r.text()
    # Nothing of alice's changed: her task still pending, her job still wanting one.
    async with http.get(f"{fw.url}/v1/tasks/{instance}", headers=auth("alice")) as r:
        assert (await r.json())["state"] == "PENDING"
    async with http.get(f"{fw.url}/v1/jobs/a-web", headers=auth("alice")) as r:
        doc = await r.json()
        assert r.status == 200 and doc["desired"] == 1 and doc["phase"] != "stopped"


@pytest.mark.parametrize("path, key, field", [
    ("/client/task", None, "id"), ("/v1/tasks", "tasks", "id"), ("/v1/jobs", "jobs", "name")])
async def test_each_lists_only_its_own_namespaces_and_an_admin_sees_all(two_teams, path, key,
                                                                        field):
    fw, http, _ = two_teams

    async def names(user: str) -> set[str]:
        async with http.get(f"{fw.url}{path}", headers=auth(user)) as r:
            body = await r.json()
        return {item[field] for item in (body[key] if key else body)}

    bobs, alices, everything = await names("bob"), await names("alice"), await names("root")
    assert bobs and alices and not bobs & alices
    assert everything == bobs | alices
    assert all(n.startswith("b-") for n in bobs) and all(n.startswith("a-") for n in alices)


async def test_a_caller_with_one_namespace_submits_into_it(two_teams):
    fw, http, instance = two_teams
    async with http.get(f"{fw.url}/v1/tasks/{instance}", headers=auth("alice")) as r:
        assert (await r.json())["namespace"] == "team-a"
    async with http.get(f"{fw.url}/v1/jobs/b-web", headers=auth("bob")) as r:
        assert (await r.json())["namespace"] == "team-b"


async def test_bob_kills_his_own_by_a_prefix_that_also_matches_hers(two_teams):
    fw, http, instance = two_teams
    async with http.post(f"{fw.url}/client/task", data=task("a-bobs"),
                         headers=auth("bob")) as r:
        assert r.status == 202
    async with http.delete(f"{fw.url}/client/task/a-", headers=auth("bob")) as r:
        body = await r.json()
        assert r.status == 200 and body["message"].startswith("Kill task: a-bobs")
    async with http.get(f"{fw.url}/v1/tasks/{instance}", headers=auth("alice")) as r:
        assert (await r.json())["state"] == "PENDING"
