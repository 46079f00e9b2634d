"""berth's registry inside a `berth up`-like run: master, framework and the local agent in
this process with a real `docker-registry` beside them and the local Docker engine.

- the agent is told the registry at registration;
- an image only in the registry runs as a task after the agent pulled it, and is then on
  the node under the name the task used;
- an image in neither place ends ERROR naming both;
- `berth up` whose registry port is taken stops with a message saying so.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import aiohttp
import docker
import pytest

from cli.agent import agent_config
from cli.embedded import start_embedded
from master.registry_server import RegistryServer
from tests.agent_helpers import build_images, free_port, remove_agent_containers, wait_for

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def cluster(tmp_path):
    build_images()
    registry = RegistryServer(tmp_path / "data", "127.0.0.1", free_port())
    config = agent_config("127.0.0.1", hostname=f"reg-{uuid.uuid4().hex[:6]}", nodetype="lab",
                          headroom="", data_dir=tmp_path / "agent", ignore_incumbent=True)
    running = await start_embedded(config, db_url=f"sqlite:///{tmp_path / 'berth.db'}",
                                   master_port=0, framework_port=0, agent_port=0,
                                   registry=registry)
    session = aiohttp.ClientSession()
    try:
        yield running, session
    finally:
        await session.close()
        await running.stop(grace_seconds=1)
        if running.agent.agent.agent_id:
            remove_agent_containers(running.agent.agent.agent_id)


def _docker(*args: str) -> None:
    subprocess.run(["docker", *args], check=True, capture_output=True)


async def _push_only(registry: str, name: str) -> None:
    """`berth/busybox` into the registry as `name`, and not on this node under it."""
    remote = f"{registry}/{name}"
    for args in (("tag", "berth/busybox", remote), ("push", remote), ("rmi", remote)):
        await asyncio.to_thread(_docker, *args)


async def _submit(session, base: str, name: str, image: str) -> str:
    task = {"id": name, "dockerimage": image, "cpus": 0.05, "mem": 16, "nodetype": "lab",
            "arguments": ["sh", "-c", "echo pulled-and-ran; sleep 30"]}
    async with session.post(f"{base}/client/task", json=task) as resp:
        assert resp.status == 202, await resp.text()
        return resp.headers["Location"].removeprefix("/v1/tasks/")


async def _wait_state(session, base: str, task_id: str, states: set[str]) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while True:
        async with session.get(f"{base}/v1/tasks/{task_id}") as resp:
            item = await resp.json()
        if item["state"] in states:
            return item
        assert loop.time() < deadline, f"task stayed {item['state']}: {item['reason']}"
        await asyncio.sleep(0.1)


async def test_an_image_only_in_the_registry_runs_after_the_agent_pulls_it(cluster):
    running, session = cluster
    registry = running.registry.address
    assert running.framework.registry == registry
    await wait_for(running.agent.agent.connected.is_set, what="the agent registered")
    assert running.agent.agent.backend.registry == registry  # told at registration
    name = f"berth-test/pull-{uuid.uuid4().hex[:8]}:1"
    await _push_only(registry, name)
    client = docker.from_env()
    try:
        with pytest.raises(docker.errors.ImageNotFound):
            client.images.get(name)
        task_id = await _submit(session, running.framework.url, "pulled", name)
        item = await _wait_state(session, running.framework.url, task_id,
                                 {"RUNNING", "ERROR", "FAILED"})
        assert item["state"] == "RUNNING", item["reason"]
        assert client.images.get(name).tags  # now on the node, under the task's name
    finally:
        await asyncio.to_thread(subprocess.run, ["docker", "rmi", "-f", name,
                                                 f"{registry}/{name}"], capture_output=True)
        client.close()


async def test_an_image_in_neither_place_ends_error_naming_both(cluster):
    running, session = cluster
    name = f"berth-test/absent-{uuid.uuid4().hex[:8]}"
    task_id = await _submit(session, running.framework.url, "absent", name)
    item = await _wait_state(session, running.framework.url, task_id, {"ERROR", "RUNNING"})
    assert item["state"] == "ERROR"
    assert f"image {name} not found on this node nor in registry " \
           f"{running.registry.address}" in item["reason"]


def test_berth_up_with_its_registry_port_taken_says_so(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "cli", "up", "--data-dir", str(tmp_path), "--port", "0",
             "--master-port", "0", "--agent-port", "0", "--registry-port", str(port)],
            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "berth's registry did not start" in done.stderr
    assert f"127.0.0.1:{port}" in done.stderr and "--no-registry" in done.stderr
