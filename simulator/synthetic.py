"""A seeded synthetic workload: Poisson arrivals, heavy-tailed durations, mixed shapes.

Items are built on demand from arrays, so a million-task workload costs a few arrays, not
a million task objects, until the tasks are actually submitted.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from offers.task import SLA, TaskSpec, parse_task
from simulator.inputs import WorkItem
from simulator.nodes import DAY

# (cpus, mem MiB, weight): mostly small tasks, a few big ones.
SHAPES: tuple[tuple[float, float, float], ...] = (
    (0.25, 256, 20), (0.5, 512, 20), (0.5, 2048, 8), (1, 1024, 15), (1, 4096, 8),
    (2, 2048, 10), (2, 8192, 6), (4, 4096, 5), (4, 16384, 4), (8, 16384, 2), (8, 32768, 2),
)
IMAGE = "berth/sim-task"
# Reshuffleable tasks run one of a few programs (their arguments), each with its own
# typical use: tasks of one kind (image, arguments, shape; framework.kind_usage) use alike,
# within KIND_JITTER of their program's share of what they ask.
PROGRAMS = 3
KIND_JITTER = 0.1


@dataclass(frozen=True)
class SyntheticParams:
    tasks: int = 1000
    horizon: float = DAY
    target_load: float = 0.9  # offered cpu load as a share of cluster cpus (steady state)
    reshuffleable_share: float = 0.3
    singleton_share: float = 0.002
    one_per_node: int = 3  # daemons (fewer if the workload is tiny)
    notmetered_share: float = 0.05
    duration_sigma: float = 1.5  # lognormal: a heavy tail of long tasks


_KIND_PLAIN, _KIND_SINGLETON = 0, 1


class SyntheticWorkload:
    """A `Sequence[WorkItem]` in submission order; item k is built when asked for."""

    def __init__(self, params: SyntheticParams, seed: int, cluster_cpus: float,
                 nodetypes: Collection[str] = ()) -> None:
        self.params = params
        rng = np.random.default_rng([seed, 0x5EED])
        daemons = min(params.one_per_node, max(params.tasks // 50, 0))
        self._daemons = [self._daemon(j, "lab" if j == 2 and "lab" in nodetypes else None)
                         for j in range(daemons)]
        n = max(params.tasks - daemons, 0)
        self._n = n
        weights = np.array([w for _, _, w in SHAPES])
        self._shape = rng.choice(len(SHAPES), size=n, p=weights / weights.sum())
        self._submit = np.sort(rng.uniform(0.0, params.horizon, n))
        shape_cpus = np.array([c for c, _, _ in SHAPES])
        mean_cpus = float((shape_cpus * weights).sum() / weights.sum())
        rate = max(n, 1) / params.horizon
        mean_duration = params.target_load * cluster_cpus / (rate * mean_cpus)
        sigma = params.duration_sigma
        mu = math.log(max(mean_duration, 1.0)) - sigma * sigma / 2
        self._duration = np.clip(rng.lognormal(mu, sigma, n), 1.0, 2 * params.horizon)
        self._kind = np.where(rng.random(n) < params.singleton_share, _KIND_SINGLETON,
                              _KIND_PLAIN)
        self._reshuffleable = rng.random(n) < params.reshuffleable_share
        self._notmetered = rng.random(n) < params.notmetered_share
        # Reshuffleable tasks ask for much more than they use: what intelligence recovers.
        low = np.where(self._reshuffleable, 0.15, 0.5)
        high = np.where(self._reshuffleable, 0.6, 1.0)
        self._used_share = rng.uniform(low[:, None], high[:, None], (n, 2))
        # ... and run one of a few programs, whose use their kind's tasks share (drawn from
        # a stream of their own, so the rest of the workload is as it was).
        kinds = np.random.default_rng([seed, 0x4B1D])
        profile = kinds.uniform(0.15, 0.6, (PROGRAMS, 2))
        program = kinds.integers(PROGRAMS, size=n)
        jitter = kinds.uniform(1 - KIND_JITTER, 1.0, (n, 2))
        self._used_share[self._reshuffleable] = (profile[program] * jitter)[self._reshuffleable]
        self._program = np.where(self._reshuffleable, program, -1)
        types = sorted(nodetypes)
        pick = rng.random(n)
        self._nodetype = np.full(n, -1)
        if "analytics" in types:
            self._nodetype[pick < 0.05] = types.index("analytics")
        if "lab" in types:
            self._nodetype[(pick >= 0.05) & (pick < 0.25)] = types.index("lab")
        self._types = types
        self._ported = rng.random(n) < 0.5
        self._templates: dict[tuple, TaskSpec] = {}
        # Python lists: item k is built from plain floats, not numpy scalars (3x faster).
        self._rows = list(zip(self._kind.tolist(), self._shape.tolist(),
                              self._nodetype.tolist(), self._reshuffleable.tolist(),
                              self._notmetered.tolist(), self._ported.tolist(),
                              self._program.tolist(), strict=True))
        self._times = list(zip(self._submit.tolist(), self._duration.tolist(),
                               self._used_share.tolist(), strict=True))

    def __len__(self) -> int:
        return len(self._daemons) + self._n

    def __getitem__(self, k: int) -> WorkItem:
        if k < 0:
            k += len(self)
        if k < len(self._daemons):
            return self._daemons[k]
        i = k - len(self._daemons)
        if not 0 <= i < self._n:
            raise IndexError(k)
        kind, shape, nodetype, reshuffleable, notmetered, ported, program = self._rows[i]
        key = (kind, shape, nodetype, reshuffleable, notmetered,
               kind == _KIND_SINGLETON and ported, program)
        template = self._templates.get(key)
        if template is None:
            template = self._templates[key] = self._template(*key)
        prefix = "svc" if kind == _KIND_SINGLETON else "t"
        spec = template.model_copy(update={"id": f"{prefix}{i:07d}"})
        cpus, mem, _ = SHAPES[shape]
        submit_at, duration, (used_c, used_m) = self._times[i]
        return WorkItem(spec, submit_at, duration, (cpus * used_c, mem * used_m), k + 1)

    def __iter__(self):
        return (self[k] for k in range(len(self)))

    def _template(self, kind: int, shape: int, nodetype: int, reshuffleable: bool,
                  notmetered: bool, ported: bool, program: int) -> TaskSpec:
        cpus, mem, _ = SHAPES[shape]
        data: dict = {"id": "template", "dockerimage": IMAGE, "cpus": cpus, "mem": mem,
                      "reshuffleable": reshuffleable, "notmetered": notmetered}
        if program >= 0:
            data["arguments"] = ["--program", str(program)]
        if nodetype >= 0:
            data["nodetype"] = self._types[nodetype]
        if kind == _KIND_SINGLETON:
            data["sla"] = SLA.SINGLETON.value
        if ported:
            data["ports"] = [{"host_port": 31400, "container_port": 8080}]
        return parse_task(data)

    @staticmethod
    def _daemon(j: int, nodetype: str | None) -> WorkItem:
        data: dict = {"id": f"daemon{j}", "dockerimage": IMAGE, "cpus": 0.1, "mem": 64,
                      "sla": SLA.ONE_PER_NODE.value, "notmetered": True}
        if j == 0:
            data["ports"] = [{"host_port": 31500, "container_port": 8080}]
        if nodetype:
            data["nodetype"] = nodetype
        return WorkItem(parse_task(data), 0.0, None, (0.05, 48.0), j + 1)
