"""Authentication on the framework's REST API over real HTTP, with users and tokens made
by the `berth user|token` commands on the same database while the server runs."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import psutil
import pytest
from click.testing import CliRunner

from access.policy import Scope
from access.store import AccessStore
from api.auth import ExposureRefused, is_loopback
from api.framework_server import start_framework
from cli import main

TASK = {"id": "sleepy", "dockerimage": "busybox", "mem": "64", "cpus": "0.1"}
JSON = {"Content-Type": "application/json"}


def berth(data_dir, *args: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(main, [*args, "--data-dir", str(data_dir)], input=stdin,
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
async def secured(tmp_path):
    berth(tmp_path, "user", "add", "root", "--admin", "--password-stdin", stdin="rootpass1\n")
    berth(tmp_path, "user", "add", "alice", "--namespace", "team-a", "--password-stdin",
          stdin="alicepass\n")
    berth(tmp_path, "user", "add", "bob", "--password-stdin", stdin="bobspass1\n")
    fw = await start_framework(None, "127.0.0.1", 0,
                               db_url=f"sqlite:///{(tmp_path / 'berth.db').resolve()}")
    fw.access.poll_seconds = 0.1
    async with aiohttp.ClientSession(headers=JSON) as http:
        yield fw, http, tmp_path
    await fw.stop()


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(user, password)}


def token(data_dir, *args: str) -> str:
    return berth(data_dir, "token", "create", *args).strip().splitlines()[-1]


async def until_status(http, url: str, status: int, saying: str = "", **kw) -> None:
    for _ in range(100):  # the server polls the store's generation (0.1 s here)
        async with http.get(url, **kw) as resp:
            if resp.status == status and saying in await resp.text():
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never answered {status} {saying}")


async def test_no_credentials_is_401_with_a_challenge_and_nothing_is_created(secured):
    fw, http, _ = secured
    async with http.post(f"{fw.url}/client/task", data=json.dumps(TASK)) as resp:
        assert resp.status == 401
        assert "Basic" in resp.headers["WWW-Authenticate"]
        assert "Bearer" in resp.headers["WWW-Authenticate"]
        assert (await resp.json())["message"].startswith("not authenticated")
    async with http.get(f"{fw.url}/client/task", headers=basic("root", "rootpass1")) \
            as resp:
        assert resp.status == 200 and await resp.json() == []
    async with http.get(f"{fw.url}/admin/ping") as resp:  # liveness stays open
        assert resp.status == 200


async def test_basic_and_bearer_both_work_and_a_wrong_password_does_not(secured):
    fw, http, data = secured
    async with http.post(f"{fw.url}/client/task", data=json.dumps(TASK),
                         headers=basic("bob", "bobspass1")) as resp:
        assert resp.status == 202
    async with http.get(f"{fw.url}/client/task",
                        headers=basic("bob", "wrongpass")) as resp:
        assert resp.status == 401
        assert "wrong user name or password" in (await resp.json())["message"]
    text = token(data, "--user", "bob")
    await until_status(http, f"{fw.url}/client/task", 200,
                       headers={"Authorization": f"Bearer {text}"})
    async with http.get(f"{fw.url}/client/task",
                        headers={"Authorization": f"Bearer {text}"}) as resp:
        assert [t["id"] for t in await resp.json()] == ["sleepy"]
    async with http.get(f"{fw.url}/v1/jobs", params={"jruntok": text}) as resp:
        assert resp.status == 200  # JuliaRun's query parameter


async def test_a_read_token_may_list_but_not_submit(secured):
    fw, http, data = secured
    text = token(data, "--user", "bob", "--scope", "read")
    await until_status(http, f"{fw.url}/client/task", 200,
                       headers={"Authorization": f"Bearer {text}"})
    async with http.post(f"{fw.url}/client/task", data=json.dumps(TASK),
                         headers={"Authorization": f"Bearer {text}"}) as resp:
        assert resp.status == 403
        assert "scope read; this needs write" in (await resp.json())["message"]
    async with http.get(f"{fw.url}/client/task",
                        headers=basic("root", "rootpass1")) as resp:
        assert await resp.json() == []


async def test_a_user_of_another_namespace_is_forbidden_there(secured):
    fw, http, _ = secured
    async with http.get(f"{fw.url}/client/task", params={"namespace": "default"},
                        headers=basic("alice", "alicepass")) as resp:
        assert resp.status == 403
        assert "namespace default: alice may act only in team-a" in \
            (await resp.json())["message"]
    async with http.get(f"{fw.url}/v1/jobs", params={"jrunns": "team-a"},
                        headers=basic("alice", "alicepass")) as resp:
        assert resp.status == 200


async def test_a_revoked_token_is_refused_while_the_server_runs(secured):
    fw, http, data = secured
    text = token(data, "--user", "bob")
    headers = {"Authorization": f"Bearer {text}"}
    await until_status(http, f"{fw.url}/client/task", 200, headers=headers)
    token_id = text.split("_")[2]
    berth(data, "token", "revoke", token_id)
    await until_status(http, f"{fw.url}/client/task", 401, headers=headers)


async def test_an_expired_or_foreign_token_is_401(secured):
    fw, http, data = secured
    store = AccessStore(f"sqlite:///{(data / 'berth.db').resolve()}")
    text, _ = store.add_token("bob", None, Scope.WRITE, now=0.0, expires_at=1.0)
    store.close()
    await until_status(http, f"{fw.url}/client/task", 401, "has expired",
                       headers={"Authorization": f"Bearer {text}"})
    foreign = "berth_ffffffff_" + text.split("_", 2)[2]
    async with http.get(f"{fw.url}/client/task",
                        headers={"Authorization": f"Bearer {foreign}"}) as resp:
        assert resp.status == 401 and "another cluster" in (await resp.json())["message"]


async def test_without_users_a_non_loopback_address_is_refused(tmp_path):
    with pytest.raises(ExposureRefused, match="no authentication"):
        await start_framework(None, "0.0.0.0", 0, db_url=f"sqlite:///{tmp_path / 'b.db'}")


def _outside_address() -> str | None:
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family.name == "AF_INET" and not is_loopback(a.address):
                return a.address
    return None


async def test_with_users_it_listens_beyond_loopback_and_asks_for_credentials(tmp_path):
    berth(tmp_path, "user", "add", "root", "--admin", "--password-stdin", stdin="rootpass1\n")
    fw = await start_framework(None, "0.0.0.0", 0,
                               db_url=f"sqlite:///{(tmp_path / 'berth.db').resolve()}")
    try:
        address = _outside_address() or "127.0.0.1"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://{address}:{fw.port}/client/task") as resp:
                assert resp.status == 401
            async with http.get(f"http://{address}:{fw.port}/client/task",
                                headers=basic("root", "rootpass1")) as resp:
                assert resp.status == 200
    finally:
        await fw.stop()


async def test_secrets_appear_in_no_log_answer_or_audit_entry(secured, capfd):
    fw, http, data = secured
    text = token(data, "--user", "bob")
    await until_status(http, f"{fw.url}/client/task", 200,
                       headers={"Authorization": f"Bearer {text}"})
    answers = []
    for headers, params in ((basic("bob", "wrong-password-xyz"), {}),
                            ({"Authorization": f"Bearer {text}"}, {}),
                            ({}, {"jruntok": text}),
                            ({"Authorization": f"Bearer {text[:-3]}"}, {})):
        async with http.post(f"{fw.url}/client/task", data=json.dumps(TASK), headers=headers,
                             params=params) as resp:
            answers.append(await resp.text())
    await fw.trail.flush()
    async with http.get(f"{fw.url}/v1/audit", headers=basic("root", "rootpass1")) as resp:
        answers.append(await resp.text())
    out, err = capfd.readouterr()
    secret = text.split("_", 3)[3]  # berth_<cluster>_<id>_<secret>: the secret may hold "_"
    for seen in (out, err, *answers):
        assert secret not in seen and secret[:-3] not in seen
        assert "wrong-password-xyz" not in seen and "bobspass1" not in seen


async def test_the_cli_sends_berth_token_or_berth_user_and_password(secured):
    fw, http, data = secured
    text = token(data, "--user", "bob")
    await until_status(http, f"{fw.url}/client/task", 200,
                       headers={"Authorization": f"Bearer {text}"})

    def job_list(env: dict[str, str]):
        return CliRunner().invoke(main, ["job", "list", "--url", fw.url], env=env)

    refused = await asyncio.to_thread(job_list, {"BERTH_TOKEN": ""})
    assert refused.exit_code == 1 and "401" in refused.output
    with_token = await asyncio.to_thread(job_list, {"BERTH_TOKEN": text})
    assert with_token.exit_code == 0, with_token.output
    with_password = await asyncio.to_thread(job_list, {"BERTH_USER": "bob",
                                                       "BERTH_PASSWORD": "bobspass1"})
    assert with_password.exit_code == 0, with_password.output
