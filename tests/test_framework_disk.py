"""The framework on a full disk, for real: its SQLite database on a 2 MiB tmpfs, filled with
a file until writes fail; a real master on loopback and an agent played over the real
agent link (tests/master_fixtures.FakeAgent records the KILLs it is sent).

A 5xx means nothing was done; writes answer 503 naming the store while reads keep
working; freeing the disk makes writes work again without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp
import pytest

from api.framework_server import start_framework
from tests.master_fixtures import FakeAgent, start_test_master, wait_for
from tests.small_disk import fill, free, small_disk

STRESS60 = {"id": "stress60", "dockerimage": "stress", "mem": "100", "reshuffleable": True,
            "nodetype": "lab", "arguments": ["--vm-bytes", "60M", "--vm", "1"]}
# Placed nowhere (no such nodetype): stays PENDING, only its rows take space.
FILLER = {"id": "filler", "dockerimage": "stress", "mem": "100", "nodetype": "nowhere",
          "arguments": ["x" * 2000]}
STORE_DOWN = "the framework's state store cannot be written: "

__all__ = ["small_disk"]  # the fixture


@pytest.fixture
async def cluster(tmp_path, small_disk):
    master = await start_test_master(tmp_path)
    fw = await start_framework(master.url, "127.0.0.1", 0,
                               db_url=f"sqlite:///{small_disk / 'fw.db'}", tick_seconds=0.05)
    session = aiohttp.ClientSession()
    agents: list[FakeAgent] = []
    yield master, fw, session, agents, small_disk
    for agent in agents:
        await agent.close()
    await session.close()
    with contextlib.suppress(FileNotFoundError):
        free(small_disk)  # so the framework can stop cleanly
    await fw.stop()
    await master.stop()


async def _tasks(session, fw) -> list[dict]:
    async with session.get(f"{fw.url}/client/task") as resp:
        assert resp.status == 200
        return await resp.json()


async def _post(session, fw, spec) -> aiohttp.ClientResponse:
    async with session.post(f"{fw.url}/client/task", data=json.dumps(spec),
                            headers={"Content-Type": "application/json"}) as resp:
        await resp.read()
        return resp


async def _no_message(agent: FakeAgent, kind: str, seconds: float) -> bool:
    with contextlib.suppress(TimeoutError):
        await agent.next_message(kind, timeout=seconds)
        return False
    return True


async def test_full_disk_kills_nothing_answers_503_and_recovers(cluster):
    master, fw, session, agents, disk = cluster
    resp = await _post(session, fw, STRESS60)
    assert resp.status == 202
    internal = resp.headers["Location"].removeprefix("/v1/tasks/")
    agents.append(await FakeAgent.register(master.url, "node-1", nodetype="lab"))
    agent = agents[0]
    await agent.next_message("LAUNCH")
    await agent.status(internal, "RUNNING", container_id="c0ffee")

    async def running():
        return any(t["internal_id"] == internal and t["state"] == "RUNNING"
                   for t in await _tasks(session, fw))

    await wait_for(running, what="task RUNNING")

    fill(disk)
    for _ in range(500):  # whatever room SQLite's files still had is used up
        resp = await _post(session, fw, FILLER)
        if resp.status != 202:
            break
    else:
        pytest.fail("writes never failed on a full disk")
    assert resp.status == 503, resp.status
    before = await _tasks(session, fw)

    # A kill that cannot be recorded is not carried out, and says why.
    async with session.delete(f"{fw.url}/client/task/stress60") as resp:
        assert resp.status == 503
        assert resp.headers["Retry-After"]
        body = await resp.json()
    assert body["code"] == 503 and body["message"].startswith(STORE_DOWN), body
    async with session.get(f"{fw.url}/client/task/reshuffle") as resp:
        assert resp.status == 503
        assert (await resp.json())["message"].startswith(STORE_DOWN)
    resp = await _post(session, fw, FILLER)
    assert resp.status == 503
    assert await _no_message(agent, "KILL", 1.0), "a kill was sent though it answered 503"

    # Reads keep working, and the scheduler's state is as it was.
    assert await _tasks(session, fw) == before
    async with session.get(f"{fw.url}/admin/ping") as resp:
        assert (resp.status, await resp.text()) == (200, "pong")
    async with session.get(f"{fw.url}/v1/tasks") as resp:
        assert resp.status == 200

    # Room again: the same process takes writes, and the kill goes ahead.
    free(disk)
    async with session.delete(f"{fw.url}/client/task/stress60") as resp:
        assert resp.status == 200, await resp.text()
        assert await resp.json() == {"code": 200, "message": f"Kill task: {internal}"}
    kill = await agent.next_message("KILL")
    assert kill["task_id"] == internal
    resp = await _post(session, fw, FILLER)
    assert resp.status == 202


async def test_a_kill_recorded_before_a_crash_is_carried_out_after_it(tmp_path):
    """The kill's desired state is on disk before the kill is sent: a restart finds it."""
    from framework.store import FrameworkStore

    url = f"sqlite:///{tmp_path / 'fw.db'}"
    fw = await start_framework(None, "127.0.0.1", 0, db_url=url)
    try:
        internal = await fw.service.submit(_spec())
        store = FrameworkStore(url)
        try:
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: store.write(killed_prefixes=["stress"]))
            events = store.recover()
        finally:
            store.close()
    finally:
        await fw.stop()
    assert events == []  # its submission is no longer wanted: nothing is queued again
    assert internal


def _spec():
    from offers.task import parse_task
    return parse_task(STRESS60)
