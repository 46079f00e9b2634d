"""The framework against a real master over the Mesos v1 API, with agents played over the
real agent link (tests/master_fixtures.FakeAgent runs nothing; Docker is not needed)."""

from __future__ import annotations

import aiohttp
import pytest

from api.framework_server import start_framework
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
    async with session.post(f"{fw.url}/client/task", json=spec) as resp:
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


async def test_reshuffle_repacks_by_metered_usage_onto_fewer_agents(tmp_path):
    """Four tasks ask 100 MiB on 250 MiB agents (two per agent); they use 20 MiB each.
    After a reshuffle they are placed by that usage (22 MiB) and fit on one agent."""
    from cli.embedded import forward_metering

    master = await start_test_master(tmp_path)
    fw = await start_framework(master.url, "127.0.0.1", 0,
                               db_url=f"sqlite:///{tmp_path / 'fw.db'}", tick_seconds=0.05)
    forward_metering(master, fw)
    agents = [await FakeAgent.register(master.url, f"node-{i}", mem=250.0) for i in range(3)]
    by_agent = {a.agent_id: a for a in agents}
    session = aiohttp.ClientSession()
    placed: dict[str, str] = {}  # task id -> agent id, as launched

    async def serve_launches(expected: int) -> None:
        async def pump():
            for agent in agents:
                while not agent.messages.empty():
                    msg = agent.messages.get_nowait()
                    if msg["type"] == "LAUNCH":
                        task_id = msg["task"]["task_id"]
                        placed[task_id] = agent.agent_id
                        await agent.status(task_id, "RUNNING")
                    elif msg["type"] == "KILL":
                        await agent.status(msg["task_id"], "KILLED")
            return len(placed) >= expected
        await wait_for(pump, what=f"{expected} launches")

    try:
        ids = [await _submit(session, fw, {"id": f"sim{i}", "dockerimage": "stress",
                                           "mem": 100, "cpus": 0.1, "reshuffleable": True})
               for i in range(4)]
        await serve_launches(4)
        before = {placed[t] for t in ids}
        assert len(before) == 2
        for task_id in ids:
            await by_agent[placed[task_id]].send({"type": "METERING", "samples": [
                {"task_id": task_id, "t": 1.0, "cpus": 0.01, "mem": 20.0}]})
        await wait_for(lambda: len(fw.service.scheduler.usage()) == 4, what="usage metered")
        async with session.get(f"{fw.url}/client/task/reshuffle") as resp:
            assert resp.status == 202
        await serve_launches(8)
        new = [t for t in placed if t not in ids]
        assert len(new) == 4 and all(t.rsplit(".", 1)[0] in ids for t in new)
        after = {placed[t] for t in new}
        assert len(after) < len(before)

        async def all_new_running():
            async with session.get(f"{fw.url}/v1/tasks?state=RUNNING") as resp:
                tasks = (await resp.json())["tasks"]
            return sorted(t["internal_id"] for t in tasks) == sorted(new) and tasks

        running = await wait_for(all_new_running, what="the reshuffled tasks RUNNING")
        assert {t["launched"]["mem"] for t in running} == {22.0}
    finally:
        for agent in agents:
            await agent.close()
        await session.close()
        await fw.stop()
        await master.stop()


async def test_master_restart_the_framework_resubscribes_with_its_id(tmp_path):
    master = await start_test_master(tmp_path)
    port = master.port
    fw = await start_framework(master.url, "127.0.0.1", 0,
                               db_url=f"sqlite:///{tmp_path / 'fw.db'}", tick_seconds=0.05)
    try:
        client = fw.service.client
        await wait_for(client.connected.is_set, what="subscribed")
        framework_id = client.framework_id
        await master.stop()
        await wait_for(lambda: not client.connected.is_set(), what="the link to drop")
        master = await _restart(tmp_path, port)
        await wait_for(lambda: client.subscriptions >= 2, what="resubscribed")
        assert client.framework_id == framework_id
        async with aiohttp.ClientSession() as session:
            internal = await _submit(session, fw, STRESS60)
            agent = await FakeAgent.register(master.url, "node-1", nodetype="lab",
                                             session=session)
            launch = await agent.next_message("LAUNCH")
            assert launch["task"]["task_id"] == internal
            await agent.go_silent()
    finally:
        await fw.stop()
        await master.stop()


async def _restart(tmp_path, port):
    from api.master_app import start_master
    return await start_master("127.0.0.1", port, db_url=f"sqlite:///{tmp_path / 'berth.db'}",
                              tick_seconds=0.05)
