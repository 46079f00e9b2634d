"""One vectorized pass: how many tasks of each class go to each node, class by class.

A pass takes how many members of each class are wanted and a scene (what is free, which
host ports and constraint values are taken) and changes that scene as it places. Which
classes are wanted, and in which order of service, is `offers.placement`'s business; a
pass that turns out to be wrong for the order of service is run on a copy and dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from benchmarks.placement_reference.strategies import STRATEGIES, FillContext, binpack_one, dominant
from offers.filters import BEFORE_RESOURCES, STATIC, Demands, Scene, TaskClass, fits_one
from offers.reasons import ReasonBook, explain_unplaced, node_shortfall
from offers.spread import spread_fill

# Fit counts of all classes on all nodes are kept as one matrix up to this many cells
# (classes x nodes); beyond, they are worked out per class.
FIT_MATRIX_CELLS = 1 << 22
# Up to this many classes, one node's fits are worked out in Python floats (`fits_on`).
FEW = 48


def inverse(total: np.ndarray) -> np.ndarray:
    """1/total, with 0 for resources a node does not have (nothing fits there anyway)."""
    return np.divide(1.0, total, out=np.zeros_like(total, dtype=np.float64),
                     where=total > 0)


@dataclass
class Settings:
    """What stays the same for every pass of one batch."""

    strategy: str
    total: np.ndarray
    rng: object  # offers.placement's seeded generator, made on first use
    book: ReasonBook
    inverse: np.ndarray = field(init=False)
    packing: bool = field(init=False)
    balancing: bool = field(init=False)

    def __post_init__(self) -> None:
        self.inverse = inverse(self.total)
        self.packing = self.strategy in ("binpack", "intelligence")
        self.balancing = self.strategy in ("binpack", "intelligence", "spread")


@dataclass
class Daemon:
    """A one-per-node task's rows from a pass: nodes it got, and nodes it had no room on."""

    placed: np.ndarray
    short: list[tuple[int, int]]  # (node, reason id)
    nowhere: int = -1  # reason id when no node is eligible at all


@dataclass
class PassResult:
    chosen: dict[TaskClass, tuple[np.ndarray, np.ndarray]]  # nodes, tasks on each
    daemons: dict[TaskClass, Daemon]
    counts: dict[TaskClass, int] = field(default_factory=dict)  # tasks placed in all

    def choose(self, cls: TaskClass, nodes: np.ndarray, tasks: np.ndarray, count: int) -> None:
        self.chosen[cls] = (nodes, tasks)
        self.counts[cls] = count

    def placed(self, cls: TaskClass) -> int:
        return self.counts.get(cls, 0)


def utilization(settings: Settings, free: np.ndarray) -> np.ndarray | None:
    return dominant(settings.total - free, settings.inverse) if settings.balancing else None


