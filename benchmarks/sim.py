"""How the simulator's cost grows with cluster and workload size.

Each size runs the synthetic workload through the real framework scheduler; the smallest
size is the baseline, and `cost_ratio` is the wall time per task relative to it (1.0 means
the run grows linearly in tasks; above 1, something per event grows with the cluster).
Each size runs in a fresh process, so that `peak_rss_mib` is that run's own peak memory
(the operating system's high-water mark of the process), not the largest run's so far.
"""

from __future__ import annotations

import multiprocessing
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from simulator.nodes import uniform_nodes
from simulator.run import SimConfig, Simulation
from simulator.synthetic import SyntheticParams, SyntheticWorkload

SHAPE = {"cpus": 16.0, "mem": 65536.0, "disk": 500000.0}


def run_one(nodes: int, tasks: int, horizon: float, seed: int) -> dict:
    specs = uniform_nodes(nodes, SHAPE)
    workload = SyntheticWorkload(SyntheticParams(tasks=tasks, horizon=horizon), seed,
                                 16.0 * nodes, {"lab", "analytics"})
    config = SimConfig(seed=seed, horizon=horizon, incumbent_load=0.2,
                       reshuffle_every=horizon / 2, refuse_seconds=60)
    wall, cpu = time.perf_counter(), time.process_time()
    result = Simulation(specs, workload, config).run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"nodes": nodes, "tasks": tasks, "horizon_s": horizon, "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3), "events": result.events,
            "events_per_s": round(result.events / max(wall, 1e-9)),
            "sla_violations": result.checker.violations,
            "invalid_launches": result.agents.counters.invalid_launches}


def _measured(nodes: int, tasks: int, horizon: float, seed: int) -> dict:
    """`run_one` with the peak resident memory of the process that ran it."""
    out = run_one(nodes, tasks, horizon, seed)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB (bytes on macOS)
    out["peak_rss_mib"] = round(peak / (2**20 if sys.platform == "darwin" else 2**10))
    return out


def run_alone(nodes: int, tasks: int, horizon: float, seed: int) -> dict:
    """`run_one` in a process of its own (started afresh, not forked)."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        return pool.submit(_measured, nodes, tasks, horizon, seed).result()


def run(sizes: list[tuple[int, int]], horizon: float, seed: int) -> dict:
    runs = [run_alone(nodes, tasks, horizon, seed) for nodes, tasks in sizes]
    base = runs[0]
    base_cost = base["cpu_s"] / base["tasks"]
    for r in runs:
        r["cost_ratio"] = round((r["cpu_s"] / r["tasks"]) / max(base_cost, 1e-12), 3)
    return {"benchmark": "sim", "horizon_s": horizon, "seed": seed, "baseline": base,
            "runs": runs}


if __name__ == "__main__":
    import json
    import sys

    # python -m benchmarks.sim [NODESxTASKS ...]: the sizes of `berth bench sim`, 2 h each
    pairs = [tuple(int(x) for x in arg.split("x")) for arg in sys.argv[1:]] or [
        (100, 2000), (300, 6000), (1000, 20000)]
    print(json.dumps(run(pairs, 7200.0, 0), indent=2))
