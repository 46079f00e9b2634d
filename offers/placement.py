"""The placement core: which node each task goes to.

`place(cluster, tasks)` groups tasks into classes of identical demand and constraints and
places each class in one vectorized pass (`offers.passes`): filters say how many tasks of
the class every node can hold, a strategy decides how many each node gets. Tasks are
served by priority (higher first), then age (input order), across classes as well as
within one: a task is never left unplaced while a later-served task took a node it would
have fitted on. Deterministic for the same input and seed. Every task left unplaced gets
a reason a person can act on.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter

import numpy as np

from offers.cluster import ClusterState
from offers.filters import PortBook, Scene, TaskClass
from offers.order import serve_in_order
from offers.passes import Settings, dominant, inverse, run_pass, utilization
from offers.reasons import Reason, ReasonBook, explain_all
from offers.spread import Running
from offers.strategies import STRATEGIES
from offers.task import MIN_CPUS, MIN_MEM_MIB, SLA, TaskSpec

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


class _Rows:
    """Accumulates output rows class by class, a few list extensions per class (never a
    Python step per task); arrays are made once, at the end."""

    def __init__(self) -> None:
        self.columns: tuple[list[int], ...] = ([], [], [], [])

    def add(self, tasks, instances, nodes, reason_ids) -> None:
        """`tasks` a sequence; each other column an array as long, or one int for all."""
        n = len(tasks)
        for column, values in zip(self.columns, (tasks, instances, nodes, reason_ids),
                                  strict=True):
            if isinstance(values, np.ndarray):
                column.extend(values.tolist())
            elif isinstance(values, int):
                column.extend([values] * n)
            else:
                column.extend(values)

    def arrays(self) -> tuple[np.ndarray, ...]:
        tasks, instances, nodes, reasons = self.columns
        cols = (np.array(tasks, dtype=np.int64), np.array(instances, dtype=np.int32),
                np.array(nodes, dtype=np.int32), np.array(reasons, dtype=np.int32))
        order = np.lexsort((cols[1], cols[0]))
        return tuple(c[order] for c in cols)


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


_SHAPE = attrgetter("placement_key")
_PLAIN = ((), 0)  # no constraints, priority 0: what a short placement key leaves out


class _Prioritized(Exception):
    """A task with a priority: the batch is grouped again, in order of service."""


def service_order(tasks: Sequence[TaskSpec]) -> list[int]:
    """Task indices in order of service: higher priority first, then input order."""
    return sorted(range(len(tasks)), key=lambda i: -tasks[i].priority)


def _group(tasks, order, ids, groups, strategy, usage, margin, running, rows, book):
    """Tasks into classes of identical demand and constraints, members in order of
    service, classes in order of their first member. With `order` None, input order,
    until a task with a priority shows (then `_Prioritized`).

    This is the one loop over tasks, kept to a few C-level calls per task."""
    sized = strategy == "intelligence" and usage
    by_key: dict[tuple, list[int]] = {}
    seen_singletons: set[str] = set()
    singleton, daemon = SLA.SINGLETON, SLA.ONE_PER_NODE
    in_input_order = order is None
    for i, task in enumerate(tasks) if in_input_order else ((i, tasks[i]) for i in order):
        key = _SHAPE(task)
        if key[4] is not None or len(key) > 6:  # the rare cases, in one test
            if len(key) == 6:
                key = (*key, *_PLAIN)
            if key[7] and in_input_order:
                raise _Prioritized
            task_id = ids[i]
            if key[4] is singleton:
                where = Running.of(running.get(task_id))
                if where and where.hosts:
                    rows.add([i], 0, -1, book.id(Reason(
                        "singleton-running", f"singleton {task_id} already runs on "
                                             f"{sorted(where.hosts)[0]}")))
                    continue
                if task_id in seen_singletons:
                    rows.add([i], 0, -1, book.id(Reason(
                        "singleton-duplicate",
                        f"singleton {task_id} is already in this batch")))
                    continue
                seen_singletons.add(task_id)
            if key[4] is daemon:  # each one-per-node task on its own: one per node
                key = (*key, i)
            elif key[6] and any(c.counting for c in key[6]):  # counted per group
                key = (*key, groups[i])
        if sized and ids[i] in usage:
            key = (*effective_demands((task,), usage, margin, (ids[i],))[0], *key[3:])
        members = by_key.get(key)
        if members is None:
            members = by_key[key] = []
        members.append(i)
    classes: dict[TaskClass, list[int]] = {}
    wanted_ports: set[int] = set()
    for key, members in by_key.items():
        host_ports = tuple(sorted({m.host_port for m in key[5]}))
        wanted_ports.update(host_ports)
        group = (f"#{key[8]}" if key[4] is daemon else key[8]) if len(key) > 8 else None
        cls = TaskClass(key[:3], key[3], key[4], host_ports, key[6] if len(key) > 6 else (),
                        group)
        if cls in classes:  # same host ports, other container ports: one class
            merged = classes[cls] + members
            rank = None if in_input_order else {i: k for k, i in enumerate(order)}
            merged.sort(key=rank.__getitem__ if rank else None)
            classes[cls] = merged
        else:
            classes[cls] = members
    return classes, wanted_ports


class _Rare(Exception):
    """A batch with an SLA, constraints or a priority: grouped task by task (`_group`)."""


# Batches of at least this many tasks number their key objects by a hash of the address.
HASHED_BATCH = 4096
_HASH_SLOTS = 1 << 16


def _numbered(identity: np.ndarray) -> np.ndarray:
    """A small number for each object address (equal addresses, equal numbers). In a big
    batch, the address's middle bits, when no two of the batch's few hundred objects share
    them (checked: each slot holds one address); otherwise the object's rank in a sort."""
    if identity.size >= HASHED_BATCH:
        slot = ((identity >> 4) & (_HASH_SLOTS - 1)).astype(np.uint16)
        holder = np.zeros(_HASH_SLOTS, dtype=identity.dtype)
        holder[slot] = identity
        if np.array_equal(holder[slot], identity):
            return slot
    by_identity = np.argsort(identity)
    ordered = identity[by_identity]
    changes = np.concatenate(([0], ordered[1:] != ordered[:-1]))
    number = np.empty(identity.size, dtype=np.uint16 if changes.sum() < _HASH_SLOTS
                      else np.int64)
    number[by_identity] = np.cumsum(changes, dtype=number.dtype)
    return number


