"""The placement core: which node each task goes to.

`place(cluster, tasks)` groups tasks into classes of identical demand and constraints and
places each class in one vectorized pass: filters say how many tasks of the class every
node can hold, a strategy decides how many each node gets, and tasks are handed out in
input order. Deterministic for the same input and seed. Every task left unplaced gets a
reason a person can act on.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from operator import attrgetter

import numpy as np

from offers.cluster import ClusterState
from offers.filters import PortBook, fit_counts, fit_matrix, nodetype_mask
from offers.reasons import Reason, ReasonBook, explain_unplaced, node_shortfall
from offers.strategies import STRATEGIES, FillContext, binpack_one
from offers.task import MIN_CPUS, MIN_MEM_MIB, SLA, TaskSpec

# Fit counts of all classes on all nodes are kept as one matrix up to this many cells
# (classes x nodes); beyond, they are worked out per class.
FIT_MATRIX_CELLS = 1 << 20

# Floors for usage-based sizes: a task that was idle when metered still needs something,
# and no less than a task may ask for (offers.task).
MIN_MEM = MIN_MEM_MIB


@dataclass(frozen=True)
class Assignment:
    task_index: int
    instance: int
    hostname: str | None
    reason: str | None
    reason_code: str | None


@dataclass(frozen=True)
class Placement:
    """Rows of (task, instance, node or -1, reason or -1), ordered by task then instance."""

    task_index: np.ndarray
    instance: np.ndarray
    node: np.ndarray
    reason_id: np.ndarray
    reasons: tuple[Reason, ...]
    hostnames: tuple[str, ...]
    free_after: np.ndarray

    def rows(self) -> Iterator[Assignment]:
        hosts, reasons = self.hostnames, self.reasons
        for t, k, node, r in zip(self.task_index.tolist(), self.instance.tolist(),
                                 self.node.tolist(), self.reason_id.tolist(), strict=True):
            reason = reasons[r] if r >= 0 else None
            yield Assignment(t, k, hosts[node] if node >= 0 else None,
                             reason.message if reason else None, reason.code if reason else None)

    @property
    def placed(self) -> int:
        return int((self.node >= 0).sum())

    @property
    def unplaced(self) -> int:
        return int((self.node < 0).sum())

    @property
    def nodes_used(self) -> int:
        return int(np.unique(self.node[self.node >= 0]).size)

    def unplaced_by_reason(self) -> dict[str, int]:
        ids, counts = np.unique(self.reason_id[self.node < 0], return_counts=True)
        out: dict[str, int] = {}
        for r, c in zip(ids.tolist(), counts.tolist(), strict=True):
            code = self.reasons[r].code
            out[code] = out.get(code, 0) + c
        return dict(sorted(out.items()))


@dataclass(frozen=True)
class _Class:
    demand: tuple[float, float, float]
    nodetype: str | None
    sla: SLA | None
    ports: tuple[int, ...]


class _Rows:
    """Accumulates output rows class by class as arrays, never task by task."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, tasks, instances, nodes, reason_ids) -> None:
        """`tasks` a sequence; each other column an array as long, or one int for all."""
        tasks = np.asarray(tasks, dtype=np.int64)
        n = tasks.size
        self.parts.append((tasks, _column(instances, n), _column(nodes, n),
                           _column(reason_ids, n)))

    def arrays(self) -> tuple[np.ndarray, ...]:
        if not self.parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty.astype(np.int32), empty.astype(np.int32), empty.astype(np.int32)
        cols = [np.concatenate([p[i] for p in self.parts]) for i in range(4)]
        order = np.lexsort((cols[1], cols[0]))
        return tuple(c[order] for c in cols)


def _column(values: np.ndarray | int, n: int) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return values.astype(np.int32, copy=False)
    return np.full(n, values, dtype=np.int32)


def effective_demands(tasks: Sequence[TaskSpec], usage: Mapping[str, tuple[float, float]],
                      margin: float, keys: Sequence[str] | None = None
                      ) -> list[tuple[float, float, float]]:
    """Requested sizes, or metered peaks plus a safety margin where usage is known
    (`usage` is by task id, or by `keys[i]` when given)."""
    out = []
    for i, task in enumerate(tasks):
        seen = usage.get(task.id if keys is None else keys[i])
        if seen is None or task.notmetered:
            out.append(task.demand())
        else:
            out.append((max(seen[0] * (1 + margin), MIN_CPUS),
                        max(seen[1] * (1 + margin), MIN_MEM), task.disk))
    return out


def _inverse(total: np.ndarray) -> np.ndarray:
    """1/total, with 0 for resources a node does not have (nothing fits there anyway)."""
    with np.errstate(divide="ignore"):
        return np.where(total > 0, 1.0 / np.where(total > 0, total, 1.0), 0.0)


def _dominant(values: np.ndarray, inverse_total: np.ndarray) -> np.ndarray:
    """Dominant share: the largest fraction of any one resource (DRF's measure)."""
    return (values * inverse_total).max(axis=-1)


_SHAPE = attrgetter("cpus", "mem", "disk", "nodetype", "sla", "ports")


