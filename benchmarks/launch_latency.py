"""How long from "launch this task" to RUNNING, against a bare `docker run -d`.

Both paths start the same image with the same command on the same engine in the same run,
interleaved so that load from elsewhere on the machine hits both alike. berth's path is
the agent's Docker backend from the LAUNCH it receives to the RUNNING it reports (image
check, create, start, status); `docker run -d` is timed until it returns (the container
has started by then). With a master and an agent running, `run_via_master` times from
ACCEPT to the RUNNING update instead.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import time
import uuid
from typing import Any

import docker

from executor.docker_backend import DockerBackend
from executor.tasks import StatusUpdate
from offers.launch import LaunchSpec
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


async def _run(launches: int) -> dict[str, Any]:
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
        "what": "agent LAUNCH -> RUNNING vs bare `docker run -d`, same image, interleaved",
        "image": IMAGE, "launches": launches,
        "berth": _summary(berth), "baseline_docker_run": _summary(bare),
        "ratio_median": round(ratio, 3), "target_ratio": 1.5, "meets_target": ratio <= 1.5,
    }


def _cleanup(run_id: str) -> None:
    client = docker.from_env()
    try:
        for label in (f"{LABEL}={run_id}", f"berth.agent_id=bench-{run_id}"):
            for c in client.containers.list(all=True, filters={"label": [label]}):
                c.remove(force=True)
    finally:
        client.close()


def run(launches: int = 20) -> dict[str, Any]:
    """Median launch-to-RUNNING over `launches` launches each way; needs the engine and the
    images of scripts/local-images.sh."""
    return asyncio.run(_run(launches))


if __name__ == "__main__":
    import json

    from cli.logs import configure_logging

    configure_logging(level="warning")
    print(json.dumps(run()))
