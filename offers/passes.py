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

from offers.filters import (
    BEFORE_RESOURCES,
    EPSILON,
    STATIC,
    Demands,
    Scene,
    TaskClass,
    fits_one,
)
from offers.reasons import ReasonBook, explain_unplaced, node_shortfall
from offers.spread import spread_fill
from offers.strategies import STRATEGIES, FillContext, binpack_one, dominant

# Fit counts of all classes on all nodes are kept as one matrix up to this many cells
# (classes x nodes); beyond, they are worked out per class.
FIT_MATRIX_CELLS = 1 << 22
# Classes of up to this many tasks on average share one matrix of counts (`_FitRows`).
SMALL_CLASSES = 4
# A class that took more than one node in this many updates every node's row at once.
DENSE = 8
# Up to this many nodes, a class's counts are worked out again in Python floats.
FEW_NODES = 16
# First-fit looks at this many nodes at a time, twice as many each time the class needs more.
WINDOW = 256


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
    inverse_columns: tuple[np.ndarray, ...] = field(init=False)  # of `inverse`, contiguous
    packing: bool = field(init=False)
    balancing: bool = field(init=False)

    def __post_init__(self) -> None:
        self.inverse = inverse(self.total)
        self.inverse_columns = tuple(np.ascontiguousarray(self.inverse.T))
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
    in_order = settings.strategy == "first-fit"
    # A matrix of all classes' counts pays when classes are many and small (each takes a
    # few nodes, and only those are worked out again); otherwise each class's own row.
    matrix = (not in_order and len(wants) * scene.cluster.size <= FIT_MATRIX_CELLS
              and sum(n for _, n in wants) <= SMALL_CLASSES * len(wants))
    fit_rows = _FitRows(fitting, free, matrix)
    fit_of = fit_rows.row
    first_fit = _FirstFit(demands, free) if in_order else None

    target = None
    if settings.packing and scene.cluster.size:
        target = _binpack_target(free, util, _room_wanted(scene, wants, demands,
                                                          fit_of if matrix else None))

    balancing = inv if settings.balancing else None
    for k, (cls, n) in enumerate(wants):
        demand = demands[k]
        mask = scene.limit(cls, BEFORE_RESOURCES)
        if in_order and not cls.counting:
            chosen, counts = first_fit.place(k, mask, n, bool(cls.ports))
            if not chosen.size:
                continue
            result.choose(cls, chosen, counts, int(counts.sum()))
            free[chosen] -= counts[:, None] * demand[None, :]
        elif settings.packing and n == 1:
            fit = fit_of(k, n)  # the usual case live: no arrays of counts
            room = fit.nonzero()[0]  # counts are never negative
            node = binpack_one(room if mask is None else room[mask[room]], target, util,
                               demand, inv)
            if node < 0:
                continue
            chosen = np.array([node])
            result.choose(cls, chosen, np.ones(1, dtype=np.int64), 1)
            free[node] -= demand  # (one task: the same arithmetic as counts x demand)
            fit_rows.changed(chosen)
            if util is not None:
                util[node] = dominant(total[node] - free[node], inv[node])
        else:
            # No node needs room for more than the whole class: capped so, the strategies'
            # sums stay small even when a tiny demand makes a node's fit unbounded.
            fit = fit_of(k, n)
            caps = np.minimum(fit if mask is None else np.where(mask, fit, 0), n)
            if cls.ports:
                caps = np.minimum(caps, 1)  # a host port can be given once per node
            ctx = FillContext(demand, balancing, util, target, settings.rng,
                              settings.inverse_columns if settings.balancing else None)
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
            fit_rows.changed(chosen)
            if chosen.size * DENSE < free.shape[0]:
                free[chosen] -= counts[:, None] * demand[None, :]
                if util is not None:
                    util[chosen] = dominant(total[chosen] - free[chosen], inv[chosen])
            else:
                # Over every node when the class took many: the same numbers (a node that
                # took none loses 0 of each resource), without picking rows out.
                free -= alloc[:, None] * demand[None, :]
                if util is not None:
                    util[chosen] = dominant(total - free, inv)[chosen]
        if cls.ports:
            scene.ports.take(cls.ports, chosen)
        if cls.counting:
            scene.counts_of(cls).add(chosen, result.chosen[cls][1])
    return result


def capped_fits(free: np.ndarray, demand: np.ndarray, cap: int) -> np.ndarray:
    """`np.minimum(Demands(demand[None]).fits(free)[0], cap)` (the same arithmetic), one
    resource column at a time (numpy is slow at broadcasting over a short last axis) and
    with nothing made that is not needed."""
    least = None
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        for r, d in enumerate(demand.tolist()):
            if d > 0:
                per = np.add(free[:, r], EPSILON)
                np.divide(per, d, out=per)
                least = per if least is None else np.minimum(least, per, out=least)
    if least is None:  # needs nothing: unbounded, so the cap
        return np.full(free.shape[0], cap, dtype=np.int64)
    # As `Demands.fits`: below zero or NaN holds none; the cast rounds down.
    np.fmax(least, 0.0, out=least)
    np.fmin(least, float(cap), out=least)
    return least.astype(np.int64)


