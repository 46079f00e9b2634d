"""Quotas and credits through the REST API and the CLI: admins set and grant, everyone
reads their own namespace's use, quota, balance and burn rate; bad numbers are 400s that
change nothing; a namespace without credits cannot submit."""

from __future__ import annotations

import json

import aiohttp
import pytest
from click.testing import CliRunner

from api.framework_server import start_framework
from cli import main
from framework import events as ev


def berth(data_dir, *args: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(main, [*args, "--data-dir", str(data_dir)], input=stdin,
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def auth(user: str) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(user, f"{user}-pass1"),
            "Content-Type": "application/json"}


@pytest.fixture
async def framework(tmp_path):
    berth(tmp_path, "user", "add", "root", "--admin", "--password-stdin", stdin="root-pass1\n")
    berth(tmp_path, "user", "add", "alice", "--namespace", "team-a", "--password-stdin",
          stdin="alice-pass1\n")
    fw = await start_framework(None, "127.0.0.1", 0,
                               db_url=f"sqlite:///{(tmp_path / 'berth.db').resolve()}")
    async with aiohttp.ClientSession() as http:
        yield fw, http, tmp_path
    await fw.stop()


async def call(http, method: str, url: str, user: str, body=None) -> tuple[int, dict]:
    async with http.request(method, url, headers=auth(user),
                            data=None if body is None else json.dumps(body)) as r:
        return r.status, await r.json()


@pytest.mark.parametrize("body, field", [
    ({"cpus": -1}, "cpus"), ({"instances": 1.5}, "instances"), ({"mem": "lots"}, "mem"),
    ({"gpus": 1}, "gpus"), ([1], ""),
])
async def test_a_quota_that_cannot_be_one_is_a_400_naming_the_field(framework, body, field):
    fw, http, _ = framework
    status, answer = await call(http, "PUT", f"{fw.url}/v1/namespaces/team-a", "root", body)
    assert status == 400 and field in [e["field"] for e in answer["errors"]]
    status, answer = await call(http, "GET", f"{fw.url}/v1/namespaces/team-a", "root")
    assert answer["quota"] is None  # nothing changed


@pytest.mark.parametrize("amount", ["ten", -5, 0, None, True, 1e400])
async def test_a_credit_grant_that_is_not_a_positive_number_is_a_400(framework, amount):
    fw, http, _ = framework
    status, answer = await call(http, "POST", f"{fw.url}/v1/namespaces/team-a/credits", "root",
                                {"amount": amount} if amount != 1e400 else None)
    assert status == 400
    status, answer = await call(http, "GET", f"{fw.url}/v1/namespaces/team-a", "root")
    assert answer["credits"] is None


async def test_admins_set_quotas_and_grant_users_read_and_cannot(framework):
    fw, http, data = framework
    status, answer = await call(http, "PUT", f"{fw.url}/v1/namespaces/team-a", "root",
                                {"cpus": 8, "instances": 10})
    assert status == 200 and answer["quota"] == {"cpus": 8, "instances": 10}
    status, answer = await call(http, "POST", f"{fw.url}/v1/namespaces/team-a/credits",
                                "root", {"amount": 12.5})
    assert status == 200 and answer["credits"] == 12.5 and answer["burn_per_hour"] == 0
    status, answer = await call(http, "GET", f"{fw.url}/v1/namespaces/team-a", "alice")
    assert status == 200 and answer["credits"] == 12.5
    assert (await call(http, "POST", f"{fw.url}/v1/namespaces/team-a/credits", "alice",
                       {"amount": 100}))[0] == 403
    assert (await call(http, "PUT", f"{fw.url}/v1/namespaces/team-a", "alice", {}))[0] == 403
    assert (await call(http, "GET", f"{fw.url}/v1/namespaces/default", "alice"))[0] == 404
    status, answer = await call(http, "GET", f"{fw.url}/v1/namespaces", "alice")
    assert [n["name"] for n in answer["namespaces"]] == ["team-a"]
    assert "balance 13.00" in berth(data, "credits", "grant", "team-a", "0.5")


async def test_a_namespace_out_of_credits_cannot_submit_until_a_grant(framework):
    fw, http, data = framework
    berth(data, "credits", "grant", "team-a", "1")
    fw.service.apply(ev.BalancesChanged({"team-a": 0.0}))  # a charge's answer: spent
    task = {"id": "t", "dockerimage": "busybox", "namespace": "team-a"}
    status, answer = await call(http, "POST", f"{fw.url}/client/task", "alice", task)
    assert status == 403 and "no credits left" in answer["message"]
    status, answer = await call(http, "GET", f"{fw.url}/v1/namespaces/team-a", "alice")
    assert answer["out_of_credits"] is True
    status, _ = await call(http, "POST", f"{fw.url}/v1/namespaces/team-a/credits", "root",
                           {"amount": 3})
    assert status == 200
    status, answer = await call(http, "POST", f"{fw.url}/client/task", "alice", task)
    assert status == 202
