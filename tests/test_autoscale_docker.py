"""The autoscaler with real containers: a real master, a real agent on the local Docker
engine, the framework in this process with its clock injected, its tick driven by the
test and its metrics from an in-memory source (pushed as a health check would record
`response_time`). A service of `berth/busybox`'s httpd grows from 1 to its maximum with
containers of the preset strategy's size (read back with `docker inspect`) and shrinks
back to 1 once the stabilization has passed.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace

import aiohttp
import docker
import pytest

from api.agent_node import start_agent
from api.framework_server import start_framework
from cli.agent import agent_config
from tests.agent_helpers import build_images, free_port, remove_agent_containers, wait_for
from tests.framework_harness import Clock
from tests.master_fixtures import start_test_master
from tests.metric_source import InMemoryMetrics

pytestmark = pytest.mark.docker

T0 = 1_800_000_000.0
MIB = 1024 * 1024


@pytest.fixture
async def stack(tmp_path):
    build_images()
    master = await start_test_master(tmp_path)
    low = min(free_port(), 65535 - 10)
    config = agent_config(master.url, hostname=f"node-{uuid.uuid4().hex[:6]}", nodetype="lab",
                          resources=f"cpus:2;mem:1024;ports:[{low}-{low + 9}]", headroom="",
                          data_dir=tmp_path / "agent", ignore_incumbent=True)
    agent = await start_agent(replace(config, meter_seconds=0.5), host="127.0.0.1", port=0)
    await wait_for(lambda: agent.agent.connected.is_set(), what="agent connected")
    clock, metrics = Clock(T0), InMemoryMetrics()
    fw = await start_framework(master.url, "127.0.0.1", 0, clock=clock,
                               db_url=f"sqlite:///{tmp_path / 'fw.db'}", tick_seconds=3600,
                               metric_source=metrics)
    session = aiohttp.ClientSession()
    yield clock, metrics, fw, session
    await session.close()
    await fw.stop()
    await agent.stop()
    await master.stop()
    remove_agent_containers(agent.agent.agent_id)


async def poll(check, what: str, timeout: float = 60.0) -> None:
    """Until `await check()` is true; the deadline only bounds a failure."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not await check():
        assert loop.time() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def running_memory(name: str) -> list[int]:
    """The memory limit (MiB) of each running container of the job, sorted."""
    client = docker.from_env()
    try:
        containers = client.containers.list(filters={"label": ["berth.task_id"]})
        return sorted(c.attrs["HostConfig"]["Memory"] // MIB for c in containers
                      if c.labels["berth.task_id"].startswith(f"{name}."))
    finally:
        client.close()


async def test_a_service_scales_to_its_maximum_with_bigger_containers_and_back(stack):
    clock, metrics, fw, session = stack
    name = f"as-{uuid.uuid4().hex[:6]}"
    job = {"name": name, "type": "service", "count": 1,
           "task": {"dockerimage": "berth/busybox", "cpus": 0.1, "mem": 32, "nodetype": "lab",
                    "arguments": ["httpd", "-f", "-p", "8080"]},
           "autoscale": {"min": 1, "max": 3, "scale_down": {"stabilization": 60},
                         "on_autoscaling": {"response_time_threshold": 2000,
                                            "adapt_interval": 1, "strategy": "medium_up",
                                            "sizes": [{"cpus": 0.1 * i, "mem": 16 * i}
                                                      for i in (2, 3, 4, 5, 6)]}}}
    async with session.post(f"{fw.url}/v1/jobs", json=job) as resp:
        assert resp.status == 201, await resp.text()

    async def running(count: int) -> None:
        async def enough():
            async with session.get(f"{fw.url}/v1/jobs/{name}") as resp:
                doc = await resp.json()
            return (doc["desired"] == count and doc["running"] == count
                    and len(await asyncio.to_thread(running_memory, name)) == count)

        await poll(enough, f"{count} running")

    await running(1)
    assert running_memory(name) == [32]
    for minute in (1, 2):
        metrics.record("response_time", 2500, T0 + 60 * minute - 1, job=name,
                       namespace="default")
        clock.now = T0 + 60 * minute
        await fw.service.tick()
        await running(1 + minute)
    assert running_memory(name) == [32, 80, 80]  # medium_up of five: the fourth

    for minute in (3, 4, 5, 6):
        metrics.record("response_time", 50, T0 + 60 * minute - 1, job=name,
                       namespace="default")
        clock.now = T0 + 60 * minute
        await fw.service.tick()
    await running(1)
    assert len(running_memory(name)) == 1