def _group(tasks, ids, strategy, usage, margin, running, rows, book):
    """Tasks into classes of identical demand and constraints, in first-seen order.

    This is the one loop over tasks, kept to a few C-level calls per task."""
    sized = strategy == "intelligence" and usage
    by_key: dict[tuple, list[int]] = {}
    seen_singletons: set[str] = set()
    singleton = SLA.SINGLETON
    for i, (task, task_id) in enumerate(zip(tasks, ids, strict=True)):
        key = _SHAPE(task)
        if key[4] is singleton:
            where = running.get(task_id)
            if where:
                rows.add([i], 0, -1, book.id(Reason(
                    "singleton-running", f"singleton {task_id} already runs on {sorted(where)[0]}")))
                continue
            if task_id in seen_singletons:
                rows.add([i], 0, -1, book.id(Reason(
                    "singleton-duplicate", f"singleton {task_id} is already in this batch")))
                continue
            seen_singletons.add(task_id)
        if sized and task_id in usage:
            key = (*effective_demands((task,), usage, margin, (task_id,))[0], *key[3:])
        members = by_key.get(key)
        if members is None:
            members = by_key[key] = []
        members.append(i)
    classes: dict[_Class, list[int]] = {}
    wanted_ports: set[int] = set()
    for key, members in by_key.items():
        host_ports = tuple(sorted({m.host_port for m in key[5]}))
        wanted_ports.update(host_ports)
        cls = _Class(key[:3], key[3], key[4], host_ports)
        if cls in classes:  # same host ports, other container ports: one class
            classes[cls].extend(members)
            classes[cls].sort()
        else:
            classes[cls] = members
    return classes, wanted_ports


def place(
    cluster: ClusterState,
    tasks: Sequence[TaskSpec],
    *,
    strategy: str = "binpack",
    seed: int = 0,
    usage: Mapping[str, tuple[float, float]] | None = None,
    running: Mapping[str, Collection[str]] | None = None,
    margin: float = 0.1,
    keys: Sequence[str] | None = None,
) -> Placement:
    """Place `tasks` on `cluster`; input order is priority within a class.

    - `usage`: task id -> observed peak (cpus, mem MiB); the `intelligence` strategy sizes
      those tasks by it (times 1 + margin) instead of by what they asked for.
    - `running`: task id -> hostnames where an instance already runs, so that a `singleton`
      is not started twice and a `one-per-node` task only fills the nodes it is missing on.
    - `keys`: the id each task is known by in `usage` and `running`, when that is not its
      own id (the framework keys by task instance, and two submissions may share an id).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; one of {', '.join(STRATEGIES)}")
    usage = usage or {}
    running = running or {}
    rng = _SeededGenerator(seed)
    free = cluster.free.copy()
    total = cluster.total
    book = ReasonBook()
    rows = _Rows()
    ids = [task.id for task in tasks] if keys is None else keys
    classes, wanted_ports = _group(tasks, ids, strategy, usage, margin, running, rows, book)
    ports = PortBook(cluster, wanted_ports)

    daemon = [c for c in classes if c.sla is SLA.ONE_PER_NODE]
    others = [c for c in classes if c.sla is not SLA.ONE_PER_NODE]
    packing = strategy in ("binpack", "intelligence")
    if packing:
        # Largest first packs best (first-fit decreasing, by dominant share of the biggest node).
        biggest = total.max(axis=0) if cluster.size else np.ones(total.shape[1])
        inverse_biggest = _inverse(biggest)
        others.sort(key=lambda c: -float(_dominant(np.asarray(c.demand), inverse_biggest)))

    fill = STRATEGIES[strategy]
    inverse = _inverse(total)
    balancing = strategy in ("binpack", "intelligence", "spread")
    for cls in daemon:
        _place_daemon(cluster, ids, cls, classes[cls], free, ports, running, rows, book)

    eligible = _EligibleNodes(cluster)
    # Kept up to date node by node as classes are placed, never recomputed for all nodes.
    utilization = _dominant(total - free, inverse) if balancing else None
    demands = np.array([c.demand for c in others]).reshape(len(others), total.shape[1])
    # Fit counts of every class on every node, kept current as classes are placed (only the
    # columns of the nodes a class took change); per class instead when that is too big.
    fits = (fit_matrix(free, demands) if len(others) * cluster.size <= FIT_MATRIX_CELLS
            else None)

    def fit_of(k: int) -> np.ndarray:
        return fits[k] if fits is not None else fit_counts(free, demands[k])

    target = None
    if packing and others and cluster.size:
        wanted = np.zeros(total.shape[1])
        for k, cls in enumerate(others):
            fit = fit_of(k)
            if (fit[eligible.mask(cls.nodetype)] > 0).any():  # hopeless classes need no room
                wanted += demands[k] * len(classes[cls])
        target = _binpack_target(free, utilization, wanted)

    short: list[tuple[_Class, list[int]]] = []
    for k, cls in enumerate(others):
        members = classes[cls]
        demand = demands[k]
        mask = eligible.mask(cls.nodetype)
        if cls.ports:
            mask = mask & ports.free_mask(cls.ports)
        fit = fit_of(k)
        if packing and len(members) == 1:  # the usual case live: no arrays of counts
            node = binpack_one(np.flatnonzero((fit > 0) & mask), target, utilization,
                               demand, inverse)
            chosen = np.array([node] if node >= 0 else [], dtype=np.int64)
            counts = np.ones(chosen.size, dtype=np.int64)
        else:
            # No node needs room for more than the whole class: capped so, the strategies'
            # sums stay small even when a tiny demand makes a node's fit unbounded.
            caps = np.minimum(np.where(mask, fit, 0), len(members))
            if cls.ports:
                caps = np.minimum(caps, 1)  # a host port can be given once per node
            ctx = FillContext(demand, inverse if balancing else None, utilization, target,
                              rng)
            alloc = fill(caps, len(members), ctx)
            chosen = np.flatnonzero(alloc)
            counts = alloc[chosen]
        placed = 0
        if chosen.size:
            placed = int(counts.sum())
            # Input order is priority: the first tasks of the class take the chosen slots,
            # in the strategy's node order (lowest index first for ties).
            rows.add(members[:placed], 0, np.repeat(chosen, counts), -1)
            free[chosen] -= counts[:, None] * demand[None, :]
            if fits is not None and k + 1 < len(others):
                fits[k + 1:, chosen] = fit_matrix(free[chosen], demands[k + 1:])
            if utilization is not None:
                utilization[chosen] = _dominant(total[chosen] - free[chosen], inverse[chosen])
            if cls.ports:
                ports.take(cls.ports, chosen)
        if placed < len(members):
            short.append((cls, members[placed:]))

    # Reasons speak of the cluster as the whole batch left it, which is what people see.
    for cls, left in short:
        reason = explain_unplaced(cluster, free, np.asarray(cls.demand),
                                  cluster.nodetype_code(cls.nodetype), cls.nodetype, cls.ports,
                                  ports)
        rows.add(left, 0, -1, book.id(reason))

    task_index, instance, node, reason_id = rows.arrays()
    return Placement(task_index, instance, node, reason_id, book.reasons(), cluster.hostnames,
                     free)


class _SeededGenerator:
    """The batch's random generator, made on first use: making one costs more than placing
    a small batch, and only the `random` strategy draws."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._rng: np.random.Generator | None = None

    def __call__(self) -> np.random.Generator:
        if self._rng is None:
            self._rng = np.random.default_rng(self._seed)
        return self._rng


