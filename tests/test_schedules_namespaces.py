"""Scheduled jobs and clients belong to a namespace: a user of another namespace cannot
see, launch or delete a team's scheduled job, nor read or set its clients' parameters;
the same client name in two namespaces is two clients. Real HTTP, real SQLite."""

from __future__ import annotations

import json

import aiohttp
import pytest

from api.framework_server import start_framework
from tests.test_namespaces_http import auth, berth

SCHEDULED = {"name": "a-nightly", "type": "batch", "client": "acme",
             "task": {"dockerimage": "busybox", "mem": 64, "cpus": 0.1},
             "schedule": {"cron": "@daily"}}


@pytest.fixture
async def teams(tmp_path):
    berth(tmp_path, "user", "add", "alice", "--namespace", "team-a", "--password-stdin",
          stdin="alice-pass1\n")
    berth(tmp_path, "user", "add", "bob", "--namespace", "team-b", "--password-stdin",
          stdin="bob-pass1\n")
    fw = await start_framework(None, "127.0.0.1", 0,
                               db_url=f"sqlite:///{(tmp_path / 'berth.db').resolve()}")
    async with aiohttp.ClientSession() as http:
        yield fw, http
    await fw.stop()


async def test_another_namespace_cannot_touch_a_scheduled_job_or_its_client(teams):
    fw, http = teams

    async def call(user, method, path, body=None):
        async with http.request(method, fw.url + path, headers=auth(user),
                                data=None if body is None else json.dumps(body)) as r:
            return r.status, await r.json()

    status, doc = await call("alice", "POST", "/v1/jobs", SCHEDULED)
    assert status == 201 and doc["namespace"] == "team-a", doc
    assert (await call("alice", "PUT", "/v1/clients/acme/parameters", {"K": "a"}))[0] == 200
    assert (await call("bob", "PUT", "/v1/clients/acme/parameters", {"K": "b"}))[0] == 200

    assert (await call("bob", "GET", "/v1/jobs/a-nightly"))[0] == 404
    assert (await call("bob", "POST", "/v1/jobs/a-nightly/launch"))[0] == 404
    assert (await call("bob", "DELETE", "/v1/jobs/a-nightly"))[0] == 404
    _, listing = await call("bob", "GET", "/v1/jobs")
    assert "a-nightly" not in {j["name"] for j in listing["jobs"]}
    assert (await call("bob", "PUT", "/v1/clients/acme/parameters?namespace=team-a",
                       {"K": "stolen"}))[0] == 403
    assert (await call("bob", "GET", "/v1/clients/acme/parameters?namespace=team-a"))[0] \
        == 403  # the gate: not one of his namespaces

    # each team's acme is its own: alice's run gets alice's value
    _, theirs = await call("bob", "GET", "/v1/clients/acme/parameters")
    assert theirs["parameters"] == {"K": "b"} and theirs["namespace"] == "team-b"
    status, run = await call("alice", "POST", "/v1/jobs/a-nightly/launch")
    assert status == 201, run
    [record] = fw.service.scheduler.job_instances(fw.service.scheduler.job(run["name"]))
    assert record.spec.env["K"] == "a"
