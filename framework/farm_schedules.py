"""A farm's schedules, decided offline by simulating its execution from its samples
(ConPaaS's TaskFarming: "based on the sampled runtimes, provides the user with a list of
schedules"). Here, beside the framework, because its API answers with them; the demo
mode's execution is the simulator's (simulator/farm_demo.py).

For each feasible pool (how many nodes of each type, at most the nodes there are) the
rest of the bag is split over the pool's types (framework.farms.split) and each type's
share run greedily on its nodes' slots, many times over (all replications at once, as
arrays): every replication first
resamples the samples (bootstrap: the samples are themselves a sample) and then draws
each task's runtime from them. The makespans give the expected makespan and its
interval; the cost is the pool's price over that makespan. Pure: numbers in, numbers
out, the seed given.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from framework.farms import NodeType, pool_cost, split
from offers.pareto import pareto_front

REPLICATIONS = 200
LEVEL = 0.95  # the interval's coverage
MAX_POOLS = 2000
TAIL_WAVES = 32


@dataclass(frozen=True)
class Spread:
    mean: float
    low: float
    high: float

    def as_json(self) -> dict[str, float]:
        return {"mean": self.mean, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class Schedule:
    """One choice: the pool, the tasks each type runs, makespan (s) and cost."""

    index: int
    pool: dict[str, int]
    shares: dict[str, int]
    makespan: Spread
    cost: Spread
    front: bool

    def as_json(self) -> dict:
        return {"index": self.index, "pool": dict(self.pool), "shares": dict(self.shares),
                "makespan": self.makespan.as_json(), "cost": self.cost.as_json(),
                "pareto": self.front}


class NoSchedule(Exception):
    """No schedule meets the budget or deadline; names the cheapest and the fastest."""


def lanes_makespan(runtimes: Sequence[float], lanes: int) -> float:
    """The makespan of tasks taken in order by `lanes` workers, each taking the next
    task when it is free (a batch job with that parallelism)."""
    if len(runtimes) == 0 or lanes <= 0:
        return 0.0
    if lanes >= len(runtimes):
        return float(max(runtimes))
    free = [0.0] * lanes
    for r in runtimes:
        heapq.heapreplace(free, free[0] + float(r))
    return max(free)


def lanes_makespans(runtimes: np.ndarray, lanes: int) -> np.ndarray:
    """`lanes_makespan` of every row of `runtimes` (replications x tasks) at once.

    Past `TAIL_WAVES` tasks per lane the greedy filling keeps the lanes within one task
    of each other, so the tasks before the last `TAIL_WAVES` waves are taken as spread
    evenly (their sum over the lanes) and only the tail is replayed: the answer is then
    within a task's runtime of the exact one, and a bag of 100,000 tasks takes no longer
    than one of a few hundred."""
    if runtimes.shape[1] == 0 or lanes <= 0:
        return np.zeros(runtimes.shape[0])
    if lanes >= runtimes.shape[1]:
        return runtimes.max(axis=1)
    free = np.zeros((runtimes.shape[0], lanes))
    rows = np.arange(runtimes.shape[0])
    bulk = max(0, runtimes.shape[1] - TAIL_WAVES * lanes)
    if bulk:
        free += runtimes[:, :bulk].sum(axis=1, keepdims=True) / lanes
    for k in range(bulk, runtimes.shape[1]):
        lane = free.argmin(axis=1)
        free[rows, lane] += runtimes[:, k]
    return free.max(axis=1)


def pools(nodetypes: Mapping[str, NodeType]) -> list[dict[str, int]]:
    """Every pool with at least one node, at most the nodes of each type there are."""
    names = sorted(nodetypes)
    ranges = [range(nodetypes[n].nodes + 1) for n in names]
    found = [dict(zip(names, counts, strict=True)) for counts in itertools.product(*ranges)
             if any(counts)]
    return found[:MAX_POOLS]


def _spread(values: np.ndarray, level: float) -> Spread:
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return Spread(float(values.mean()), float(low), float(high))


def schedules(samples: Mapping[str, Sequence[float]], nodetypes: Mapping[str, NodeType],
              tasks: int, slots: int = 1, seed: int = 0,
              replications: int = REPLICATIONS, level: float = LEVEL,
              startup: Mapping[str, float] | None = None) -> list[Schedule]:
    """The schedules for `tasks` more tasks, cheapest first (then fastest), each with its
    index and whether it is on the Pareto front of mean makespan against mean cost. Only
    node types with samples are used; `startup`: per type, the delay before its first
    task starts (measured while sampling)."""
    usable = {n: t for n, t in nodetypes.items() if samples.get(n)}
    arrays = {n: np.asarray(samples[n], dtype=float) for n in usable}
    means = {n: float(a.mean()) for n, a in arrays.items()}
    prices = {n: t.price for n, t in usable.items()}
    found = []
    for number, pool in enumerate(pools(usable)):
        shares = split(pool, slots, means, tasks)
        rng = np.random.default_rng([seed, number])
        makespans = np.zeros(replications)
        for nodetype, count in sorted(shares.items()):
            if count > 0:
                sample = arrays[nodetype]
                boot = sample[rng.integers(0, len(sample), (replications, len(sample)))]
                drawn = np.take_along_axis(
                    boot, rng.integers(0, len(sample), (replications, count)), axis=1)
                makespans = np.maximum(makespans, (startup or {}).get(nodetype, 0.0)
                                       + lanes_makespans(drawn, pool[nodetype] * slots))
        costs = np.array([pool_cost(pool, prices, m) for m in makespans])
        found.append((pool, shares, _spread(makespans, level), _spread(costs, level)))
    found.sort(key=lambda f: (f[3].mean, f[2].mean, sorted(f[0].items())))
    front = set(pareto_front([(f[2].mean, f[3].mean) for f in found]))
    return [Schedule(i, pool, shares, m, c, i in front)
            for i, (pool, shares, m, c) in enumerate(found)]


def _pool(pool: Mapping[str, int]) -> str:
    return ", ".join(f"{t} x{n}" for t, n in sorted(pool.items()) if n)


def _describe(s: Schedule) -> str:
    return (f"#{s.index} ({_pool(s.pool)}): makespan {s.makespan.mean:.1f} s "
            f"[{s.makespan.low:.1f}, {s.makespan.high:.1f}], cost {s.cost.mean:.4f} "
            f"[{s.cost.low:.4f}, {s.cost.high:.4f}]")


def choose(found: Sequence[Schedule], *, index: int | None = None,
           budget: float | None = None, deadline: float | None = None,
           pool: Mapping[str, int] | None = None) -> Schedule:
    """The schedule asked for: by index; the fastest whose cost's upper bound is within
    `budget`; the cheapest whose makespan's upper bound is within `deadline` (s); or the
    one on `pool` (HTC's `submit`: the configuration `select` chose). NoSchedule when
    none is, naming the cheapest and the fastest there are."""
    if not found:
        raise NoSchedule("no schedules: the farm has no samples yet")
    if pool is not None:
        wanted = {t: n for t, n in pool.items() if n > 0}
        for schedule in found:
            if {t: n for t, n in schedule.pool.items() if n > 0} == wanted:
                return schedule
        raise NoSchedule(f"no schedule runs on {_pool(pool) or 'an empty pool'}: the "
                         "farm's node types or their nodes changed since it was chosen")
    if index is not None:
        if not 0 <= index < len(found):
            raise IndexError(f"no schedule {index}: there are {len(found)} (0-"
                             f"{len(found) - 1})")
        return found[index]
    cheapest = min(found, key=lambda s: (s.cost.mean, s.makespan.mean))
    fastest = min(found, key=lambda s: (s.makespan.mean, s.cost.mean))
    if budget is not None:
        fits = [s for s in found if s.cost.high <= budget]
        if fits:
            return min(fits, key=lambda s: (s.makespan.mean, s.cost.mean))
        raise NoSchedule(f"no schedule costs at most {budget:g} (upper bound of its "
                         f"cost); the cheapest is {_describe(cheapest)}; the fastest is "
                         f"{_describe(fastest)}")
    if deadline is not None:
        fits = [s for s in found if s.makespan.high <= deadline]
        if fits:
            return min(fits, key=lambda s: (s.cost.mean, s.makespan.mean))
        raise NoSchedule(f"no schedule finishes within {deadline:g} s (upper bound of "
                         f"its makespan); the cheapest is {_describe(cheapest)}; the "
                         f"fastest is {_describe(fastest)}")
    raise ValueError("say which schedule: an index, a budget or a deadline")


def forecast_of(schedule: Schedule) -> dict[str, float]:
    return {"index": schedule.index, "makespan": schedule.makespan.mean,
            "makespan_low": schedule.makespan.low, "makespan_high": schedule.makespan.high,
            "cost": schedule.cost.mean, "cost_low": schedule.cost.low,
            "cost_high": schedule.cost.high}