class _EligibleNodes:
    """Nodetype masks, one per nodetype a batch names, made once per batch."""

    def __init__(self, cluster: ClusterState) -> None:
        self._cluster = cluster
        self._masks: dict[str | None, np.ndarray] = {}

    def mask(self, nodetype: str | None) -> np.ndarray:
        """Read-only: combine with `&`, never in place."""
        mask = self._masks.get(nodetype)
        if mask is None:
            cluster = self._cluster
            mask = self._masks[nodetype] = nodetype_mask(cluster,
                                                         cluster.nodetype_code(nodetype))
        return mask


def _binpack_target(free: np.ndarray, utilization: np.ndarray,
                    wanted: np.ndarray) -> np.ndarray:
    """The fewest of the fullest nodes whose free capacity covers the whole batch."""
    order = np.lexsort((np.arange(free.shape[0]), -utilization))
    covered = np.cumsum(free[order], axis=0) >= wanted[None, :] - 1e-9
    enough = np.flatnonzero(covered.all(axis=1))
    k = int(enough[0]) + 1 if enough.size else free.shape[0]
    target = np.zeros(free.shape[0], dtype=bool)
    target[order[:k]] = True
    return target


def _place_daemon(cluster, ids, cls, members, free, ports, running, rows, book) -> None:
    """`one-per-node`: one instance on every eligible node that has room, never two."""
    demand = np.asarray(cls.demand)
    code = cluster.nodetype_code(cls.nodetype)
    eligible = nodetype_mask(cluster, code)
    for i in members:
        have = running.get(ids[i], ())
        mask = eligible.copy()
        if len(have) > cluster.size:  # runs on more nodes than this batch has: ask per node
            if not isinstance(have, AbstractSet):
                have = set(have)
            mask &= np.fromiter((h not in have for h in cluster.hostnames), dtype=bool,
                                count=cluster.size)
        elif have:
            index = cluster.host_index()
            mask[[index[h] for h in have if h in index]] = False
        if not mask.any():
            if not eligible.any():
                reason = explain_unplaced(cluster, free, demand, code, cls.nodetype, (), ports)
                rows.add([i], 0, -1, book.id(reason))
            continue
        room = mask & (fit_counts(free, demand) >= 1)
        if cls.ports:
            room &= ports.free_mask(cls.ports)
        nodes = np.flatnonzero(room)
        if nodes.size:
            rows.add(np.full(nodes.size, i), np.arange(nodes.size), nodes, -1)
            free[nodes] -= demand
            ports.take(cls.ports, nodes)
        short = np.flatnonzero(mask & ~room)
        for k, node in enumerate(short.tolist(), start=nodes.size):
            reason = node_shortfall(cluster, free, demand, cls.ports, ports, node)
            rows.add([i], k, -1, book.id(reason))
