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


@dataclass
class FillContext:
    """What a strategy may look at besides the capacities."""

    share: np.ndarray | None  # [N] dominant share one task of the class takes on each node
    utilization: np.ndarray | None  # [N] dominant share already used on each node
    target: np.ndarray | None  # [N] bool: binpack's preferred nodes (None: all)
    rng: np.random.Generator


def fill_in_order(caps: np.ndarray, n: int, order: np.ndarray) -> np.ndarray:
    """Fill nodes to capacity in the given order until n tasks are placed."""
    ordered = caps[order]
    before = np.cumsum(ordered) - ordered
    take = np.clip(n - before, 0, ordered)
    alloc = np.zeros_like(caps)
    alloc[order] = take
    return alloc


def water_fill(caps: np.ndarray, n: int, ctx: FillContext, nodes: np.ndarray) -> np.ndarray:
    """Spread n tasks over `nodes` so the fullest node ends as empty as it can.

    Finds the lowest utilization level L such that raising every node towards L (one task
    adds `share` to a node) holds n tasks, by bisection over L; ties go to the emptier node,
    then to the lower index.
    """
    alloc = np.zeros_like(caps)
    if n <= 0 or nodes.size == 0:
        return alloc
    cap = caps[nodes]
    total = int(cap.sum())
    if total <= n:
        alloc[nodes] = cap
        return alloc
    util = ctx.utilization[nodes]
    share = np.maximum(ctx.share[nodes], 1e-12)

    def level_counts(level: float) -> np.ndarray:
        return np.clip(np.floor((level - util) / share + 1e-9), 0, cap).astype(np.int64)

    lo, hi = float(util.min()), float((util + cap * share).max())
    for _ in range(60):
        mid = (lo + hi) / 2
        if level_counts(mid).sum() >= n:
            hi = mid
        else:
            lo = mid
        if hi - lo <= 1e-12 * max(1.0, hi):
            break
    base = level_counts(lo)
    extra_cap = level_counts(hi) - base
    remaining = n - int(base.sum())
    if remaining > 0:
        # Hand the last tasks to the nodes that would be emptiest after taking one.
        after = util + (base + 1) * share
        order = np.lexsort((np.arange(nodes.size), after))
        base += fill_in_order(extra_cap, remaining, order)
    alloc[nodes] = base
    return alloc


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
        order = np.lexsort((np.arange(caps.size), -ctx.utilization))
        alloc += fill_in_order(rest, left, order)
    return alloc


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
