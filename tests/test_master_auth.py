"""Agents and frameworks authenticate to a master whose database has users; a framework
belongs to the principal that subscribed it. Real HTTP on loopback, a real SQLite store."""

from __future__ import annotations

import aiohttp
import pytest

from access.passwords import hash_password
from access.policy import Scope
from access.store import AccessStore
from api.auth import ExposureRefused
from api.master_app import start_master
from offers.protocol import mesos as mj
from tests.master_fixtures import FakeAgent, SchedulerClient, start_test_master, wait_for


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(user, password)}


@pytest.fixture
async def secured(tmp_path):
    url = f"sqlite:///{tmp_path / 'berth.db'}"
    store = AccessStore(url)
    for name, role in (("root", "admin"), ("alice", "user"), ("bob", "user")):
        store.add_user(name, role, frozenset({"default"}), hash_password(f"{name}-pass"), 0.0)
    agent_token, _ = store.add_token("root", None, Scope.ADMIN, 0.0, None)
    user_token, _ = store.add_token("alice", None, Scope.WRITE, 0.0, None)
    store.close()
    master = await start_test_master(tmp_path, db_url=url)
    yield master, {"agent": f"Bearer {agent_token}", "user": f"Bearer {user_token}"}
    await master.stop()


async def post(url: str, body: dict, headers: dict | None = None) -> tuple[int, str]:
    async with aiohttp.ClientSession(headers=headers) as s, s.post(url, json=body) as r:
        return r.status, await r.text()


async def get_status(url: str, headers: dict | None = None) -> int:
    async with aiohttp.ClientSession(headers=headers) as s, s.get(url) as r:
        return r.status


AGENT_BODY = {"hostname": "intruder", "endpoint": "http://intruder:5051",
              "attributes": {"nodetype": "lab"},
              "total": {"cpus": 4, "mem": 4096, "disk": 1000, "ports": "31000-31099"},
              "spare": {"cpus": 4, "mem": 4096, "disk": 1000, "ports": "31000-31099"},
              "running": []}


async def test_an_agent_without_the_secret_cannot_register_and_with_it_can(secured):
    master, creds = secured
    status, text = await post(f"{master.url}/agent/v1/register", AGENT_BODY)
    assert status == 401 and "not authenticated" in text
    status, text = await post(f"{master.url}/agent/v1/register", AGENT_BODY,
                              {"Authorization": creds["user"]})
    assert status == 403 and "needs admin" in text
    assert master.service.core.agents == {}
    async with aiohttp.ClientSession(headers={"Authorization": creds["agent"]}) as session:
        agent = await FakeAgent.register(master.url, "node-1", session=session)
        assert agent.agent_id in master.service.core.agents
        await agent.ws.close()
    assert await get_status(f"{master.url}/agent/v1/stream?agent_id={agent.agent_id}") == 401


async def test_a_framework_must_authenticate_to_subscribe(secured):
    master, _ = secured
    status, _ = await post(f"{master.url}/api/v1/scheduler", mj.subscribe_call("anon"))
    assert status == 401
    assert master.service.core.frameworks == {}
    fw = await SchedulerClient.subscribe(master.url, "alices", headers=basic("alice",
                                                                              "alice-pass"))
    assert master.service.core.frameworks[fw.framework_id].info["principal"] == "alice"
    await fw.close()


async def test_another_principal_cannot_take_over_or_tear_down_a_framework(secured):
    master, _ = secured
    fw = await SchedulerClient.subscribe(master.url, "alices", headers=basic("alice",
                                                                              "alice-pass"))
    status, text = await post(f"{master.url}/api/v1/scheduler",
                              mj.subscribe_call("alices", framework_id=fw.framework_id),
                              basic("bob", "bob-pass"))
    assert status == 403 and "belongs to principal 'alice'" in text
    teardown = {"type": "TEARDOWN", "framework_id": {"value": fw.framework_id}}
    status, _ = await post(f"{master.url}/api/v1/scheduler", teardown,
                           {**basic("bob", "bob-pass"), "Mesos-Stream-Id": fw.stream_id})
    assert status == 403
    assert not master.service.core.frameworks[fw.framework_id].removed
    status, _ = await post(f"{master.url}/api/v1/scheduler", teardown,
                           {**basic("root", "root-pass"), "Mesos-Stream-Id": fw.stream_id})
    assert status == 202  # an admin may
    await wait_for(lambda: master.service.core.frameworks[fw.framework_id].removed,
                   what="the framework torn down")
    await fw.close()


async def test_a_claimed_principal_must_be_the_authenticated_one(secured):
    master, _ = secured
    call = mj.subscribe_call("sneaky")
    call["subscribe"]["framework_info"]["principal"] = "alice"
    status, text = await post(f"{master.url}/api/v1/scheduler", call, basic("bob", "bob-pass"))
    assert status == 403 and "is not the authenticated principal" in text


async def test_reads_need_credentials_and_health_does_not(secured):
    master, creds = secured
    assert await get_status(f"{master.url}/state") == 401
    assert await get_status(f"{master.url}/health") == 200
    assert await get_status(f"{master.url}/state", {"Authorization": creds["user"]}) == 200


async def test_version_and_the_openapi_document_stay_open(secured):
    """What a client reads before it has credentials (docs/access.md: `/version` stays
    open; it was refused with 401)."""
    master, _ = secured
    assert await get_status(f"{master.url}/version") == 200
    assert await get_status(f"{master.url}/openapi.json") == 200
    assert await get_status(f"{master.url}/v1/metering") == 401


async def test_without_users_the_master_stays_on_loopback_unless_insecure(tmp_path):
    with pytest.raises(ExposureRefused, match="no authentication"):
        await start_master("0.0.0.0", 0, db_url=f"sqlite:///{tmp_path / 'b.db'}")
    master = await start_master("0.0.0.0", 0, db_url=f"sqlite:///{tmp_path / 'b.db'}",
                                insecure=True)
    await master.stop()
