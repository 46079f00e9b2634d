"""How long from "launch this task" to RUNNING, against a bare `docker run -d`.

Both paths start the same image with the same command on the same engine in the same run,
interleaved so that load from elsewhere on the machine hits both alike; `docker run -d` is
timed until it returns (the container has started by then).

- via="master" (the default, what `berth bench e2e` reports): a master and an agent on
  loopback, a v1 scheduler client; from the ACCEPT call to the framework's TASK_RUNNING
  update (master -> agent link -> Docker -> status -> master's store -> RecordIO stream).
- via="agent": the agent's Docker backend alone, from the LAUNCH it gets to the RUNNING it
  reports (image check, create, start).
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import docker

from api.agent_node import start_agent
from api.master_app import start_master
from cli.agent import agent_config
from executor.docker_backend import DockerBackend
from executor.tasks import StatusUpdate
from offers.launch import LaunchSpec
from offers.protocol import mesos as mj
from offers.protocol.task_info import task_info
from offers.states import TaskState

IMAGE = "berth/busybox:latest"
COMMAND = "sleep 300"
LABEL = "berth.bench"


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"median_ms": round(statistics.median(ordered) * 1000, 1),
            "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))] * 1000, 1),
            "min_ms": round(ordered[0] * 1000, 1), "max_ms": round(ordered[-1] * 1000, 1)}


def _docker_run_once(run_id: str, i: int) -> float:
    name = f"berth-bench-bare-{run_id}-{i}"
    start = time.perf_counter()
    subprocess.run(["docker", "run", "-d", "--name", name, "--label", f"{LABEL}={run_id}",
                    IMAGE, "sh", "-c", COMMAND], check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    subprocess.run(["docker", "rm", "-f", name], check=True, stdout=subprocess.DEVNULL)
    return elapsed


async def _berth_once(backend: DockerBackend, running: dict[str, asyncio.Future],
                      run_id: str, i: int) -> float:
    task_id = f"bench-{run_id}-{i}"
    spec = LaunchSpec(task_id=task_id, framework_id="bench", name="bench", image=IMAGE,
                      shell=True, command=COMMAND, cpus=0.1, mem=16)
    future = asyncio.get_running_loop().create_future()
    running[task_id] = future
    start = time.perf_counter()
    await backend.launch(spec)
    update = await asyncio.wait_for(future, 60)
    elapsed = time.perf_counter() - start
    if update.state is not TaskState.RUNNING:
        raise RuntimeError(f"bench task ended {update.state}: {update.reason}")
    await backend.kill(task_id, grace_seconds=0)
    return elapsed


async def _run_agent_only(launches: int) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    running: dict[str, asyncio.Future] = {}

    def on_status(update: StatusUpdate) -> None:
        future = running.get(update.task_id)
        if future and not future.done() and update.state is not TaskState.STARTING:
            future.set_result(update)

    backend = DockerBackend(agent_id=f"bench-{run_id}", on_status=on_status)
    await backend.start()
    loop = asyncio.get_running_loop()
    bare: list[float] = []
    berth: list[float] = []
    try:
        # One warm-up of each, not counted (first use of the image, of the thread pool).
        await loop.run_in_executor(None, _docker_run_once, run_id, -1)
        await _berth_once(backend, running, run_id, -1)
        for i in range(launches):
            bare.append(await loop.run_in_executor(None, _docker_run_once, run_id, i))
            berth.append(await _berth_once(backend, running, run_id, i))
    finally:
        await backend.close()
        _cleanup(run_id)
    ratio = statistics.median(berth) / statistics.median(bare)
    return {
        "benchmark": "launch_latency",
        "via": "agent",
        "what": "agent LAUNCH -> RUNNING vs bare `docker run -d`, same image, interleaved",
        "image": IMAGE, "launches": launches,
        "berth": _summary(berth), "baseline_docker_run": _summary(bare),
        "ratio_median": round(ratio, 3), "target_ratio": 1.5, "meets_target": ratio <= 1.5,
    }


def _cleanup(run_id: str, agent_id: str | None = None) -> None:
    client = docker.from_env()
    try:
        for label in (f"{LABEL}={run_id}", f"berth.agent_id={agent_id or 'bench-' + run_id}"):
            for c in client.containers.list(all=True, sparse=True, filters={"label": [label]}):
                c.remove(force=True)
    finally:
        client.close()


class _Framework:
    """Just enough of a v1 scheduler to accept offers, kill, and wait for updates."""

    def __init__(self, url: str):
        self.url = url
        self.session = aiohttp.ClientSession()
        self.framework_id = ""
        self.stream_id = ""
        self.offers: dict[str, str] = {}  # offer id -> agent id
        self.offered = asyncio.Event()
        self.updates: dict[tuple[str, str], asyncio.Future] = {}
        self._reader: asyncio.Task | None = None

    async def subscribe(self) -> None:
        resp = await self.session.post(f"{self.url}/api/v1/scheduler",
                                       json=mj.subscribe_call("bench"),
                                       timeout=aiohttp.ClientTimeout(total=None))
        if resp.status != 200:
            raise RuntimeError(f"SUBSCRIBE answered {resp.status}: {await resp.text()}")
        self.stream_id = resp.headers["Mesos-Stream-Id"]
        subscribed = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read(resp, subscribed))
        self.framework_id = await asyncio.wait_for(subscribed, 30)

    async def _read(self, resp: aiohttp.ClientResponse, subscribed: asyncio.Future) -> None:
        decoder = mj.RecordIODecoder()
        async for chunk in resp.content.iter_any():
            for event in decoder.feed(chunk):
                kind = event["type"]
                if kind == "SUBSCRIBED":
                    subscribed.set_result(event["subscribed"]["framework_id"]["value"])
                elif kind == "OFFERS":
                    for offer in event["offers"]["offers"]:
                        self.offers[offer["id"]["value"]] = offer["agent_id"]["value"]
                    self.offered.set()
                elif kind == "RESCIND":
                    self.offers.pop(event["rescind"]["offer_id"]["value"], None)
                elif kind == "UPDATE":
                    status = event["update"]["status"]
                    if status.get("uuid"):
                        await self.call(mj.acknowledge_call(self.framework_id, status))
                    key = (status["task_id"]["value"], status["state"])
                    future = self.updates.get(key)
                    if future and not future.done():
                        future.set_result(status)

    def expect(self, task_id: str, state: str) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self.updates[(task_id, state)] = future
        return future

    async def take_offer(self) -> tuple[str, str]:
        while not self.offers:
            self.offered.clear()
            await asyncio.wait_for(self.offered.wait(), 30)
        offer_id = next(iter(self.offers))
        return offer_id, self.offers.pop(offer_id)

    async def call(self, body: dict) -> None:
        async with self.session.post(f"{self.url}/api/v1/scheduler", json=body,
                                     headers={"Mesos-Stream-Id": self.stream_id}) as resp:
            if resp.status != 202:
                raise RuntimeError(f"{body['type']} answered {resp.status}: "
                                   f"{await resp.text()}")

    async def close(self) -> None:
        if self._reader:
            self._reader.cancel()
        await self.session.close()


async def _accept_once(fw: _Framework, run_id: str, i: int) -> float:
    offer_id, agent_id = await fw.take_offer()
    task_id = f"bench-{run_id}-{i}"
    spec = LaunchSpec(task_id=task_id, framework_id=fw.framework_id, name="bench",
                      image=IMAGE, shell=True, command=COMMAND, cpus=0.1, mem=16)
    running = fw.expect(task_id, "TASK_RUNNING")
    killed = fw.expect(task_id, "TASK_KILLED")
    start = time.perf_counter()
    await fw.call(mj.accept_call(fw.framework_id, [offer_id], [task_info(spec, agent_id)],
                                 refuse_seconds=0))
    await asyncio.wait_for(running, 60)
    elapsed = time.perf_counter() - start
    await fw.call(mj.kill_call(fw.framework_id, task_id, agent_id))
    await asyncio.wait_for(killed, 60)
    return elapsed


async def _run_via_master(launches: int) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as tmp:
        master = await start_master("127.0.0.1", 0, db_url=f"sqlite:///{tmp}/berth.db")
        config = agent_config(master.url, hostname=f"bench-{run_id}", headroom="",
                              resources="cpus:1;mem:1024", data_dir=Path(tmp) / "agent",
                              ignore_incumbent=True)
        agent = await start_agent(config, host="127.0.0.1", port=0)
        fw = _Framework(master.url)
        bare: list[float] = []
        berth: list[float] = []
        try:
            await fw.subscribe()
            await loop.run_in_executor(None, _docker_run_once, run_id, -1)  # warm-ups
            await _accept_once(fw, run_id, -1)
            for i in range(launches):
                bare.append(await loop.run_in_executor(None, _docker_run_once, run_id, i))
                berth.append(await _accept_once(fw, run_id, i))
        finally:
            await fw.close()
            agent_id = agent.agent.agent_id
            await agent.stop()
            await master.stop()
            _cleanup(run_id, agent_id)
    ratio = statistics.median(berth) / statistics.median(bare)
    return {
        "benchmark": "launch_latency", "via": "master",
        "what": "ACCEPT -> TASK_RUNNING at the framework (master + agent on loopback, "
                "SQLite store) vs bare `docker run -d`, same image, interleaved",
        "image": IMAGE, "launches": launches,
        "berth": _summary(berth), "baseline_docker_run": _summary(bare),
        "ratio_median": round(ratio, 3), "target_ratio": 1.5, "meets_target": ratio <= 1.5,
    }


def run(launches: int = 20, via: str = "master") -> dict[str, Any]:
    """Median launch-to-RUNNING over `launches` launches each way (`via` "master" or
    "agent"); needs the Docker engine and the images of scripts/local-images.sh."""
    if via == "master":
        return asyncio.run(_run_via_master(launches))
    if via == "agent":
        return asyncio.run(_run_agent_only(launches))
    raise ValueError(f"via must be 'master' or 'agent', not {via!r}")


if __name__ == "__main__":
    import json

    from cli.logs import configure_logging

    configure_logging(level="warning")
    print(json.dumps(run(via=sys.argv[1] if len(sys.argv) > 1 else "master")))
