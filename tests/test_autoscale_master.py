"""The autoscaler end to end short of Docker: a real master, the framework over the
Mesos v1 API, an agent played over the real agent link (it runs nothing, reports what a
real one would). The framework's clock is injected and its tick driven by the test; the
metrics come from an in-memory source. What the agent is told to launch and kill is
what a user would see happen on the node.
"""

from __future__ import annotations

import aiohttp
import pytest

from api.framework_server import start_framework
from tests.framework_harness import Clock
from tests.master_fixtures import FakeAgent, start_test_master, wait_for
from tests.metric_source import InMemoryMetrics

T0 = 1_800_000_000.0
JOB = {"name": "web", "type": "service", "count": 1,
       "task": {"dockerimage": "berth/busybox", "cpus": 0.1, "mem": 16, "nodetype": "lab",
                "arguments": ["httpd", "-f", "-p", "8080"]},
       "autoscale": {"min": 1, "max": 3, "scale_down": {"stabilization": 120},
                     "on_autoscaling": {"response_time_threshold": 2000,
                                        "adapt_interval": 1, "strategy": "high",
                                        "sizes": [{"cpus": 0.25, "mem": 64},
                                                  {"cpus": 0.5, "mem": 128}]}}}


@pytest.fixture
async def cluster(tmp_path):
    clock = Clock(T0)
    metrics = InMemoryMetrics()
    master = await start_test_master(tmp_path)
    fw = await start_framework(master.url, "127.0.0.1", 0, clock=clock,
                               db_url=f"sqlite:///{tmp_path / 'fw.db'}", tick_seconds=3600,
                               metric_source=metrics)
    session = aiohttp.ClientSession()
    agent = await FakeAgent.register(master.url, "node-1", nodetype="lab")
    yield clock, metrics, fw, session, agent
    await agent.close()
    await session.close()
    await fw.stop()
    await master.stop()


async def test_a_service_grows_with_instances_of_the_strategys_size_and_shrinks_back(
        cluster):
    clock, metrics, fw, session, agent = cluster
    async with session.post(f"{fw.url}/v1/jobs", json=JOB) as resp:
        assert resp.status == 201, await resp.text()

    async def launched() -> dict:
        launch = await agent.next_message("LAUNCH")
        await agent.status(launch["task"]["task_id"], "RUNNING", container_id="c")
        return launch["task"]

    first = await launched()
    assert (first["cpus"], first["mem"]) == (0.1, 16)

    async def running(count: int) -> None:
        async def enough():
            async with session.get(f"{fw.url}/v1/jobs/web") as resp:
                job = await resp.json()
            return job["running"] == count and job["desired"] == count
        await wait_for(enough, what=f"{count} running")

    await running(1)
    added = []
    for minute in (1, 2, 3):  # slow responses: up to the maximum, one a minute
        metrics.record("response_time", 3000, T0 + 60 * minute - 5, job="web",
                       namespace="default")
        clock.now = T0 + 60 * minute
        await fw.service.tick()
        if minute < 3:
            added.append(await launched())
            await running(1 + minute)
    assert [(t["cpus"], t["mem"]) for t in added] == [(0.5, 128), (0.5, 128)]  # `high`

    killed = []
    for minute in range(4, 10):  # fast again: one fewer a minute after the stabilization
        metrics.record("response_time", 100, T0 + 60 * minute - 5, job="web",
                       namespace="default")
        clock.now = T0 + 60 * minute
        await fw.service.tick()
        async with session.get(f"{fw.url}/v1/jobs/web") as resp:
            job = await resp.json()
        if job["desired"] < 3 - len(killed):
            kill = await agent.next_message("KILL")
            await agent.status(kill["task_id"], "KILLED")
            killed.append(minute)
    assert killed == [5, 6]  # 120 s after the last minute that asked for 3 (minute 3)
    await running(1)
    async with session.get(f"{fw.url}/v1/jobs/web/autoscale") as resp:
        decisions = (await resp.json())["decisions"]
    assert [d["reason"] for d in decisions if d["changed"]] == [
        "count 2 -> 1: response_time mean 100 ms under 1,000 ms for 3 intervals",
        "count 3 -> 2: response_time mean 100 ms under 1,000 ms for 2 intervals",
        "count 2 -> 3: response_time mean 3,000 ms over 2,000 ms for 2 intervals",
        "count 1 -> 2: response_time mean 3,000 ms over 2,000 ms"]
