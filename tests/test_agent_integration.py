"""The real agent with the real master over loopback, running real containers.

A minimal v1 scheduler (tests/master_fixtures.py) subscribes, takes the agent's offers and
launches; the agent runs the container on the local engine and its statuses reach the
framework. The crash tests run the agent as a separate `berth agent` process and kill -9 it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import aiohttp
import docker
import pytest

from api.agent_node import start_agent
from api.master_app import start_master
from cli.agent import agent_config
from tests.agent_helpers import ROOT, build_images, free_port, remove_agent_containers
from tests.master_fixtures import SchedulerClient, docker_task_info, start_test_master, wait_for

pytestmark = pytest.mark.docker

AGENT_TIMEOUT = 3.0


@pytest.fixture(scope="session")
def images() -> None:
    build_images()


@pytest.fixture
async def master(tmp_path):
    running = await start_test_master(tmp_path, agent_timeout=AGENT_TIMEOUT)
    yield running
    await running.stop()


def port_block(size: int = 10) -> tuple[int, int]:
    first = free_port()
    first = min(first, 65535 - size)
    return first, first + size - 1


def task_containers(task_id: str) -> list:
    client = docker.from_env()
    try:
        return client.containers.list(all=True, sparse=True,
                                      filters={"label": [f"berth.task_id={task_id}"]})
    finally:
        client.close()


def running_containers(task_id: str) -> list:
    """The task's containers that still run (ended ones are kept for their logs)."""
    return [c for c in task_containers(task_id) if c.status == "running"]


def offer_of(event: dict, agent_id: str) -> dict | None:
    return next((o for o in event["offers"]["offers"] if o["agent_id"]["value"] == agent_id),
                None)


async def first_offer(fw: SchedulerClient, agent_id: str) -> dict:
    event = await fw.next_event("OFFERS", lambda e: offer_of(e, agent_id) is not None)
    return offer_of(event, agent_id)


@pytest.fixture
async def agent(images, master, tmp_path):
    low, high = port_block()
    config = agent_config(master.url, hostname=f"node-{uuid.uuid4().hex[:6]}", nodetype="lab",
                          resources=f"cpus:1;mem:1024;ports:[{low}-{high}]", headroom="",
                          data_dir=tmp_path / "agent", ignore_incumbent=True)
    config = replace(config, meter_seconds=0.5)
    service = await start_agent(config, host="127.0.0.1", port=0,
                                allowed_volumes=(str(tmp_path),))
    service.ports = (low, high)
    await wait_for(lambda: service.agent.connected.is_set(), what="agent connected")
    yield service
    await service.stop()
    remove_agent_containers(service.agent.agent_id)


async def test_agent_registers_offers_runs_serves_and_kills(agent, master, tmp_path):
    agent_id = agent.agent.agent_id
    assert (tmp_path / "agent" / "agent_id").read_text().strip() == agent_id
    fw = await SchedulerClient.subscribe(master.url, "it")
    try:
        offer = await first_offer(fw, agent_id)
        assert offer["attributes"][0]["text"]["value"] == "lab"
        resources = {r["name"]: r for r in offer["resources"]}
        assert resources["cpus"]["scalar"]["value"] == pytest.approx(1.0)
        assert resources["mem"]["scalar"]["value"] == pytest.approx(1024.0)

        (tmp_path / "site").mkdir()
        (tmp_path / "site" / "index.html").write_text("served by a berth task\n")
        port = agent.ports[0]
        info = docker_task_info("web-1", agent_id, host_port=port, container_port=8080,
                                volumes=[(str(tmp_path / "site"), "/www", "RO")],
                                shell_command="httpd -f -p 8080 -h /www")
        resp = await fw.accept([offer["id"]["value"]], [info])
        assert resp.status == 202
        await fw.next_update("web-1", "TASK_RUNNING")

        async def fetched():
            try:
                async with aiohttp.ClientSession() as s, \
                        s.get(f"http://127.0.0.1:{port}/index.html") as r:
                    return await r.text() if r.status == 200 else None
            except aiohttp.ClientError:
                return None
        assert await wait_for(fetched, what="page over the published port") == \
            "served by a berth task\n"

        # The agent's own view and the master's agree.
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{agent.port}/state") as r:
                state = await r.json()
            assert [t["task_id"] for t in state["tasks"]] == ["web-1"]
            assert state["allocated"]["cpus"] == pytest.approx(0.1)
            assert state["spare"]["cpus"] == pytest.approx(0.9)
            assert str(port) not in state["spare"]["ports"].split(",")[0].split("-")[0]

        resp = await fw.call({"framework_id": {"value": fw.framework_id}, "type": "KILL",
                              "kill": {"task_id": {"value": "web-1"}}})
        assert resp.status == 202
        await fw.next_update("web-1", "TASK_KILLED")
        await wait_for(lambda: not running_containers("web-1"), what="container stopped")
    finally:
        await fw.close()