class _FitRows:
    """How many tasks of each class every node holds, worked out for a class when its turn
    comes: from a matrix made once for all classes (when it is small enough), redone only
    on the nodes earlier classes took; otherwise over every node."""

    def __init__(self, fitting: Demands, free: np.ndarray, matrix: bool) -> None:
        self.fitting, self.free = fitting, free
        self.matrix = fitting.fits(free) if matrix else None
        self.touched = np.zeros(free.shape[0], dtype=bool)
        self.stale = 0  # nodes touched, at most (a node may be counted twice)

    def row(self, k: int, n: int) -> np.ndarray:
        """Class k's counts, or (where cheaper) its counts capped at n >= 1: the same to a
        caller that caps them at n."""
        if self.matrix is None or self.stale * 4 > self.free.shape[0]:
            return capped_fits(self.free, self.fitting.demands[k], max(n, 1))
        row = self.matrix[k]
        if self.stale:
            nodes = np.flatnonzero(self.touched)
            if nodes.size <= FEW_NODES:  # the usual case: a few nodes, in Python floats
                fits_on = self.fitting.fits_on
                row[nodes] = [fits_on(free, k, k + 1)[0] for free in self.free[nodes].tolist()]
            else:
                row[nodes] = self.fitting.fits(self.free[nodes], k, k + 1)[0]
        return row

    def changed(self, nodes: np.ndarray) -> None:
        if self.matrix is not None:
            self.touched[nodes] = True
            self.stale += nodes.size


class _FirstFit:
    """First-fit over a pass: each class looks only as far into the cluster as it needs,
    from the first node that may still hold some class of the pass (`strategies.first_fit`
    over every node gives the same, with the same arithmetic as `Demands.fits`)."""

    def __init__(self, demands: np.ndarray, free: np.ndarray) -> None:
        self.demands, self.free = demands, free
        least = demands.min(axis=0)  # a node without room for this holds no class
        self.least = [(r, float(least[r])) for r in range(demands.shape[1]) if least[r] > 0]
        self.floor = 0  # nodes before it hold no class of the pass (free only shrinks)
        self.reach = 0  # nodes from here on no class of the pass has taken from yet

    def _advance(self) -> int:
        free, size = self.free, self.free.shape[0]
        if self.floor < size:  # usually the node at the floor still has room: one look
            row = free[self.floor].tolist()
            if not any((row[r] + EPSILON) / d < 1 for r, d in self.least):
                return self.floor
        while self.floor < size and self.least:
            end = min(self.floor + WINDOW, size)
            dead = np.zeros(end - self.floor, dtype=bool)
            with np.errstate(over="ignore", invalid="ignore"):
                for r, d in self.least:
                    dead |= (free[self.floor:end, r] + EPSILON) / d < 1
            alive = np.flatnonzero(~dead)
            if alive.size:
                self.floor += int(alive[0])
                break
            self.floor = end
        return self.floor

    def place(self, k: int, mask: np.ndarray | None, n: int, ports: bool
              ) -> tuple[np.ndarray, np.ndarray]:
        size = self.free.shape[0]
        nodes, counts = [], []
        first = start = self._advance()
        left = n
        # The nodes earlier classes took from (most hold little now), then as many nodes as
        # n tasks take if each were as free as the first one no class took from, and half
        # as many again: most classes need one window.
        step = WINDOW
        fresh = max(start, self.reach)
        if fresh < size:
            have = self.free[fresh].tolist()
            each = min((have[r] + EPSILON) / d for r, d in enumerate(self.demands[k].tolist())
                       if d > 0) if (self.demands[k] > 0).any() else n
            if each >= 1:
                step = max(WINDOW, fresh - start + int(n / each * 1.5) + 16)
        while left > 0 and start < size:
            end = min(start + step, size)
            caps = capped_fits(self.free[start:end], self.demands[k], n)
            if mask is not None:
                caps = np.where(mask[start:end], caps, 0)
            if ports:
                caps = np.minimum(caps, 1)  # a host port can be given once per node
            held = np.cumsum(caps)
            if held[-1] > left:  # the last window: fill up to the node that reaches n
                last = int(np.searchsorted(held, left))
                caps = caps[:last + 1]
                caps[last] -= held[last] - left
            chosen = np.flatnonzero(caps)
            if chosen.size:
                nodes.append(chosen + start)
                counts.append(caps[chosen])
                left -= int(min(held[-1], left))
            # The next window: as many nodes as the rate so far says are left to fill,
            # and a quarter more (at least twice the last one: a few windows a class).
            rate = (n - left) / (end - first)
            step = max(step * 2, int(left / rate * 1.25) + 16) if rate else step * 4
            start = end
        if not nodes:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        self.reach = max(self.reach, int(nodes[-1][-1]) + 1)
        if len(nodes) == 1:
            return nodes[0], counts[0]
        return np.concatenate(nodes), np.concatenate(counts)


def _room_wanted(scene: Scene, wants: Sequence[tuple[TaskClass, int]], demands: np.ndarray,
                 fit_of) -> np.ndarray:
    """What the batch needs room for: every class that fits on some node it may run on
    (hopeless ones need no room), summed in the order of `wants`. `fit_of` gives the
    counts when they are at hand; otherwise only whether one task fits is asked."""
    hopeful = []
    free = scene.free
    probe = None
    for k, (cls, n) in enumerate(wants):
        mask = scene.limit(cls, STATIC)
        if fit_of is not None:
            fit = fit_of(k, n)
            if np.count_nonzero(fit if mask is None else fit[mask]):
                hopeful.append((k, n))
            continue
        if mask is None:
            if probe is None:  # a few likely nodes first: the roomiest in each resource
                probe = np.unique(np.concatenate((free.argmax(axis=0),
                                                  np.arange(min(free.shape[0], 16)))))
            if fits_one(free[probe], demands[k]).any():
                hopeful.append((k, n))
                continue
        if fits_one(free if mask is None else free[mask], demands[k]).any():
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
