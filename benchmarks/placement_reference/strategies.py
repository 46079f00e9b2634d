"""Strategies: how many tasks of one class each node receives.

Every strategy is a function `(caps, n, ctx) -> alloc` over arrays: `caps[N]` is how many
tasks of the class each node can take (0 where a filter said no), `n` how many are wanted,
and it returns `alloc[N]` with `alloc <= caps` and `alloc.sum() == min(n, caps.sum())`.
No strategy loops over tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def dominant(values: np.ndarray, inverse_total: np.ndarray) -> np.ndarray:
    """Dominant share: the largest fraction of any one resource (DRF's measure)."""
    shares = values * inverse_total
    if shares.ndim == 1:
        return shares.max()
    # Resource by resource: numpy is slow at a maximum over a short last axis.
    most = shares[..., 0]
    for r in range(1, shares.shape[-1]):
        most = np.maximum(most, shares[..., r])
    return most


@dataclass
class FillContext:
    """What a strategy may look at besides the capacities."""

    demand: np.ndarray  # [R] one task of the class
    inverse_total: np.ndarray | None  # [N, R] 1 / total (0 where a node lacks a resource)
    utilization: np.ndarray | None  # [N] dominant share already used on each node
    target: np.ndarray | None  # [N] bool: binpack's preferred nodes (None: all)
    random: Callable[[], np.random.Generator]  # the batch's seeded generator

    @property
    def rng(self) -> np.random.Generator:
        return self.random()

    def share(self, nodes: np.ndarray) -> np.ndarray:
        """The dominant share one task of the class takes on each of `nodes` (computed for
        those nodes only: with ten thousand nodes, most classes look at a few)."""
        return dominant(self.demand, self.inverse_total[nodes])


def fill_in_order(caps: np.ndarray, n: int, order: np.ndarray) -> np.ndarray:
    """Fill nodes to capacity in the given order until n tasks are placed."""
    ordered = caps[order]
    before = np.cumsum(ordered) - ordered
    take = np.minimum(np.maximum(n - before, 0), ordered)
    alloc = np.zeros_like(caps)
    alloc[order] = take
    return alloc


def water_level(util: np.ndarray, share: np.ndarray, cap: np.ndarray, n: int) -> float:
    """The level L at which raising every node towards L holds exactly n tasks, treating
    tasks as divisible: sum(clip((L - util) / share, 0, cap)) == n.

    The sum is piecewise linear in L, bending where a node starts (L = util) and where it
    fills up (L = util + cap * share): sort those bends, walk the slope, interpolate.
    """
    ends = util + cap * share
    bends = np.concatenate((util, ends))
    slopes = np.concatenate((1.0 / share, -1.0 / share))
    order = np.argsort(bends, kind="stable")
    bends, slopes = bends[order], np.cumsum(slopes[order])
    # Tasks held at each bend: the slope before it times the distance from the last bend.
    held = np.concatenate(([0.0], np.cumsum(slopes[:-1] * np.diff(bends))))
    k = int(np.searchsorted(held, n, side="left"))
    if k == 0:
        return float(bends[0])
    if k >= bends.size:
        return float(bends[-1])
    return float(bends[k - 1] + (n - held[k - 1]) / slopes[k - 1])


def water_fill(caps: np.ndarray, n: int, ctx: FillContext, nodes: np.ndarray) -> np.ndarray:
    """Spread n tasks over `nodes` so the fullest node ends as empty as it can.

    Every node is raised towards a common utilization level (one task adds `share` to a
    node); the fractional remainders go to the nodes that would be emptiest after taking
    one more, ties to the lower index.
    """
    alloc = np.zeros_like(caps)
    if n <= 0 or nodes.size == 0:
        return alloc
    cap = caps[nodes]
    if int(cap.sum()) <= n:
        alloc[nodes] = cap
        return alloc
    util = ctx.utilization[nodes]
    share = np.maximum(ctx.share(nodes), 1e-12)
    if n == 1:  # the usual case live, and the same answer as the levels give
        alloc[nodes[_emptiest_after_one(util, share, cap)]] = 1
    else:
        alloc[nodes] = level_fill(util, share, cap, n)
    return alloc


def _emptiest_after_one(util: np.ndarray, share: np.ndarray, cap: np.ndarray) -> int:
    """Where one task goes: the node emptiest after taking it, ties to the lower index."""
    return int(np.argmin(np.where(cap > 0, util + share, np.inf)))


def level_fill(util: np.ndarray, share: np.ndarray, cap: np.ndarray, n: int) -> np.ndarray:
    """How many of n tasks each node takes when all are raised towards a common level
    (`cap.sum() > n`): whole tasks below the level, then one more each to the nodes
    emptiest after taking it."""
    level = water_level(util, share, cap.astype(np.float64), n)
    base = np.minimum(np.maximum(np.floor((level - util) / share + 1e-9), 0), cap)
    base = base.astype(np.int64)
    over = int(base.sum()) - n
    if over > 0:  # float rounding at the level itself: take back from the fullest
        after = util + base * share
        order = np.lexsort((-np.arange(util.size), -after))
        base -= fill_in_order(np.minimum(base, 1), over, order)
    remaining = n - int(base.sum())
    while remaining > 0:  # one more each, to the nodes emptiest after taking it
        after = util + (base + 1) * share
        order = np.argsort(after, kind="stable")  # ties to the lower index
        extra = fill_in_order(np.minimum(cap - base, 1), remaining, order)
        base += extra
        remaining -= int(extra.sum())
    return base


def first_fit(caps: np.ndarray, n: int, ctx: FillContext) -> np.ndarray:
    """Nodes in cluster order, each filled before the next: Mesos's plain behaviour."""
    return fill_in_order(caps, n, np.arange(caps.size))


def spread(caps: np.ndarray, n: int, ctx: FillContext) -> np.ndarray:
    """Even out utilization across every feasible node."""
    return water_fill(caps, n, ctx, np.flatnonzero(caps > 0))


def binpack(caps: np.ndarray, n: int, ctx: FillContext) -> np.ndarray:
    """Use as few nodes as possible.

    Tasks are spread evenly over the smallest set of already-fullest nodes that can hold
    the whole batch (`ctx.target`), so every node gets the batch's mix of shapes and no
    resource strands; whatever does not fit there goes to the fullest remaining nodes.
    """
    feasible = caps > 0
    target = feasible if ctx.target is None else feasible & ctx.target
    alloc = water_fill(caps, n, ctx, np.flatnonzero(target))
    left = n - int(alloc.sum())
    if left > 0:
        rest = caps - alloc
        order = np.argsort(-ctx.utilization, kind="stable")  # ties to the lower index
        alloc += fill_in_order(rest, left, order)
    return alloc


def binpack_one(room: np.ndarray, target: np.ndarray | None, utilization: np.ndarray,
                demand: np.ndarray, inverse_total: np.ndarray) -> int:
    """`binpack` for a class of one task, given the nodes with room for it (ascending): the
    same node, found without arrays over every node. -1 when no node has room."""
    if room.size == 0:
        return -1
    preferred = room if target is None else room[target[room]]
    if preferred.size:
        share = np.maximum(dominant(demand, inverse_total[preferred]), 1e-12)
        return int(preferred[np.argmin(utilization[preferred] + share)])
    return int(room[np.argmax(utilization[room])])  # the fullest; ties to the lower index


def random(caps: np.ndarray, n: int, ctx: FillContext) -> np.ndarray:
    """Each task to a uniformly drawn node with room; seeded, so repeatable."""
    alloc = np.zeros_like(caps)
    left = min(n, int(caps.sum()))
    while left > 0:
        room = caps - alloc
        open_nodes = np.flatnonzero(room > 0)
        draws = ctx.rng.multinomial(left, np.full(open_nodes.size, 1.0 / open_nodes.size))
        take = np.minimum(draws, room[open_nodes])
        alloc[open_nodes] += take
        left -= int(take.sum())
    return alloc


Strategy = Callable[[np.ndarray, int, FillContext], np.ndarray]

# "intelligence" is binpack over metered usage; the core swaps the demands, not the fill.
STRATEGIES: dict[str, Strategy] = {
    "binpack": binpack,
    "spread": spread,
    "first-fit": first_fit,
    "random": random,
    "intelligence": binpack,
}