async def test_missing_image_reaches_the_framework_as_error(agent, master):
    fw = await SchedulerClient.subscribe(master.url, "it")
    try:
        offer = await first_offer(fw, agent.agent.agent_id)
        info = docker_task_info("ghost-1", agent.agent.agent_id, image="berth/ghost:none")
        await fw.accept([offer["id"]["value"]], [info])
        status = await fw.next_update("ghost-1", "TASK_ERROR")
        assert "image berth/ghost:none not found on this node" in status.get("message", "")
    finally:
        await fw.close()


async def test_exit_code_and_metering_reach_the_master(agent, master):
    fw = await SchedulerClient.subscribe(master.url, "it")
    try:
        offer = await first_offer(fw, agent.agent.agent_id)
        hog = docker_task_info("hog-1", agent.agent.agent_id, image="stress:latest", mem=100,
                               arguments=["--vm-bytes", "30M", "--vm", "1"])
        failing = docker_task_info("fail-1", agent.agent.agent_id, shell_command="exit 5")
        await fw.accept([offer["id"]["value"]], [hog, failing])
        status = await fw.next_update("fail-1", "TASK_FAILED")
        assert "exited with code 5" in status.get("message", "")
        await fw.next_update("hog-1", "TASK_RUNNING")
        store = master.service.store

        def hog_samples():
            samples = store.metering("hog-1")
            return [s for s in samples if s["mem"] >= 25] or None
        samples = await wait_for(hog_samples, timeout=30, what="metering at the master")
        assert samples[-1]["mem"] < 100
        # Frameworks running apart from the master poll the same samples over HTTP.
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{master.url}/v1/metering", params={"since": "0"}) as resp:
                polled = (await resp.json())["samples"]
            async with http.get(f"{master.url}/v1/metering", params={"since": "soon"}) as resp:
                assert resp.status == 400
                assert "since" in {e["field"] for e in (await resp.json())["errors"]}
        assert any(s["task_id"] == "hog-1" and s["mem"] >= 25 for s in polled)
        later = max(s["t"] for s in polled)
        async with aiohttp.ClientSession() as http, http.get(
                f"{master.url}/v1/metering", params={"since": str(later)}) as resp:
            assert all(s["t"] > later for s in (await resp.json())["samples"])
    finally:
        await fw.close()


# -- crash and return: the agent as its own process ----------------------------------------


