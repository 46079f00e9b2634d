"""A tuning sweep: every combination of settings run on the same cluster, workload and
seed, in parallel processes, each returning only what the report needs (its summary and
a few time series), so no simulation object crosses a process boundary."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np

from offers.cluster import NodeSpec
from simulator.pareto import Outcome
from simulator.report import summarize
from simulator.run import SimConfig, Simulation

SERIES = ("time", "nodes_used", "packing_cpus", "packing_mem")


@dataclass
class SweepRun:
    """One combination's outcome: its settings, summary, sampled series (`SERIES`) and
    the pending times of the tasks that ran, sorted (for the CDF)."""

    settings: dict[str, object]
    summary: dict
    series: dict[str, np.ndarray]
    pending: np.ndarray

    def outcome(self) -> Outcome:
        s = self.summary
        return Outcome(nodes=s["nodes_used"]["mean"], p99=s["pending_time_s"]["p99"],
                       never_ran=s["tasks"]["never_ran"], violations=s["sla_violations"],
                       risk=preemptions(s))


def preemptions(summary: dict) -> int:
    """Tasks preempted because berth's containers did not fit beside the node's own load
    (measured in elastic runs; 0 otherwise)."""
    return int(summary.get("elasticity", {}).get("preemptions", 0))


_world: tuple[Sequence[NodeSpec], Sequence[object]] | None = None


def _set_world(nodes: Sequence[NodeSpec] | None, workload: Sequence[object] | None) -> None:
    """Each worker gets the cluster and workload once, not once per combination."""
    global _world
    _world = None if nodes is None else (nodes, workload)


def _run_one(settings: dict[str, object], config: SimConfig) -> SweepRun:
    nodes, workload = _world
    result = Simulation(nodes, workload, config).run()
    rec = result.recorder
    pending = rec.pending_time[~np.isnan(rec.pending_time)]
    return SweepRun(settings, summarize(result), {k: rec.column(k) for k in SERIES},
                    np.sort(pending))


def default_jobs() -> int:
    """All the cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run_sweep(nodes: Sequence[NodeSpec], workload: Sequence[object],
              combos: Sequence[tuple[dict[str, object], SimConfig]], jobs: int,
              done: Callable[[int], None] | None = None) -> list[SweepRun]:
    """Run every combination (at most `jobs` at once; 1: in this process) and return
    their outcomes in the order given; `done(k)` is called as combination k finishes."""
    if jobs <= 1 or len(combos) <= 1:
        _set_world(nodes, workload)
        try:
            runs = []
            for k, (settings, config) in enumerate(combos):
                runs.append(_run_one(settings, config))
                if done is not None:
                    done(k)
            return runs
        finally:
            _set_world(None, None)
    out: list[SweepRun | None] = [None] * len(combos)
    with ProcessPoolExecutor(max_workers=min(jobs, len(combos)), initializer=_set_world,
                             initargs=(nodes, workload)) as pool:
        futures = {pool.submit(_run_one, settings, config): k
                   for k, (settings, config) in enumerate(combos)}
        for future in as_completed(futures):
            k = futures[future]
            out[k] = future.result()
            if done is not None:
                done(k)
    return out
