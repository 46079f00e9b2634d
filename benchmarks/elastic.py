"""How fast secondary work yields to the node's own load, and how fast it gets it back.

An agent (its Docker backend, the real engine, psutil's view of this machine) runs a few
berth containers; a load started on the host itself (benchmarks/host_load.py: busy
processes and one holding memory, outside any container) squeezes them. Each trial times

- lower: from the load's start to every container's CPU quota *and* memory limit read
  back lower than requested (`docker inspect`);
- restore: from the load's end to every container back at its requested size.

The headroom is set so the containers' requests plus `slack` MiB fit before the load and
`load_mem` MiB of it leaves them about half their memory. Reference: Mesos's QoS
controller corrects every 20 s in its example (and can only kill).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import docker
import psutil

from benchmarks.host_load import HostLoad
from executor.agent import Agent, AgentConfig
from executor.capacity import Amounts
from executor.container_spec import limits_from_host_config
from executor.docker_backend import DockerBackend
from executor.elasticity import ElasticPolicy
from executor.measure import MIB, PsutilSampler
from offers.launch import LaunchSpec

IMAGE = "berth/busybox:latest"
MESOS_QOS_INTERVAL = 20.0  # seconds: the correction interval in Mesos's oversubscription docs


def _quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(round(q * (len(ordered) - 1)), len(ordered) - 1)]


def _summary(samples: list[float]) -> dict[str, Any]:
    if not samples:
        return {"n": 0}
    return {"n": len(samples), "median_s": round(statistics.median(samples), 3),
            "p95_s": round(_quantile(samples, 0.95), 3), "max_s": round(max(samples), 3),
            "all_s": [round(s, 3) for s in samples]}


def run(trials: int = 5, containers: int = 2, cpus: float = 0.3, mem: float = 512.0,
        slack: float = 2048.0, load_cpus: int = 2, load_mem: int | None = None,
        sample_seconds: float = 1.0, timeout: float = 60.0) -> dict[str, Any]:
    return asyncio.run(_run(trials, containers, cpus, mem, slack, load_cpus, load_mem,
                            sample_seconds, timeout))


async def _run(trials: int, containers: int, cpus: float, mem: float, slack: float,
               load_cpus: int, load_mem: int | None, sample_seconds: float,
               timeout: float) -> dict[str, Any]:
    requested = containers * mem
    load_mem = int(load_mem if load_mem is not None else slack + requested / 2)
    memory = psutil.virtual_memory()
    in_use = (memory.total - memory.available) / MIB
    headroom = Amounts(0.0, max(memory.total / MIB - in_use - requested - slack, 0.0), 0.0)
    agent_id = f"bench-elastic-{uuid.uuid4().hex[:8]}"
    client = docker.from_env()
    with tempfile.TemporaryDirectory() as data_dir:
        config = AgentConfig(master="127.0.0.1:9", hostname="bench-elastic",
                             data_dir=Path(data_dir), headroom=headroom,
                             sample_seconds=sample_seconds, backoff_seconds=(30.0, 60.0),
                             elasticity=ElasticPolicy(cpu_preempts=False))
        backend = DockerBackend(agent_id=agent_id)
        agent = Agent(config, backend, PsutilSampler())
        agent.agent_id = agent_id
        runner = asyncio.create_task(agent.run())
        lower: list[float] = []
        restore: list[float] = []
        failures: list[str] = []
        try:
            while agent.capacity is None:
                await asyncio.sleep(0.05)
            ids = []
            for i in range(containers):
                task_id = f"elastic{i}-{time.time_ns()}"
                await backend.launch(LaunchSpec(
                    task_id=task_id, framework_id="bench", name=f"elastic{i}", image=IMAGE,
                    shell=True, command="sleep 3600", cpus=cpus, mem=mem))
                ids.append(backend.tasks[task_id].container_id)

            def all_at(pred) -> bool:
                for cid in ids:
                    c, m = limits_from_host_config(
                        client.api.inspect_container(cid)["HostConfig"])
                    if not pred(c, m):
                        return False
                return True

            def full(c: float, m: float) -> bool:
                return abs(c - cpus) < 1e-3 and abs(m - mem) < 0.5

            async def until(pred, since: float) -> float | None:
                while time.perf_counter() - since < timeout:
                    if await asyncio.to_thread(all_at, pred):
                        return time.perf_counter() - since
                    await asyncio.sleep(0.05)
                return None

            await until(full, time.perf_counter())
            for trial in range(trials):
                load = HostLoad(cpus=load_cpus, mem=load_mem)
                started = time.perf_counter()
                await asyncio.to_thread(load.start)
                try:
                    took = await until(lambda c, m: c < cpus and m < mem, started)
                finally:
                    await asyncio.to_thread(load.stop)
                ended = time.perf_counter()
                back = await until(full, ended)
                if took is None:
                    failures.append(f"trial {trial}: not lowered within {timeout:g} s")
                else:
                    lower.append(took)
                if back is None:
                    failures.append(f"trial {trial}: not restored within {timeout:g} s")
                else:
                    restore.append(back)
                await asyncio.sleep(2 * sample_seconds)  # the incumbent estimate settles
        finally:
            await agent.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
            for c in client.containers.list(all=True, sparse=True,
                                            filters={"label": [f"berth.agent_id={agent_id}"]}):
                with contextlib.suppress(docker.errors.APIError):
                    c.remove(force=True)
            client.close()
    lower_p95 = _quantile(lower, 0.95) if lower else None
    restore_max = max(restore) if restore else None
    return {
        "benchmark": "elastic",
        "setup": {"trials": trials, "containers": containers, "cpus": cpus, "mem_mib": mem,
                  "load_cpus": load_cpus, "load_mem_mib": load_mem,
                  "sample_seconds": sample_seconds, "machine_cpus": psutil.cpu_count()},
        "lower": _summary(lower),
        "restore": _summary(restore),
        "targets": {"lower_p95_s": 2.0, "restore_s": 5.0,
                    "lower_p95_met": lower_p95 is not None and lower_p95 <= 2.0
                    and not failures,
                    "restore_met": restore_max is not None and restore_max <= 5.0
                    and not failures},
        "baseline": {"mesos_qos_correction_interval_s": MESOS_QOS_INTERVAL},
        "failures": failures,
    }
