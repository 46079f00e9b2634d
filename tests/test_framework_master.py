"""The framework against a real master over the Mesos v1 API, with agents played over the
real agent link (tests/master_fixtures.FakeAgent runs nothing; Docker is not needed)."""

from __future__ import annotations

import json

import aiohttp
import pytest

from api.framework_service import start_framework
from tests.master_fixtures import FakeAgent, start_test_master, wait_for

STRESS60 = {"id": "stress60", "dockerimage": "stress", "mem": "100", "reshuffleable": True,
            "nodetype": "lab", "arguments": ["--vm-bytes", "60M", "--vm", "1"]}


@pytest.fixture
async def cluster(tmp_path):
    master = await start_test_master(tmp_path)
    fw = await start_framework(master.url, "127.0.0.1", 0,
                               db_url=f"sqlite:///{tmp_path / 'fw.db'}", tick_seconds=0.05)
    session = aiohttp.ClientSession()
    agents: list[FakeAgent] = []
    yield master, fw, session, agents
    for agent in agents:
        await agent.close()
    await session.close()
    await fw.stop()
    await master.stop()


async def _tasks(session, fw) -> list[dict]:
    async with session.get(f"{fw.url}/client/task") as resp:
        return await resp.json()


async def _submit(session, fw, spec) -> str:
    async with session.post(f"{fw.url}/client/task", data=json.dumps(spec)) as resp:
        assert resp.status == 202
        return resp.headers["Location"].removeprefix("/v1/tasks/")


async def test_submit_launch_run_kill_through_the_master(cluster):
    master, fw, session, agents = cluster
    internal = await _submit(session, fw, STRESS60)
    agents.append(await FakeAgent.register(master.url, "node-1", nodetype="lab"))
    launch = await agents[0].next_message("LAUNCH")
    assert launch["task"]["task_id"] == internal and launch["task"]["image"] == "stress"
    assert launch["task"]["arguments"] == ["--vm-bytes", "60M", "--vm", "1"]
    await agents[0].status(internal, "RUNNING", container_id="c0ffee")

    async def running():
        items = await _tasks(session, fw)
        return items and items[0]["state"] == "RUNNING" and items[0]

    item = await wait_for(running, what="task RUNNING in the list")
    assert item["hostname"] == "node-1" and item["agent_id"] == agents[0].agent_id
    assert item["container_id"] == "c0ffee" and item["Running"] is True

    async with session.delete(f"{fw.url}/client/task/stress") as resp:
        assert await resp.json() == {"code": 200, "message": f"Kill task: {internal}"}
    kill = await agents[0].next_message("KILL")
    assert kill["task_id"] == internal
    await agents[0].status(internal, "KILLED")

    async def killed():
        return (await _tasks(session, fw))[0]["state"] == "KILLED"

    await wait_for(killed, what="task KILLED")


async def test_unplaceable_task_stays_pending_with_a_reason(cluster):
    master, fw, session, agents = cluster
    await _submit(session, fw, {**STRESS60, "nodetype": "analytics"})
    agents.append(await FakeAgent.register(master.url, "node-1", nodetype="lab"))

    async def explained():
        [item] = await _tasks(session, fw)
        return item["state"] == "PENDING" and "nodetype" in (item["reason"] or "") and item

    await wait_for(explained, what="a nodetype reason")


async def test_one_per_node_reaches_an_agent_that_joins_later(cluster):
    master, fw, session, agents = cluster
    await _submit(session, fw, {"id": "cadvisor", "dockerimage": "stress", "mem": "50",
                                "sla": "one-per-node", "notmetered": True})
    agents.append(await FakeAgent.register(master.url, "node-1"))
    first = await agents[0].next_message("LAUNCH")
    await agents[0].status(first["task"]["task_id"], "RUNNING")
    agents.append(await FakeAgent.register(master.url, "node-2"))
    second = await agents[1].next_message("LAUNCH")
    assert second["task"]["task_id"] != first["task"]["task_id"]
    await agents[1].status(second["task"]["task_id"], "RUNNING")

    async def both_running():
        items = await _tasks(session, fw)
        return sorted(i["hostname"] for i in items if i["state"] == "RUNNING") == [
            "node-1", "node-2"]

    await wait_for(both_running, what="cadvisor on both nodes")


async def test_framework_restart_resubscribes_and_keeps_its_tasks(tmp_path):
    master = await start_test_master(tmp_path)
    db = f"sqlite:///{tmp_path / 'fw.db'}"
    fw = await start_framework(master.url, "127.0.0.1", 0, db_url=db, tick_seconds=0.05)
    async with aiohttp.ClientSession() as session:
        agent = await FakeAgent.register(master.url, "node-1", nodetype="lab")
        try:
            internal = await _submit(session, fw, STRESS60)
            await agent.next_message("LAUNCH")
            await agent.status(internal, "RUNNING")

            async def running(f):
                items = await _tasks(session, f)
                return items and items[0]["state"] == "RUNNING"

            await wait_for(lambda: running(fw), what="RUNNING before restart")
            framework_id = fw.service.client.framework_id
            await fw.stop()
            fw = await start_framework(master.url, "127.0.0.1", 0, db_url=db,
                                       tick_seconds=0.05)
            await wait_for(lambda: fw.service.client.connected.is_set(), what="resubscribed")
            assert fw.service.client.framework_id == framework_id
            await wait_for(lambda: running(fw), what="RUNNING after restart")
            assert [t["internal_id"] for t in await _tasks(session, fw)] == [internal]
        finally:
            await agent.close()
            await fw.stop()
            await master.stop()
