"""Synthetic clusters and task mixes shared by the benchmarks."""

from __future__ import annotations

import numpy as np

from offers.cluster import NodeSpec
from offers.task import TaskSpec

NODE_SHAPE = {"cpus": 16.0, "mem": 65536.0, "disk": 500_000.0}


def homogeneous_cluster(n: int, shape: dict[str, float] = NODE_SHAPE) -> list[NodeSpec]:
    return [NodeSpec(hostname=f"node-{i}", **shape, attributes={"nodetype": "lab"})
            for i in range(n)]


def mixed_tasks(n_tasks: int, n_classes: int, nodes: int, seed: int = 0,
                fill: float = 0.7, shape: dict[str, float] = NODE_SHAPE) -> list[TaskSpec]:
    """`n_classes` shapes (cpu-heavy, memory-heavy and balanced), sized so the whole mix
    asks for about `fill` of the cluster in its scarcest resource."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 3, n_classes)  # 0 cpu-heavy, 1 mem-heavy, 2 balanced
    cpus = np.where(kind == 0, rng.uniform(0.5, 2.0, n_classes), rng.uniform(0.1, 0.5, n_classes))
    mem = np.where(kind == 1, rng.uniform(4096, 16384, n_classes),
                   rng.uniform(256, 2048, n_classes))
    weights = rng.dirichlet(np.ones(n_classes))
    counts = np.floor(weights * n_tasks).astype(int)
    counts[: n_tasks - counts.sum()] += 1
    demand = np.array([(counts * cpus).sum() / (nodes * shape["cpus"]),
                       (counts * mem).sum() / (nodes * shape["mem"])])
    scale = fill / demand.max()
    cpus, mem = np.round(cpus * scale, 3).clip(0.01), np.round(mem * scale).clip(1)
    order = rng.permutation(np.repeat(np.arange(n_classes), counts))
    protos = [TaskSpec(id=f"c{c}", dockerimage="berth/busybox", cpus=float(cpus[c]),
                       mem=float(mem[c]), disk=10.0) for c in range(n_classes)]
    return [protos[c].model_copy(update={"id": f"t{i}-c{c}"}) for i, c in enumerate(order)]
