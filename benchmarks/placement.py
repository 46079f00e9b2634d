"""Placement core speed against plain-Python first-fit loops and against the core it
replaced (same input, back to back, CPU time: the machine may be shared), whether both
cores place the same, and binpack's packing."""

from __future__ import annotations

import math
import time

import numpy as np

from benchmarks.placement_reference.placement import place as reference_place
from benchmarks.placement_replay import same
from benchmarks.workloads import NODE_SHAPE, homogeneous_cluster, mixed_tasks
from offers.cluster import ClusterState
from offers.placement import place


def naive_first_fit(free: list[list[float]], demands: list[tuple[float, float, float]],
                    budget: float) -> tuple[int, float]:
    """The loop a first version would write: every task scans the nodes from the start."""
    placed, start = 0, time.perf_counter()
    for k, (c, m, d) in enumerate(demands):
        for node in free:
            if node[0] >= c and node[1] >= m and node[2] >= d:
                node[0] -= c
                node[1] -= m
                node[2] -= d
                placed += 1
                break
        if k % 256 == 0 and time.perf_counter() - start > budget:
            return k + 1, time.perf_counter() - start
    return len(demands), time.perf_counter() - start


def cursor_first_fit(free: list[list[float]], demands: list[tuple[float, float, float]],
                     budget: float) -> tuple[int, float]:
    """A careful plain-Python first-fit: each task shape remembers the first node that may
    still fit it, since free capacity only shrinks."""
    cursor: dict[tuple[float, float, float], int] = {}
    start = time.perf_counter()
    n = len(free)
    for k, shape in enumerate(demands):
        c, m, d = shape
        i = cursor.get(shape, 0)
        while i < n:
            node = free[i]
            if node[0] >= c and node[1] >= m and node[2] >= d:
                node[0] -= c
                node[1] -= m
                node[2] -= d
                break
            i += 1
        cursor[shape] = i
        if k % 256 == 0 and time.perf_counter() - start > budget:
            return k + 1, time.perf_counter() - start
    return len(demands), time.perf_counter() - start


def _timed(fn, *args, repeat: int = 3, **kwargs):
    """The result and the least CPU time of `repeat` runs (the machine may be shared)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        result = fn(*args, **kwargs)
        best = min(best, time.process_time() - start)
    return result, max(best, 1e-9)


def run(nodes: int, tasks: int, classes: int, seed: int, baseline_seconds: float) -> dict:
    node_specs = homogeneous_cluster(nodes)
    specs = mixed_tasks(tasks, classes, nodes, seed=seed)
    cluster = ClusterState.from_nodes(node_specs)

    result: dict = {"benchmark": "placement", "nodes": nodes, "tasks": tasks,
                    "classes": classes, "seed": seed, "strategies": {}}
    for strategy in ("first-fit", "binpack", "spread", "random"):
        placement, seconds = _timed(place, cluster, specs, strategy=strategy, seed=seed)
        # The core before issue 16, run back to back on the same input.
        reference, ref_seconds = _timed(reference_place, cluster, specs, strategy=strategy,
                                        seed=seed)
        result["strategies"][strategy] = {
            "seconds": round(seconds, 4),
            "placements_per_second": round(tasks / seconds),
            "placed": placement.placed,
            "nodes_used": placement.nodes_used,
            "reference_seconds": round(ref_seconds, 4),
            "speedup_vs_reference": round(ref_seconds / seconds, 2),
            "identical_to_reference": same(placement, reference),
        }

    demands = [t.demand() for t in specs]
    baselines = {}
    for name, loop in (("naive", naive_first_fit), ("cursor", cursor_first_fit)):
        best = None
        for _ in range(1 if name == "naive" else 3):  # the naive loop takes long enough
            free = [list(row) for row in cluster.free.tolist()]
            start = time.process_time()
            done, _wall = loop(free, demands, baseline_seconds)
            seconds = max(time.process_time() - start, 1e-9)
            if best is None or done / seconds > best[0] / best[1]:
                best = (done, seconds)
        done, seconds = best
        baselines[name] = {"tasks_timed": done, "seconds": round(seconds, 4),
                           "placements_per_second": round(done / seconds)}
    result["baseline_python_first_fit"] = baselines
    core = result["strategies"]["first-fit"]["placements_per_second"]
    result["ratio_core_vs_naive_loop"] = round(core / baselines["naive"]["placements_per_second"], 1)
    result["ratio_core_vs_cursor_loop"] = round(
        core / baselines["cursor"]["placements_per_second"], 2)
    result["binpack_placements_per_second"] = \
        result["strategies"]["binpack"]["placements_per_second"]

    total = np.array([t.demand() for t in specs]).sum(axis=0)
    capacity = np.array([NODE_SHAPE["cpus"], NODE_SHAPE["mem"], NODE_SHAPE["disk"]])
    bound = math.ceil(float((total / capacity).max()))
    used = result["strategies"]["binpack"]["nodes_used"]
    result["packing"] = {"binpack_nodes_used": used, "lower_bound": bound,
                         "over_bound": round(used / bound - 1, 4)}
    return result