# Batches of fewer tasks than this are grouped in a dict: numpy's calls cost more there.
SMALL_BATCH = 64


def _by_key_small(tasks: Sequence[TaskSpec]) -> list[tuple[tuple, np.ndarray]]:
    """`_by_key` for a small batch (a live round's few new tasks), by each key object's
    `id`: every key is alive while its task is, so no two share one."""
    groups: dict[int, tuple[tuple, list[int]]] = {}
    for i, key in enumerate(map(_SHAPE, tasks)):
        group = groups.get(id(key))
        if group is None:
            groups[id(key)] = (key, [i])
        else:
            group[1].append(i)
    return [(key, np.array(members, dtype=np.intp)) for key, members in groups.values()]


def _by_key(tasks: Sequence[TaskSpec]) -> list[tuple[tuple, np.ndarray]]:
    """Each distinct key object of the batch with the indices of its tasks (ascending),
    in order of their first task, with no loop over tasks in Python."""
    n = len(tasks)
    # Each task's key object, by identity: an array of objects holds their addresses,
    # which are what `id` gives in CPython, read here without making an int per task.
    keys = np.fromiter(map(_SHAPE, tasks), dtype=object, count=n)
    identity = np.frombuffer(keys.data, dtype=np.intp)
    # Tasks sorted by the number of their key object with a stable sort, which for small
    # integers is a radix sort: each object's tasks together, in input order.
    number = _numbered(identity)
    order = np.argsort(number, kind="stable")
    ordered = number[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    bounds = np.append(starts, n).tolist()
    firsts = order[starts].tolist()  # the first task holding each key object
    by_first = sorted(range(len(firsts)), key=firsts.__getitem__)
    return [(keys[firsts[g]], order[bounds[g]:bounds[g + 1]]) for g in by_first]


def _group_plain(tasks: Sequence[TaskSpec]) -> tuple[dict[TaskClass, np.ndarray], set[int]]:
    """`_group` for a batch of plain tasks (no SLA, constraint nor priority), without
    reading each task's fields: tasks made from one spec share its placement key object,
    so they are grouped by that object's identity, and the few distinct objects by value.
    Members come as arrays of task indices, in input order. Raises `_Rare` when a task
    is not plain."""
    n = len(tasks)
    if not n:
        return {}, set()
    classes: dict[TaskClass, list[np.ndarray]] = {}
    wanted_ports: set[int] = set()
    for key, members in (_by_key_small(tasks) if n < SMALL_BATCH else _by_key(tasks)):
        # (classes in order of their first member)
        if key[4] is not None or len(key) > 6:
            raise _Rare
        host_ports = tuple(sorted({m.host_port for m in key[5]})) if key[5] else ()
        wanted_ports.update(host_ports)
        cls = TaskClass(key[:3], key[3], None, host_ports)
        parts = classes.get(cls)
        if parts is None:
            classes[cls] = [members]
        else:  # an equal key in another object, or other container ports: one class
            parts.append(members)
    return {cls: parts[0] if len(parts) == 1 else np.sort(np.concatenate(parts))
            for cls, parts in classes.items()}, wanted_ports


def place(
    cluster: ClusterState,
    tasks: Sequence[TaskSpec],
    *,
    strategy: str = "binpack",
    seed: int = 0,
    usage: Mapping[str, tuple[float, float]] | None = None,
    running: Mapping[str, Running | Mapping[str, int] | Collection[str]] | None = None,
    margin: float = 0.1,
    keys: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
) -> Placement:
    """Place `tasks` on `cluster`, serving higher `priority` first, then input order.

    - `usage`: task id -> observed peak (cpus, mem MiB); the `intelligence` strategy sizes
      those tasks by it (times 1 + margin) instead of by what they asked for.
    - `running`: task id -> where instances of its group already run: hostnames, hostname
      -> instances, or a `Running` (which also carries the attributes of hosts outside
      `cluster`). A `singleton` is not started twice, a `one-per-node` task only fills the
      nodes it is missing on, and UNIQUE, MAX_PER and GROUP_BY count these instances.
    - `keys`: the id each task is known by in `usage` and `running`, when that is not its
      own id (the framework keys by task instance, and two submissions may share an id).
    - `groups`: the group each task's counting constraints count over (a job); default
      its key, so that tasks of one id are one group.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; one of {', '.join(STRATEGIES)}")
    usage = usage or {}
    running = running or {}
    book = ReasonBook()
    rows = _Rows()
    order: Sequence[int] = range(len(tasks))
    plain = not (strategy == "intelligence" and usage)
    try:
        if not plain:
            raise _Rare
        classes, wanted_ports = _group_plain(tasks)
        ids = keys
    except _Rare:
        plain = False
        ids = [task.id for task in tasks] if keys is None else keys
        args = (ids, ids if groups is None else groups, strategy, usage, margin, running)
        try:
            classes, wanted_ports = _group(tasks, None, *args, rows, book)
        except _Prioritized:
            order, rows, book = service_order(tasks), _Rows(), ReasonBook()
            classes, wanted_ports = _group(tasks, order, *args, rows, book)

    def running_of(cls: TaskClass) -> Running | None:
        first = classes[cls][0]
        return Running.of(running.get(tasks[first].id if ids is None else ids[first]))

    scene = Scene(cluster, cluster.free.copy(), PortBook(cluster, wanted_ports), running_of)
    settings = Settings(strategy, cluster.total, _SeededGenerator(seed), book)
    daemons = [c for c in classes if c.sla is SLA.ONE_PER_NODE]
    regular = [c for c in classes if c.sla is not SLA.ONE_PER_NODE]
    if settings.packing and regular:
        # Largest first packs best (first-fit decreasing, by dominant share of the biggest
        # node); the order of service is kept by `serve_in_order` when it matters.
        total = cluster.total
        biggest = total.max(axis=0) if cluster.size else np.ones(total.shape[1])
        inverse_biggest = inverse(biggest)
        shares = dominant(np.array([c.demand for c in regular]).reshape(len(regular), -1),
                          inverse_biggest).tolist()
        regular = [regular[k] for k in sorted(range(len(regular)), key=lambda k: -shares[k])]

    before = scene.copy()
    result = run_pass(settings, scene, utilization(settings, scene.free),
                      [(c, len(classes[c])) for c in regular], daemons)
    placed = {c: [result.chosen[c]] for c in regular if c in result.chosen}
    daemon_rows = result.daemons
    if any(result.placed(c) < len(classes[c]) for c in regular):
        # Someone is short: all placed in one pass unless a later-served task took a node
        # an earlier one fitted on; then in order of service (rarely needed, costlier).
        scene, placed, daemon_rows = serve_in_order(settings, before, scene, result, classes,
                                                    regular, daemons, order)

    nodes_of = {cls: _nodes(placed.get(cls, ())) for cls in regular}  # of its tasks
    short = [cls for cls in regular if nodes_of[cls].size < len(classes[cls])]
    # Reasons speak of the cluster as the whole batch left it: what people see.
    reasons = dict(zip(short, explain_all(scene, short), strict=True))
    if plain:  # one row per task, no daemons: rows written in place, in task order
        return _plain_placement(cluster, scene, classes, regular, nodes_of, book, reasons)
    for cls in regular:
        members, nodes = classes[cls], nodes_of[cls]
        if nodes.size:
            rows.add(members[:nodes.size], 0, nodes, -1)
        if cls in reasons:
            rows.add(members[nodes.size:], 0, -1, book.id(reasons[cls]))
    for cls in daemons:
        i = classes[cls][0]
        out = daemon_rows[cls]
        if out.nowhere >= 0:
            rows.add([i], 0, -1, out.nowhere)
        if out.placed.size:
            rows.add(np.full(out.placed.size, i), np.arange(out.placed.size), out.placed, -1)
        for k, (_node, reason) in enumerate(out.short, start=out.placed.size):
            rows.add([i], k, -1, reason)

    task_index, instance, node, reason_id = rows.arrays()
    return Placement(task_index, instance, node, reason_id, book.reasons(), cluster.hostnames,
                     scene.free)


_NO_NODES = np.zeros(0, dtype=np.int64)


def _nodes(runs: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The node of each task a class placed, in order, from its runs of (nodes, tasks on
    each)."""
    if not runs:
        return _NO_NODES
    nodes = [np.repeat(chosen, counts) for chosen, counts in runs]
    return nodes[0] if len(nodes) == 1 else np.concatenate(nodes)


def _plain_placement(cluster: ClusterState, scene: Scene, classes, regular,
                     nodes_of: dict[TaskClass, np.ndarray], book: ReasonBook,
                     reasons: dict[TaskClass, Reason]) -> Placement:
    """The rows of a batch of plain tasks: each task has exactly one (instance 0), so the
    rows are the tasks in order, and each class's outcome is written into them."""
    n = sum(len(m) for m in classes.values())
    node = np.full(n, -1, dtype=np.int32)
    reason_id = np.full(n, -1, dtype=np.int32)
    for cls in regular:  # reasons numbered in the order `place` gives them
        members, nodes = classes[cls], nodes_of[cls]
        if nodes.size:
            node[members[:nodes.size]] = nodes
        if cls in reasons:
            reason_id[members[nodes.size:]] = book.id(reasons[cls])
    return Placement(np.arange(n, dtype=np.int64), np.zeros(n, dtype=np.int32), node,
                     reason_id, book.reasons(), cluster.hostnames, scene.free)


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