def run_pass(settings: Settings, scene: Scene, util: np.ndarray | None,
             wants: Sequence[tuple[TaskClass, int]], daemons: Sequence[TaskClass]) -> PassResult:
    """Place `daemons` (one-per-node, first), then `wants` in the order given. Changes
    `scene` and `util` (the dominant share used per node) as it goes."""
    result = PassResult({}, {})
    for cls in daemons:
        result.daemons[cls] = _place_daemon(settings, scene, cls)
    if util is not None and daemons:
        util[:] = utilization(settings, scene.free)
    if not wants:
        return result
    free, total, inv = scene.free, settings.total, settings.inverse
    fill = STRATEGIES[settings.strategy]
    demands = np.array([c.demand for c, _ in wants]).reshape(len(wants), total.shape[1])
    fitting = Demands(demands)
    # Fit counts of every class on every node, kept current as classes are placed (only the
    # columns of the nodes a class took change); per class instead when that is too big.
    fits = fitting.fits(free) if len(wants) * scene.cluster.size <= FIT_MATRIX_CELLS else None

    def fit_of(k: int) -> np.ndarray:
        return fits[k] if fits is not None else fitting.fits(free, k, k + 1)[0]

    target = None
    if settings.packing and scene.cluster.size:
        target = _binpack_target(free, util, _room_wanted(scene, wants, demands, fit_of))

    balancing = inv if settings.balancing else None
    for k, (cls, n) in enumerate(wants):
        demand = demands[k]
        mask = scene.limit(cls, BEFORE_RESOURCES)
        fit = fit_of(k)
        if settings.packing and n == 1:  # the usual case live: no arrays of counts
            room = fit.nonzero()[0]  # counts are never negative
            node = binpack_one(room if mask is None else room[mask[room]], target, util,
                               demand, inv)
            if node < 0:
                continue
            chosen = np.array([node])
            result.choose(cls, chosen, np.ones(1, dtype=np.int64), 1)
            free[node] -= demand  # (one task: the same arithmetic as counts x demand)
            if fits is not None and k + 1 < len(wants):
                fits[k + 1:, node] = (
                    fitting.fits_on(free[node].tolist(), k + 1) if len(wants) - k <= FEW
                    else fitting.fits(free[node:node + 1], k + 1)[:, 0])
            if util is not None:
                util[node] = dominant(total[node] - free[node], inv[node])
        else:
            # No node needs room for more than the whole class: capped so, the strategies'
            # sums stay small even when a tiny demand makes a node's fit unbounded.
            caps = np.minimum(fit if mask is None else np.where(mask, fit, 0), n)
            if cls.ports:
                caps = np.minimum(caps, 1)  # a host port can be given once per node
            ctx = FillContext(demand, balancing, util, target, settings.rng)
            if cls.counting:
                alloc = spread_fill(caps, n, lambda c, m, ctx=ctx: fill(c, m, ctx),
                                    scene.counts_of(cls))
            else:
                alloc = fill(caps, n, ctx)
            chosen = np.flatnonzero(alloc)
            if not chosen.size:
                continue
            counts = alloc[chosen]
            result.choose(cls, chosen, counts, int(counts.sum()))
            free[chosen] -= counts[:, None] * demand[None, :]
            if fits is not None and k + 1 < len(wants):
                fits[k + 1:, chosen] = fitting.fits(free[chosen], k + 1)
            if util is not None:
                util[chosen] = dominant(total[chosen] - free[chosen], inv[chosen])
        if cls.ports:
            scene.ports.take(cls.ports, chosen)
        if cls.counting:
            scene.counts_of(cls).add(chosen, result.chosen[cls][1])
    return result


def _room_wanted(scene: Scene, wants: Sequence[tuple[TaskClass, int]], demands: np.ndarray,
                 fit_of) -> np.ndarray:
    """What the batch needs room for: every class that fits on some node it may run on
    (hopeless ones need no room), summed in the order of `wants`."""
    hopeful = []
    for k, (cls, n) in enumerate(wants):
        mask = scene.limit(cls, STATIC)
        fit = fit_of(k)
        if np.count_nonzero(fit if mask is None else fit[mask]):
            hopeful.append((k, n))
    if not hopeful:
        return np.zeros(demands.shape[1])
    rows, counts = zip(*hopeful, strict=True)
    # Summed one class after another (a running sum), as the classes are placed.
    return np.cumsum(demands[list(rows)] * np.array(counts)[:, None], axis=0)[-1]


def _binpack_target(free: np.ndarray, util: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The fewest of the fullest nodes whose free capacity covers the whole batch."""
    order = np.argsort(-util, kind="stable")  # ties to the lower index
    covered = np.cumsum(free[order], axis=0) >= wanted[None, :] - 1e-9
    all_covered = covered[:, 0]
    for r in range(1, covered.shape[1]):  # not .all(axis=1): slow over a short last axis
        all_covered = all_covered & covered[:, r]
    enough = np.flatnonzero(all_covered)
    k = int(enough[0]) + 1 if enough.size else free.shape[0]
    target = np.zeros(free.shape[0], dtype=bool)
    target[order[:k]] = True
    return target


def _place_daemon(settings: Settings, scene: Scene, cls: TaskClass) -> Daemon:
    """`one-per-node`: one instance on every eligible node that has room, never two (nor
    where one runs already); every eligible node without room says why."""
    demand = np.asarray(cls.demand)
    eligible = scene.mask(cls, STATIC)
    if not eligible.any():
        return Daemon(np.zeros(0, dtype=np.int64), [],
                      settings.book.id(explain_unplaced(scene, cls)))
    mask = scene.mask(cls, BEFORE_RESOURCES[len(STATIC):]) & eligible
    open_nodes = eligible & scene.counts_of(cls).room_mask(1)  # not where it runs
    room = mask & fits_one(scene.free, demand)
    nodes = np.flatnonzero(room)
    if nodes.size:
        scene.free[nodes] -= demand
        scene.ports.take(cls.ports, nodes)
        scene.counts_of(cls).add(nodes, np.ones(nodes.size, dtype=np.int64))
    short = [(node, settings.book.id(node_shortfall(scene.cluster, scene.free, demand,
                                                    cls.ports, scene.ports, node)))
             for node in np.flatnonzero(open_nodes & ~room).tolist()]
    return Daemon(nodes, short)
