"""How fast secondary work yields to the node's own load, and how fast it gets it back.

An agent (its Docker backend, the real engine, psutil's view of this machine) runs a few
berth containers; a load started on the host itself (benchmarks/host_load.py: busy
processes and one holding memory, outside any container) squeezes them. Each trial times

- lower: from the load's presence (its busy processes started; its memory all written)
  to every container's CPU quota *and* memory limit read back lower than requested
  (`docker inspect`), the later of the two;
- restore: from the load's end to every container back at its requested size, CPU and
  memory apart (CPU comes back only when the rest of the machine leaves room for it: on a
  shared machine, `background_cpus_before_each_trial` shows what the node's other
  programs used).

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
from executor.measure import MIB, PsutilSampler
from offers.elasticity import ElasticPolicy
from offers.launch import LaunchSpec

IMAGE = "berth/busybox:latest"
MESOS_QOS_INTERVAL = 20.0  # seconds: the correction interval in Mesos's oversubscription docs


def _quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(round(q * (len(ordered) - 1)), len(ordered) - 1)]


def _since(at: float | None, start: float | None) -> float | None:
    """Seconds from `start` to `at`; 0 when it was so already (a lowered CPU quota that a
    busy machine had lowered before the load)."""
    if at is None or start is None:
        return None
    return max(at - start, 0.0)


def _summary(samples: list[float]) -> dict[str, Any]:
    if not samples:
        return {"n": 0}
    return {"n": len(samples), "median_s": round(statistics.median(samples), 3),
            "p95_s": round(_quantile(samples, 0.95), 3), "max_s": round(max(samples), 3),
            "all_s": [round(s, 3) for s in samples]}


def run(trials: int = 5, containers: int = 2, cpus: float = 0.3, mem: float = 512.0,
        slack: float = 2048.0, load_cpus: int = 2, load_mem: int | None = None,
        sample_seconds: float = 1.0, timeout: float = 20.0) -> dict[str, Any]:
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
        times: dict[str, list[float]] = {k: [] for k in (
            "lowered", "lowered_cpu", "lowered_mem", "lowered_mem_from_spawn", "restored_cpu",
            "restored_mem")}
        background: list[float] = []  # the node's own CPU load before each trial
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

            def read() -> list[tuple[float, float]]:
                return [limits_from_host_config(client.api.inspect_container(cid)["HostConfig"])
                        for cid in ids]

            checks = {
                "lowered_cpu": lambda c, m: c < cpus, "lowered_mem": lambda c, m: m < mem,
                "restored_cpu": lambda c, m: abs(c - cpus) < 1e-3,
                "restored_mem": lambda c, m: abs(m - mem) < 0.5}

            async def until(names: tuple[str, ...], since: float) -> dict[str, float]:
                """When (perf_counter) every container first passed each check."""
                seen: dict[str, float] = {}
                while time.perf_counter() - since < timeout and len(seen) < len(names):
                    now_limits = await asyncio.to_thread(read)
                    now = time.perf_counter()
                    for name in names:
                        if name not in seen and all(checks[name](*x) for x in now_limits):
                            seen[name] = now
                    await asyncio.sleep(0.05)
                return seen

            await until(("restored_cpu", "restored_mem"), time.perf_counter())
            for trial in range(trials):
                background.append(agent.state()["elasticity"]["incumbent"]["cpus"])
                load = HostLoad(cpus=load_cpus, mem=load_mem)
                starting = asyncio.create_task(asyncio.to_thread(load.start))
                try:
                    down = await until(("lowered_cpu", "lowered_mem"), time.perf_counter())
                finally:
                    await starting
                    await asyncio.to_thread(load.stop)
                ended = time.perf_counter()
                up = await until(("restored_cpu", "restored_mem"), ended)
                # From the load's presence: its busy loops running, its memory all written.
                took = {"lowered_cpu": _since(down.get("lowered_cpu"), load.cpu_started),
                        "lowered_mem": _since(down.get("lowered_mem"), load.mem_held),
                        "lowered_mem_from_spawn": _since(down.get("lowered_mem"),
                                                         load.mem_spawned),
                        "restored_cpu": _since(up.get("restored_cpu"), ended),
                        "restored_mem": _since(up.get("restored_mem"), ended)}
                for name, seconds in took.items():
                    if seconds is None:
                        failures.append(f"trial {trial}: not {name} within {timeout:g} s")
                    else:
                        times[name].append(seconds)
                if took["lowered_cpu"] is not None and took["lowered_mem"] is not None:
                    times["lowered"].append(max(took["lowered_cpu"], took["lowered_mem"]))
                if "restored_mem" not in up or "restored_cpu" not in up:
                    await asyncio.sleep(2 * sample_seconds)
        finally:
            await agent.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
            for c in client.containers.list(all=True, sparse=True,
                                            filters={"label": [f"berth.agent_id={agent_id}"]}):
                with contextlib.suppress(docker.errors.APIError):
                    c.remove(force=True)
            client.close()
    lower, restore = times["lowered"], times["restored_mem"] + times["restored_cpu"]
    lower_p95 = _quantile(lower, 0.95) if lower else None
    mem_back = max(times["restored_mem"]) if times["restored_mem"] else None
    cpu_back = max(times["restored_cpu"]) if times["restored_cpu"] else None
    return {
        "benchmark": "elastic",
        "setup": {"trials": trials, "containers": containers, "cpus": cpus, "mem_mib": mem,
                  "load_cpus": load_cpus, "load_mem_mib": load_mem,
                  "sample_seconds": sample_seconds, "machine_cpus": psutil.cpu_count(),
                  "background_cpus_before_each_trial": [round(b, 2) for b in background]},
        "lower": _summary(lower),
        "lower_cpu": _summary(times["lowered_cpu"]),
        "lower_mem": _summary(times["lowered_mem"]),
        # from the start of the process that writes the memory (its writing included)
        "lower_mem_from_spawn": _summary(times["lowered_mem_from_spawn"]),
        "restore_mem": _summary(times["restored_mem"]),
        "restore_cpu": _summary(times["restored_cpu"]),
        "targets": {"lower_p95_s": 2.0, "restore_s": 5.0,
                    "lower_p95_met": lower_p95 is not None and lower_p95 <= 2.0
                    and len(lower) == trials,
                    "restore_mem_met": mem_back is not None and mem_back <= 5.0
                    and len(times["restored_mem"]) == trials,
                    "restore_cpu_met": cpu_back is not None and cpu_back <= 5.0
                    and len(times["restored_cpu"]) == trials,
                    "all_restores": len(restore) == 2 * trials},
        "baseline": {"mesos_qos_correction_interval_s": MESOS_QOS_INTERVAL},
        "failures": failures,
    }
