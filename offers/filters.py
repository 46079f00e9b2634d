"""Feasibility filters: which nodes could take one more task of a class.

`FILTERS` is the one list of them, cheap ones first: each is a small function
`(scene, cls) -> (mask, code)` over the cluster arrays, the mask [N] saying which nodes
pass (None: every node, so the core skips it) and the code naming the reason for the
others. The placement core combines them; when a task stays unplaced, `offers.reasons`
asks the same list who said no and counts each node once, under the first filter that
refused it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from offers.cluster import HOSTNAME, NODETYPE, ClusterState
from offers.constraints import Constraint, Operator
from offers.spread import GroupCounts, Running
from offers.task import SLA, TaskSpec

EPSILON = 1e-9  # float slack so that 0.1 + 0.2 cpus still fit into 0.3
UNBOUNDED = np.iinfo(np.int64).max // 4  # how many tasks that need nothing a node holds


def nodetype_mask(cluster: ClusterState, code: int | None) -> np.ndarray:
    """Nodes of the wanted nodetype (all nodes when the task names none)."""
    if code is None:
        return np.ones(cluster.size, dtype=bool)
    return cluster.nodetype == code


def attribute_mask(cluster: ClusterState, constraints: Iterable[Constraint]) -> np.ndarray:
    """Nodes every constraint accepts by their attribute values alone (CLUSTER, LIKE,
    UNLIKE; a counting constraint only asks that the node has the attribute)."""
    mask = np.ones(cluster.size, dtype=bool)
    for c in constraints:
        mask &= cluster.column(c.field).value_mask(c.accepts)
    return mask


def eligible_nodes(cluster: ClusterState, spec: TaskSpec) -> np.ndarray:
    """Nodes a task may ever run on, whatever is free or already running: its nodetype and
    the constraints that do not count instances. A `system` job runs one instance on each."""
    return nodetype_mask(cluster, cluster.nodetype_code(spec.nodetype)) & attribute_mask(
        cluster, spec.constraints)


def fit_counts(free: np.ndarray, demand: np.ndarray) -> np.ndarray:
    """How many tasks of this demand each node can still hold, by every resource at once."""
    return Demands(demand[None, :]).fits(free)[0]


def fits_one(free: np.ndarray, demand: np.ndarray) -> np.ndarray:
    """Nodes with room for one more task of this demand: `fit_counts(free, demand) >= 1`,
    with no counts made (what the filters and the reasons ask)."""
    need = demand > 0
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        per = np.add(free.T[need], EPSILON) / demand[need][:, None]  # [needed R, N]
    return np.logical_and.reduce(per >= 1, axis=0)  # a NaN quotient is no room


def fits_one_each(free: np.ndarray, demands: np.ndarray) -> np.ndarray:
    """`fits_one` for many demands [C, R] at once: row c of the [C, N] result is
    `fits_one(free, demands[c])`, the same arithmetic for every resource c needs."""
    need = demands > 0
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        per = np.add(free.T, EPSILON)[None, :, :] / np.where(need, demands, 1.0)[:, :, None]
    return np.logical_and.reduce((per >= 1) | ~need[:, :, None], axis=1)


def fit_matrix(free: np.ndarray, demands: np.ndarray) -> np.ndarray:
    """`fit_counts` for many demands at once: row c of the [C, N] result is how many tasks
    of demand c each node can hold (resources a demand does not need do not limit it)."""
    return Demands(demands).fits(free)


_UNBOUNDED_FLOAT = float(UNBOUNDED)  # rounds up: the int64 result is capped once more


class Demands:
    """Demands [C, R] ready to be fitted into free capacity again and again (a pass fits
    the same classes after every class it places): what does not depend on `free` is
    worked out once, and each fit is a few whole-array operations, not one per resource.

    They work over [R, C, N], resources outermost (numpy is slow over a short innermost
    axis such as R), a few classes at a time when nodes are many: a big temporary costs
    more in fresh memory than the arithmetic on it."""

    CELLS = 1 << 13  # classes x nodes per step

    def __init__(self, demands: np.ndarray) -> None:
        self.demands = demands
        need = demands.T > 0  # (NaN is not > 0: a NaN demand limits nothing, like 0)
        self.skip = ~need[:, :, None]  # [R, C, 1]
        self.divisor = np.where(need, demands.T, 1.0)[:, :, None]
        self._needed: list[list[tuple[int, float]]] | None = None  # for `fits_on`

    def fits(self, free: np.ndarray, first: int = 0, last: int | None = None) -> np.ndarray:
        """[last - first, N] counts for `free` [N, R]: row c is `fit_counts(free,
        demands[first + c])` (`last` None: up to the last demand)."""
        have = np.add(free.T, EPSILON, order="C")[:, None, :]  # [R, 1, N]
        last = self.demands.shape[0] if last is None else last
        least = np.empty((last - first, free.shape[0]))
        step = max(self.CELLS // max(free.shape[0], 1), 1)
        for start in range(first, last, step):
            end = min(start + step, last)
            # A tiny demand (5e-324 MiB) or a huge free amount makes the quotient
            # infinite; that is fine here, since it is clipped below before becoming an
            # integer.
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                per = np.divide(have, self.divisor[:, start:end])  # [R, c, N]
            np.copyto(per, np.inf, where=self.skip[:, start:end])
            np.minimum.reduce(per, axis=0, out=least[start - first:end - first])
        # Clip before casting: an infinite or huge float cast to int64 is INT64_MIN, a
        # negative count that numpy refuses to repeat by. No node holds more than UNBOUNDED
        # tasks, and a NaN (free NaN) holds none: fmax and fmin pass over NaN. The cast
        # then rounds down, as what is left is never negative.
        np.fmax(least, 0.0, out=least)
        np.fmin(least, _UNBOUNDED_FLOAT, out=least)
        return np.minimum(least.astype(np.int64), UNBOUNDED)

    def fits_on(self, free: list[float], first: int = 0, last: int | None = None
                ) -> list[int]:
        """`fits` on one node (its free amounts as floats) for demands `first` to `last`:
        the same arithmetic in Python floats, cheaper than numpy calls for a few numbers."""
        if self._needed is None:
            self._needed = [[(r, d) for r, d in enumerate(row) if d > 0]
                            for row in self.demands.tolist()]
        have = [f + EPSILON for f in free]
        counts = []
        for needed in self._needed[first:last]:
            least = math.inf
            for r, d in needed:
                per = have[r] / d  # never by zero: needed means more than 0
                if per != per:  # NaN: as in numpy's minimum, it wins
                    least = per
                    break
                if per < least:
                    least = per
            if least >= _UNBOUNDED_FLOAT:
                counts.append(UNBOUNDED)
            else:  # NaN compares false: none
                counts.append(int(least) if least >= 1 else 0)
        return counts


class PortBook:
    """Host-port occupancy for the ports a batch asks for: one mask [N] per port.

    Only ports some task in the batch names are tracked, so the cost is independent of
    how wide the nodes' port ranges are.
    """

    def __init__(self, cluster: ClusterState, ports: Iterable[int]):
        self._cluster = cluster
        ports = sorted(set(ports))
        n = cluster.size
        self.offered: dict[int, np.ndarray] = {}
        self.taken: dict[int, np.ndarray] = {}
        if not ports:
            return
        # Most clusters give every node the same ranges: evaluate each distinct set once.
        by_ranges: dict[tuple, list[int]] = {}
        for i, ranges in enumerate(cluster.port_ranges):
            by_ranges.setdefault(ranges, []).append(i)
        for p in ports:
            offered = np.zeros(n, dtype=bool)
            for ranges, rows in by_ranges.items():
                if any(lo <= p <= hi for lo, hi in ranges):
                    offered[rows] = True
            self.offered[p] = offered
            self.taken[p] = np.zeros(n, dtype=bool)
        wanted = set(ports)
        for i, used in enumerate(cluster.used_ports):
            for p in used & wanted:
                self.taken[p][i] = True

    def free_mask(self, ports: tuple[int, ...]) -> np.ndarray:
        """Nodes where every one of `ports` is offered and not yet taken."""
        mask = np.ones(self._cluster.size, dtype=bool)
        for p in ports:
            mask &= self.offered[p] & ~self.taken[p]
        return mask

    def take(self, ports: tuple[int, ...], nodes: np.ndarray) -> None:
        for p in ports:
            self.taken[p][nodes] = True

    def copy(self) -> PortBook:
        """The same offered ports; its own record of what is taken."""
        other = object.__new__(PortBook)
        other._cluster, other.offered = self._cluster, self.offered
        other.taken = {p: mask.copy() for p, mask in self.taken.items()}
        return other


@dataclass(frozen=True)
class TaskClass:
    """Tasks the core treats as one: same demand, nodetype, SLA, host ports, constraints,
    and, when a constraint counts instances, the same group (whose instances it counts)."""

    demand: tuple[float, float, float]
    nodetype: str | None
    sla: SLA | None
    ports: tuple[int, ...]
    constraints: tuple[Constraint, ...] = ()
    group: str | None = None
    counting: tuple[Constraint, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A class is a key of every dict of a batch: its hash is worked out once.
        object.__setattr__(self, "_hash", hash((self.demand, self.nodetype, self.sla,
                                                self.ports, self.constraints, self.group)))
        # The constraints that count instances; a one-per-node task never runs two
        # instances on one host (SLA anti-affinity, said as Marathon would).
        counting = tuple(c for c in self.constraints if c.counting)
        if self.sla is SLA.ONE_PER_NODE:
            counting += (Constraint(field=HOSTNAME, operator=Operator.UNIQUE),)
        object.__setattr__(self, "counting", counting)

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self):
        # Made anew where unpickled: strings hash differently in another process.
        return TaskClass, (self.demand, self.nodetype, self.sla, self.ports, self.constraints,
                           self.group)


class Scene:
    """What the filters look at: the cluster and what the batch has taken of it so far.

    `free`, `ports` and the per-group counts change as classes are placed; `copy()` gives
    a scene an attempt may change and then throw away. Masks that depend on the cluster
    alone are made once per batch and shared by copies."""

    def __init__(self, cluster: ClusterState, free: np.ndarray, ports: PortBook,
                 running: Callable[[TaskClass], Running | None]) -> None:
        self.cluster = cluster
        self.free = free
        self.ports = ports
        self.counts: dict[tuple, GroupCounts] = {}
        self._running = running
        self._static: dict[object, np.ndarray] = {}

    def copy(self) -> Scene:
        other = Scene(self.cluster, self.free.copy(), self.ports.copy(), self._running)
        other.counts = {k: c.copy() for k, c in self.counts.items()}
        other._static = self._static
        return other

    def static_mask(self, key: object, make: Callable[[], np.ndarray]) -> np.ndarray:
        """Read-only: combine with `&`, never in place."""
        mask = self._static.get(key)
        if mask is None:
            mask = self._static[key] = make()
        return mask

    def counts_of(self, cls: TaskClass) -> GroupCounts:
        """Instances of the class's group per value of each counted field: those already
        running (from `place`'s `running`) and those this batch placed."""
        key = (cls.group, cls.counting)
        counts = self.counts.get(key)
        if counts is None:
            counts = self.counts[key] = GroupCounts(self.cluster, cls.counting,
                                                    self._running(cls))
        return counts

    def mask(self, cls: TaskClass, filters: tuple[Filter, ...]) -> np.ndarray:
        """Nodes every one of `filters` lets through."""
        mask = self.limit(cls, filters)
        return np.ones(self.cluster.size, dtype=bool) if mask is None else mask

    def limit(self, cls: TaskClass, filters: tuple[Filter, ...]) -> np.ndarray | None:
        """`mask`, or None when none of `filters` refuses any node (most classes: then
        there is nothing to combine)."""
        mask = None
        for f in filters:
            m, _ = f(self, cls)
            if m is not None:
                mask = m if mask is None else mask & m
        return mask


Filter = Callable[[Scene, TaskClass], tuple[np.ndarray | None, str]]


def nodetype_filter(scene: Scene, cls: TaskClass) -> tuple[np.ndarray | None, str]:
    if cls.nodetype is None:
        return None, NODETYPE
    cluster = scene.cluster
    return scene.static_mask((NODETYPE, cls.nodetype), lambda: nodetype_mask(
        cluster, cluster.nodetype_code(cls.nodetype))), NODETYPE


def attribute_filter(scene: Scene, cls: TaskClass) -> tuple[np.ndarray | None, str]:
    if not cls.constraints:
        return None, "constraint"
    return scene.static_mask(cls.constraints, lambda: attribute_mask(
        scene.cluster, cls.constraints)), "constraint"


def ports_filter(scene: Scene, cls: TaskClass) -> tuple[np.ndarray | None, str]:
    if not cls.ports:
        return None, "port-taken"
    return scene.ports.free_mask(cls.ports), "port-taken"


def instances_filter(scene: Scene, cls: TaskClass) -> tuple[np.ndarray | None, str]:
    """UNIQUE, MAX_PER, GROUP_BY and one-per-node: values the group may take one more on."""
    if not cls.counting:
        return None, "spread"
    return scene.counts_of(cls).room_mask(1), "spread"


def resources_filter(scene: Scene, cls: TaskClass) -> tuple[np.ndarray | None, str]:
    return fits_one(scene.free, np.asarray(cls.demand)), "resources"


# Cheap first. The core takes the resources filter's counts from its fit matrix instead.
FILTERS: tuple[Filter, ...] = (nodetype_filter, attribute_filter, ports_filter,
                               instances_filter, resources_filter)
BEFORE_RESOURCES = FILTERS[:-1]
STATIC = (nodetype_filter, attribute_filter)  # what no placement changes