def spawn_agent(master_url: str, data_dir: Path, ports: tuple[int, int]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "--log-level", "warning", "agent",
         "--master", master_url, "--host", "127.0.0.1", "--port", str(free_port()),
         "--hostname", "crashy", "--nodetype", "lab", "--headroom", "",
         "--resources", f"cpus:1;mem:1024;ports:[{ports[0]}-{ports[1]}]",
         "--ignore-incumbent", "--data-dir", str(data_dir)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


async def agent_in_state(master, hostname: str, active: bool = True) -> dict | None:
    async with aiohttp.ClientSession() as s, s.get(f"{master.url}/state") as r:
        state = await r.json()
    return next((a for a in state["agents"]
                 if a["hostname"] == hostname and a["active"] == active), None)


async def test_kill_9_is_lost_then_restart_adopts_and_nothing_runs_twice(images, master,
                                                                         tmp_path):
    data_dir = tmp_path / "crashy"
    ports = port_block()
    proc = spawn_agent(master.url, data_dir, ports)
    agent_id = None
    fw = await SchedulerClient.subscribe(master.url, "crash")
    try:
        registered = await wait_for(lambda: agent_in_state(master, "crashy"), timeout=60,
                                    what="agent process registered")
        agent_id = registered["id"]
        offer = await first_offer(fw, agent_id)
        await fw.accept([offer["id"]["value"]],
                        [docker_task_info("long-1", agent_id, shell_command="sleep 600")])
        await fw.next_update("long-1", "TASK_RUNNING")

        os.killpg(proc.pid, signal.SIGKILL)  # kill -9: no goodbye
        proc.wait(timeout=30)
        loop = asyncio.get_running_loop()
        killed_at = loop.time()
        await fw.next_update("long-1", "TASK_LOST", timeout=AGENT_TIMEOUT + 15)
        lost_after = loop.time() - killed_at
        assert lost_after < AGENT_TIMEOUT + 5, f"LOST only after {lost_after:.1f}s"
        assert [c.status for c in task_containers("long-1")] == ["running"]

        proc = spawn_agent(master.url, data_dir, ports)
        back = await wait_for(lambda: agent_in_state(master, "crashy"), timeout=60,
                              what="agent process re-registered")
        assert back["id"] == agent_id  # the same agent, from its data dir
        # The framework is partition-aware: the task it was told was LOST is RUNNING again.
        await fw.next_update("long-1", "TASK_RUNNING")
        containers = task_containers("long-1")
        assert len(containers) == 1 and containers[0].status == "running"

        await fw.call({"framework_id": {"value": fw.framework_id}, "type": "KILL",
                       "kill": {"task_id": {"value": "long-1"}}})
        await fw.next_update("long-1", "TASK_KILLED")
    finally:
        await fw.close()
        stop_process(proc)
        if agent_id:
            remove_agent_containers(agent_id)


async def test_restart_kills_what_the_master_no_longer_wants(images, master, tmp_path):
    data_dir = tmp_path / "crashy"
    ports = port_block()
    proc = spawn_agent(master.url, data_dir, ports)
    agent_id = None
    fw = await SchedulerClient.subscribe(master.url, "strict", capabilities=())
    try:
        registered = await wait_for(lambda: agent_in_state(master, "crashy"), timeout=60)
        agent_id = registered["id"]
        offer = await first_offer(fw, agent_id)
        await fw.accept([offer["id"]["value"]],
                        [docker_task_info("orphan-1", agent_id, shell_command="sleep 600")])
        await fw.next_update("orphan-1", "TASK_RUNNING")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        await fw.next_update("orphan-1", "TASK_LOST", timeout=AGENT_TIMEOUT + 15)

        # Not partition-aware: the framework has likely replaced the task, so the returning
        # agent must not keep the old copy running.
        proc = spawn_agent(master.url, data_dir, ports)
        await wait_for(lambda: agent_in_state(master, "crashy"), timeout=60)
        await wait_for(lambda: not running_containers("orphan-1"), timeout=30,
                       what="the orphan killed")
    finally:
        await fw.close()
        stop_process(proc)
        if agent_id:
            remove_agent_containers(agent_id)


class Outage:
    """A master on a fixed port (so that it can be stopped and served again on the same
    database) and one real agent that outlives it: the harness of the outage tests."""

    def __init__(self, tmp_path: Path, hostname: str) -> None:
        self.port, self.db = free_port(), tmp_path / "berth.db"
        low, high = port_block()
        config = agent_config("http://127.0.0.1:1", hostname=hostname, nodetype="lab",
                              headroom="", resources=f"cpus:1;mem:1024;ports:[{low}-{high}]",
                              data_dir=tmp_path / "agent", ignore_incumbent=True)
        self.config = replace(config, backoff_seconds=(0.2, 1.0))
        self.master = self.service = None

    async def start(self) -> Outage:
        await self._serve()
        self.service = await start_agent(replace(self.config, master=self.master.url),
                                         host="127.0.0.1", port=0)
        await wait_for(lambda: self.service.agent.connected.is_set(), what="agent connected")
        return self

    async def _serve(self) -> None:
        self.master = await start_master("127.0.0.1", self.port,
                                         db_url=f"sqlite:///{self.db}",
                                         agent_timeout=AGENT_TIMEOUT, tick_seconds=0.05)

    async def master_away(self) -> None:
        await self.master.stop()
        await wait_for(lambda: not self.service.agent.connected.is_set(), what="link dropped")

    async def master_back(self) -> None:
        await self._serve()
        await wait_for(lambda: self.service.agent.registrations >= 2 and
                       self.service.agent.connected.is_set(), timeout=30,
                       what="re-registered")

    async def stop(self) -> None:
        if self.service is not None:
            agent_id = self.service.agent.agent_id
            await self.service.stop()
            remove_agent_containers(agent_id)
        if self.master is not None:
            await self.master.stop()


def docker_kill(container: str, sig: str = "SIGKILL") -> None:
    client = docker.from_env()
    try:
        client.containers.get(container).kill(signal=sig)
    finally:
        client.close()


def docker_exec(container: str, command: list[str]) -> None:
    client = docker.from_env()
    try:
        exit_code, output = client.containers.get(container).exec_run(command)
        assert exit_code == 0, output
    finally:
        client.close()


async def test_master_restart_agent_reconnects_and_keeps_its_task(images, tmp_path):
    outage = await Outage(tmp_path, "steady").start()
    service = outage.service
    fw = None
    try:
        fw = await SchedulerClient.subscribe(outage.master.url, "steady")
        offer = await first_offer(fw, service.agent.agent_id)
        await fw.accept([offer["id"]["value"]], [
            docker_task_info("steady-1", service.agent.agent_id, shell_command="sleep 600"),
            # Ends when told through a file: a signal could come before a trap is set.
            docker_task_info("brief-1", service.agent.agent_id,
                             shell_command="while [ ! -e /tmp/end ]; do sleep 0.2; done")])
        await fw.next_update("steady-1", "TASK_RUNNING")
        await fw.next_update("brief-1", "TASK_RUNNING")
        await fw.close()
        fw = None

        await outage.master_away()
        # brief-1 ends while no master listens: its FINISHED must wait, not get lost.
        docker_exec("berth-brief-1", ["touch", "/tmp/end"])
        await wait_for(lambda: "brief-1" not in service.agent.backend.tasks,
                       what="brief-1 ended")
        assert service.agent.state()["pending_statuses"] >= 1
        await outage.master_back()
        master = outage.master
        async with aiohttp.ClientSession() as s, s.get(f"{master.url}/state") as r:
            state = await r.json()
        (task,) = [t for t in state["tasks"] if t["id"] == "steady-1"]
        assert task["state"] == "RUNNING"
        assert [a["id"] for a in state["agents"]] == [service.agent.agent_id]

        async def brief_state():
            async with aiohttp.ClientSession() as s, s.get(f"{master.url}/state") as r:
                tasks = (await r.json())["tasks"]
            return next((t["state"] for t in tasks if t["id"] == "brief-1"), None) in (
                "FINISHED", "FAILED")
        await wait_for(brief_state, what="the status kept during the outage delivered")
        assert len(task_containers("steady-1")) == 1
    finally:
        if fw is not None:
            await fw.close()
        await outage.stop()


async def test_a_container_killed_while_the_master_is_away_ends_failed_not_lost(images,
                                                                             tmp_path):
    # Issue 9: an operator's `docker kill` while the agent cannot reach the master. When the
    # agent registers again, the master must take the agent's word for how the task ended
    # (FAILED, exit 137), not declare it LOST because it is missing from `running`.
    outage = await Outage(tmp_path, "killed").start()
    service = outage.service
    fw = None
    try:
        fw = await SchedulerClient.subscribe(outage.master.url, "killed")
        offer = await first_offer(fw, service.agent.agent_id)
        await fw.accept([offer["id"]["value"]], [
            docker_task_info("victim-1", service.agent.agent_id, shell_command="sleep 600")])
        await fw.next_update("victim-1", "TASK_RUNNING")
        await fw.close()
        fw = None

        await outage.master_away()
        docker_kill("berth-victim-1")  # `docker kill`: SIGKILL, exit status 137
        await wait_for(lambda: "victim-1" not in service.agent.backend.tasks,
                       what="the agent saw victim-1 end")

        await outage.master_back()
        master = outage.master

        def history():
            states = [h["state"] for h in master.service.store.status_history("victim-1")]
            return states if states and states[-1] in ("FAILED", "LOST") else None
        states = await wait_for(history, what="victim-1's end recorded")
        assert "LOST" not in states, states
        assert states[-1] == "FAILED"
        async with aiohttp.ClientSession() as s, s.get(f"{master.url}/state") as r:
            (task,) = [t for t in (await r.json())["tasks"] if t["id"] == "victim-1"]
        assert task["state"] == "FAILED"
        assert task["exit_code"] == 137
        assert "137" in (task.get("message") or "")
        assert service.agent.state()["ended_unconfirmed"] == 0
    finally:
        if fw is not None:
            await fw.close()
        await outage.stop()
