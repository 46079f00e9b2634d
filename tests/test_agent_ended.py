"""A task's end is re-reported at the next registration (`ended`) even after it went down a
link: the master may have failed to store it (full disk) and dropped the link. Real HTTP and
websockets on loopback against a master stand-in that records what the agent sends."""

from __future__ import annotations

import asyncio
import random

import aiohttp
from aiohttp import web

from executor.agent import Agent, AgentConfig
from executor.tasks import StatusUpdate
from offers.states import TaskState
from tests.agent_helpers import wait_for
from tests.master_fixtures import start_test_master
from tests.test_agent_backoff import FixedSampler, IdleBackend, VirtualTime


async def test_an_end_sent_on_a_link_that_then_broke_is_reported_again(tmp_path):
    registrations: list[dict] = []
    statuses: list[dict] = []

    async def register(request: web.Request) -> web.Response:
        registrations.append(await request.json())
        return web.json_response({"agent_id": "a1", "heartbeat_seconds": 60,
                                  "keep": [], "kill": []})

    async def stream(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.TEXT and '"STATUS"' in msg.data:
                statuses.append(msg.json())
                break  # as a master whose disk is full: the STATUS is not stored
        await ws.close()
        return ws
    app = web.Application()
    app.router.add_post("/agent/v1/register", register)
    app.router.add_get("/agent/v1/stream", stream)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    vt = VirtualTime()
    backend = IdleBackend()
    agent = Agent(AgentConfig(master=f"127.0.0.1:{runner.addresses[0][1]}", hostname="n1",
                              data_dir=tmp_path), backend, FixedSampler(), clock=vt.clock,
                  wait=vt.wait, rng=random.Random(1))
    run = asyncio.create_task(agent.run())
    try:
        await wait_for(lambda: agent.connected.is_set(), what="connected")
        assert registrations[0]["ended"] == []
        agent._on_status(StatusUpdate("t-1", TaskState.FAILED, "exited with code 137",
                                      "c1", 137, "", "fw"))
        await wait_for(lambda: len(registrations) >= 2, what="registered again")
        assert statuses and statuses[0]["task_id"] == "t-1"  # it did go down the link
        (end,) = registrations[1]["ended"]
        assert (end["task_id"], end["state"], end["exit_code"]) == ("t-1", "FAILED", 137)
        # A 200 confirmed it: neither kept for later registrations nor sent on the link again.
        await wait_for(lambda: agent.state()["ended_unconfirmed"] == 0, what="confirmed")
        await wait_for(lambda: agent.connected.is_set(), what="connected again")
        assert agent.state()["pending_statuses"] == 0 and len(statuses) == 1
    finally:
        await agent.stop()
        await asyncio.wait_for(run, 10)
        await runner.cleanup()


async def test_the_master_refuses_an_ended_entry_it_cannot_take(tmp_path):
    master = await start_test_master(tmp_path)
    body = {"hostname": "n1", "total": {"cpus": 1, "mem": 512}, "running": [],
            "ended": [{"task_id": "t-1", "state": "RUNNING"}, "nonsense"]}
    try:
        async with aiohttp.ClientSession() as http, \
                http.post(f"{master.url}/agent/v1/register", json=body) as resp:
            assert resp.status == 400
            errors = {e["field"]: e["problem"] for e in (await resp.json())["errors"]}
        assert errors == {"ended[0].state": "must be a terminal state",
                          "ended[1]": "not an object"}
    finally:
        await master.stop()
