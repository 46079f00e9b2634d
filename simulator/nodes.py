"""The simulated nodes as arrays: totals, incumbent load, berth allocations, up or down.

Per-node state is kept in numpy rows so an offer cycle or a report sample costs a few
vectorized passes, never a Python loop over every node.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from offers.cluster import NODETYPE, NodeSpec
from offers.problems import FieldProblem, SpecError
from offers.resources import PortRanges

DAY = 86400.0
SHAPE_KEYS = ("cpus", "mem", "disk")


def parse_node_shape(text: str) -> dict[str, float]:
    """`cpus:16,mem:65536,disk:500000` -> {"cpus": 16.0, ...}; unknown or bad keys raise."""
    shape = {"cpus": 16.0, "mem": 65536.0, "disk": 500000.0}
    for piece in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = piece.partition(":")
        key = key.strip()
        if not sep or key not in SHAPE_KEYS:
            raise SpecError([FieldProblem("node-shape", f"{piece!r} is not one of "
                                                        "cpus:N, mem:MiB, disk:MiB")])
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not math.isfinite(number) or number < 0:
            raise SpecError([FieldProblem(f"node-shape.{key}",
                                          f"{value.strip()!r} is not a non-negative number")])
        shape[key] = number
    return shape


def uniform_nodes(count: int, shape: dict[str, float], analytics_every: int = 10) -> list[NodeSpec]:
    """`count` identical nodes; every `analytics_every`-th is nodetype analytics, others lab."""
    return [
        NodeSpec(hostname=f"node{i:05d}", cpus=shape["cpus"], mem=shape["mem"],
                 disk=shape["disk"],
                 attributes={NODETYPE: "analytics" if i % analytics_every == analytics_every - 1
                             else "lab"})
        for i in range(count)
    ]


class IncumbentLoad:
    """Jisto's incumbent load: what the nodes' own programs use, following a daily cycle.

    Each node gets its own level (around `level`, a share of its total) and phase; the load
    is `level * (0.6 + 0.4 * sin(2 pi t / day + phase))` of cpus and mem.
    """

    def __init__(self, count: int, level: float, seed: int) -> None:
        rng = np.random.default_rng([seed, 0x10AD])
        self.level = np.clip(level * rng.uniform(0.5, 1.5, count), 0.0, 0.95)
        self.phase = rng.uniform(0.0, 2 * math.pi, count)

    def share_at(self, when: float) -> np.ndarray:
        return self.level * (0.6 + 0.4 * np.sin(2 * math.pi * when / DAY + self.phase))


class SimNodes:
    """Row i is node i. Spare = total - incumbent - allocated (never below zero)."""

    def __init__(self, specs: Sequence[NodeSpec]) -> None:
        self.specs = list(specs)
        n = len(self.specs)
        self.hostnames = [s.hostname for s in self.specs]
        self.attributes = [dict(s.attributes) for s in self.specs]
        self.port_ranges: list[PortRanges] = [s.ports for s in self.specs]
        self.nodetype = [s.nodetype for s in self.specs]
        self.total = np.array([(s.cpus, s.mem, s.disk) for s in self.specs],
                              dtype=np.float64).reshape(n, 3)
        self.incumbent = np.zeros((n, 3))
        self.allocated = np.zeros((n, 3))
        self.used = np.zeros((n, 2))  # what berth's tasks actually use (cpus, mem)
        self.task_count = np.zeros(n, dtype=np.int64)
        self.work_count = np.zeros(n, dtype=np.int64)  # tasks other than one-per-node daemons
        self.up = np.ones(n, dtype=bool)
        self.epoch = [0] * n
        self.agent_ids = [f"{h}-S0" for h in self.hostnames]

    @property
    def size(self) -> int:
        return len(self.hostnames)

    def spare(self) -> np.ndarray:
        return np.maximum(self.total - self.incumbent - self.allocated, 0.0)

    def spare_of(self, node: int) -> tuple[float, float, float]:
        """One node's row of `spare()`, as plain floats."""
        total, incumbent, allocated = (self.total[node].tolist(), self.incumbent[node].tolist(),
                                       self.allocated[node].tolist())
        return tuple(max(t - i - a, 0.0)
                     for t, i, a in zip(total, incumbent, allocated, strict=True))

    def set_incumbent_share(self, share: np.ndarray) -> None:
        self.incumbent[:, 0] = self.total[:, 0] * share
        self.incumbent[:, 1] = self.total[:, 1] * share

    def rejoin(self, node: int) -> None:
        """The node's agent registers again (Mesos gives it a new agent id)."""
        self.up[node] = True
        self.epoch[node] += 1
        self.agent_ids[node] = f"{self.hostnames[node]}-S{self.epoch[node]}"
