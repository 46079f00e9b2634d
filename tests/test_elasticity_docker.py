"""Elasticity against the real engine: a load started on the host itself (not in a
container) lowers a running berth container's CPU quota and memory limit, read back with
`docker inspect`, and they grow back to its requested size when the load ends."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import docker
import psutil
import pytest

from benchmarks.host_load import HostLoad
from executor.agent import Agent, AgentConfig
from executor.capacity import Amounts
from executor.container_spec import limits_from_host_config
from executor.docker_backend import DockerBackend
from executor.measure import MIB, PsutilSampler
from offers.elasticity import ElasticPolicy
from offers.launch import LaunchSpec
from offers.states import TaskState
from tests.agent_helpers import build_images, free_port, remove_agent_containers, wait_for

pytestmark = pytest.mark.docker

REQUEST_CPUS, REQUEST_MEM = 0.3, 1024.0
SLACK_MEM = 2048.0  # MiB of budget above the request before the load (others' noise)
LOAD_MEM = 2560  # MiB: leaves the task about 512 MiB of its 1024


@pytest.fixture(scope="module")
def images() -> None:
    build_images()


@pytest.fixture
def agent_id() -> str:
    agent = f"test-elastic-{uuid.uuid4().hex[:8]}"
    yield agent
    remove_agent_containers(agent)


def limits(container_id: str) -> tuple[float, float]:
    client = docker.from_env()
    try:
        return limits_from_host_config(client.api.inspect_container(container_id)["HostConfig"])
    finally:
        client.close()


def tight_headroom() -> Amounts:
    """Headroom that leaves the task's request plus SLACK_MEM of memory right now (this
    machine is shared: its own use moves), so a load of LOAD_MEM squeezes it."""
    memory = psutil.virtual_memory()
    in_use = (memory.total - memory.available) / MIB
    return Amounts(0.0, max(memory.total / MIB - in_use - REQUEST_MEM - SLACK_MEM, 0.0), 0.0)


async def test_a_host_load_lowers_a_containers_limits_and_its_end_restores_them(
        images, agent_id, tmp_path):
    config = AgentConfig(
        master=f"127.0.0.1:{free_port()}", hostname="elastic-test", data_dir=tmp_path,
        headroom=tight_headroom(), backoff_seconds=(5.0, 30.0),
        # Other programs share this machine's two cores: a busy moment of theirs must not
        # end the task; CPU then stays at its floor instead.
        elasticity=ElasticPolicy(cpu_preempts=False))
    backend = DockerBackend(agent_id=agent_id)
    agent = Agent(config, backend, PsutilSampler())
    (tmp_path / "agent_id").write_text(agent_id)  # so it adopts nothing else's containers
    agent.agent_id = backend.agent_id = agent_id
    runner = asyncio.create_task(agent.run())
    task_id = f"elastic{uuid.uuid4().hex[:6]}-1"
    load = HostLoad(cpus=2, mem=LOAD_MEM)
    try:
        await wait_for(lambda: agent.capacity is not None, 20, "the first measurement")
        await backend.launch(LaunchSpec(
            task_id=task_id, framework_id="fw-test", name="elastic",
            image="berth/busybox:latest", shell=True, command="sleep 600",
            cpus=REQUEST_CPUS, mem=REQUEST_MEM))
        task = backend.tasks[task_id]
        assert task.state is TaskState.RUNNING
        await wait_for(lambda: limits(task.container_id) == pytest.approx(
            (REQUEST_CPUS, REQUEST_MEM)), 60, "the requested size before the load")

        load.start()
        def lowered() -> bool:
            cpus, mem = limits(task.container_id)
            return cpus < REQUEST_CPUS and mem < REQUEST_MEM

        await wait_for(lowered, 60, "lowered CPU quota and memory limit")
        assert limits(task.container_id)[1] >= 16  # never below use plus its margin
        await wait_for(lambda: agent.state()["elasticity"]["taken_back"]["mem"] > 0, 10,
                       "the agent's view of what it took back")
        load.stop()

        await wait_for(lambda: limits(task.container_id) == pytest.approx(
            (REQUEST_CPUS, REQUEST_MEM)), 60, "the requested size after the load")
        assert backend.tasks[task_id].state is TaskState.RUNNING  # squeezed, not ended
    finally:
        load.stop()
        await agent.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await runner


async def test_a_preempted_container_is_stopped_and_ends_lost_with_the_reason(
        images, agent_id):
    updates = []
    backend = DockerBackend(agent_id=agent_id, on_status=updates.append, gc_delay=0)
    await backend.start()
    try:
        task_id = f"preempt{uuid.uuid4().hex[:6]}-1"
        await backend.launch(LaunchSpec(
            task_id=task_id, framework_id="fw-test", name="preempt",
            image="berth/busybox:latest", shell=True, command="sleep 600",
            cpus=0.1, mem=32))
        container_id = backend.tasks[task_id].container_id
        reason = "preempted: node's own load needs 0.50 cpus / 100 MiB"
        await backend.preempt(task_id, reason)
        end = await wait_for(lambda: next((u for u in updates if u.task_id == task_id
                                           and u.state.terminal), None), 30, "its end")
        assert (end.state, end.reason) == (TaskState.LOST, reason)
        client = docker.from_env()
        try:
            await wait_for(lambda: not client.containers.list(
                filters={"id": container_id}), 30, "the container to stop")
        finally:
            client.close()
    finally:
        await backend.close()
