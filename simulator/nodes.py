"""The simulated nodes as arrays: totals, incumbent load, berth allocations, up or down.

Per-node state is kept in numpy rows so an offer cycle or a report sample costs a few
vectorized passes, never a Python loop over every node. The rows a launch or an end
changes (one node's allocation, use and task counts) sit in `array.array` buffers that the
numpy arrays are views of: one node's numbers are read and written as plain Python floats
(a numpy row operation costs more than the arithmetic it does), and the arrays see them.
"""

from __future__ import annotations

import math
from array import array
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
    """Row i is node i. Spare = total - incumbent - allocated (never below zero).

    `start` and `stop` book a container's demand and use on its node; `allocated`, `used`,
    `task_count` and `work_count` are views of those books.
    """

    def __init__(self, specs: Sequence[NodeSpec]) -> None:
        self.specs = list(specs)
        n = len(self.specs)
        self.hostnames = [s.hostname for s in self.specs]
        self.attributes = [dict(s.attributes) for s in self.specs]
        self.port_ranges: list[PortRanges] = [s.ports for s in self.specs]
        self.nodetype = [s.nodetype for s in self.specs]
        # Flat, node i at 3i (2i for use): cpus, mem, disk.
        self._total = array("d", [x for s in self.specs for x in (s.cpus, s.mem, s.disk)])
        self._incumbent = _zeros("d", 3 * n)
        self._allocated = _zeros("d", 3 * n)
        self._used = _zeros("d", 2 * n)
        self._tasks = _zeros("q", n)
        self._work = _zeros("q", n)
        self.total = _view(self._total, n, 3)
        self.incumbent = _view(self._incumbent, n, 3)
        self.allocated = _view(self._allocated, n, 3)
        self.used = _view(self._used, n, 2)  # what berth's tasks actually use (cpus, mem)
        self.task_count = _view(self._tasks, n)
        self.work_count = _view(self._work, n)  # tasks other than one-per-node daemons
        self.up = np.ones(n, dtype=bool)
        self.epoch = [0] * n
        self.agent_ids = [f"{h}-S0" for h in self.hostnames]

    @property
    def size(self) -> int:
        return len(self.hostnames)

    def start(self, node: int, demand: tuple[float, float, float], used: tuple[float, float],
              work: bool) -> tuple[float, float, float]:
        """Book a container on `node`; returns the node's allocation after it."""
        a, k = self._allocated, 3 * node
        cpus = a[k] = a[k] + demand[0]
        mem = a[k + 1] = a[k + 1] + demand[1]
        disk = a[k + 2] = a[k + 2] + demand[2]
        u, k = self._used, 2 * node
        u[k] += used[0]
        u[k + 1] += used[1]
        self._tasks[node] += 1
        if work:
            self._work[node] += 1
        return cpus, mem, disk

    def stop(self, node: int, demand: tuple[float, float, float], used: tuple[float, float],
             work: bool) -> None:
        """Take a container's booking off `node`."""
        if work:
            self._work[node] -= 1
        self._tasks[node] -= 1
        a, k = self._allocated, 3 * node
        u, j = self._used, 2 * node
        if self._tasks[node] == 0:  # no float dust on an empty node
            a[k] = a[k + 1] = a[k + 2] = 0.0
            u[j] = u[j + 1] = 0.0
            return
        a[k] -= demand[0]
        a[k + 1] -= demand[1]
        a[k + 2] -= demand[2]
        u[j] -= used[0]
        u[j + 1] -= used[1]

    def spare(self) -> np.ndarray:
        return np.maximum(self.total - self.incumbent - self.allocated, 0.0)

    def spare_of(self, node: int) -> tuple[float, float, float]:
        """One node's row of `spare()`, as plain floats."""
        t, i, a, k = self._total, self._incumbent, self._allocated, 3 * node
        return (max(t[k] - i[k] - a[k], 0.0), max(t[k + 1] - i[k + 1] - a[k + 1], 0.0),
                max(t[k + 2] - i[k + 2] - a[k + 2], 0.0))

    def resize(self, node: int, allocated: tuple[float, float], used: tuple[float, float]
               ) -> None:
        """Move a running container's booking on `node` by these (cpus, mem) deltas: its
        limits changed (elasticity), and with them what it can use."""
        a, k = self._allocated, 3 * node
        a[k] += allocated[0]
        a[k + 1] += allocated[1]
        u, j = self._used, 2 * node
        u[j] += used[0]
        u[j + 1] += used[1]

    def incumbent_deficit(self, node: int) -> tuple[float, float]:
        """How much of what the node's own programs ask for (cpus, mem) is not left to them
        by what berth's containers use (>= 0 each): the incumbent's lost quality of
        service."""
        t, i, u, k, j = self._total, self._incumbent, self._used, 3 * node, 2 * node
        return (max(i[k] - (t[k] - u[j]), 0.0), max(i[k + 1] - (t[k + 1] - u[j + 1]), 0.0))

    def incumbent_deficits(self) -> np.ndarray:
        """`incumbent_deficit` of every node, [n, 2] (down nodes: 0)."""
        left = self.total[:, :2] - self.used
        out = np.maximum(self.incumbent[:, :2] - left, 0.0)
        out[~self.up] = 0.0
        return out

    def set_incumbent(self, node: int, cpus: float, mem: float) -> None:
        self._incumbent[3 * node] = cpus
        self._incumbent[3 * node + 1] = mem

    def set_incumbent_share(self, share: np.ndarray) -> None:
        self.incumbent[:, 0] = self.total[:, 0] * share
        self.incumbent[:, 1] = self.total[:, 1] * share

    def rejoin(self, node: int) -> None:
        """The node's agent registers again (Mesos gives it a new agent id)."""
        self.up[node] = True
        self.epoch[node] += 1
        self.agent_ids[node] = f"{self.hostnames[node]}-S{self.epoch[node]}"



def _zeros(typecode: str, count: int) -> array:
    return array(typecode, bytes(8 * count))


def _view(buffer: array, *shape: int) -> np.ndarray:
    """The numpy array over `buffer` (shared memory: a write to either shows in both)."""
    dtype = np.float64 if buffer.typecode == "d" else np.int64
    return np.frombuffer(buffer, dtype=dtype).reshape(shape)
