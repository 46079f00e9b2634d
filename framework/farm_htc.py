"""ConPaaS's HTC service on a farm: from the samples, `throughput = f(cost)`: for each
pool of workers (nodes of each type, as many as there are) the tasks it finishes per
hour in the steady state and the money it costs per hour; the cheapest pool reaching a
target throughput; and the samples grown by what finished runs measured, so the function
is re-estimated as the farm works.

Steady state: a lane (one of a node's `slots`) finishes one task per mean lane time of
its type (runtime and launch overhead, as sampled), so a pool's throughput is
`sum(nodes x slots x 3600 / mean)`. Start-up delays are paid once per bag, not per hour,
and are left out. Pure: numbers in, numbers out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from framework.farm_schedules import pools
from framework.farms import SECONDS_PER_HOUR, BadFarmInput, Bag, Farm, NodeType, split
from offers.pareto import pareto_front
from offers.problems import FieldProblem

MAX_MEASURED = 2000  # runtimes kept per node type: the newest, so old ones age out


@dataclass(frozen=True)
class Configuration:
    """A pool of workers, its throughput (tasks/hour) and its cost (money/hour)."""

    pool: dict[str, int]
    throughput: float
    cost: float
    front: bool = False

    def as_json(self) -> dict:
        return {"pool": dict(self.pool), "throughput": self.throughput,
                "cost": self.cost, "pareto": self.front}


class NoConfiguration(Exception):
    """No pool reaches the target; `best` is the pool with the most throughput."""

    def __init__(self, message: str, best: Configuration | None) -> None:
        super().__init__(message)
        self.best = best


def rate(pool: Mapping[str, int], means: Mapping[str, float], slots: int) -> float:
    """Tasks per hour of a pool: every lane busy, one task per mean lane time."""
    return sum(n * slots * SECONDS_PER_HOUR / max(means[t], 1e-9)
               for t, n in pool.items() if n > 0)


def throughput_function(samples: Mapping[str, Sequence[float]],
                        nodetypes: Mapping[str, NodeType], slots: int = 1
                        ) -> list[Configuration]:
    """`throughput = f(cost)`: every pool of the sampled node types, cheapest first (then
    the most throughput), marked when on the front (no other pool both cheaper and
    faster); along the front throughput grows with cost."""
    usable = {n: t for n, t in nodetypes.items() if samples.get(n)}
    means = {n: sum(samples[n]) / len(samples[n]) for n in usable}
    found = sorted(((p, rate(p, means, slots),
                     sum(c * usable[t].price for t, c in p.items())) for p in pools(usable)),
                   key=lambda f: (f[2], -f[1], sorted(f[0].items())))
    front = set(pareto_front([(-thr, cost) for _, thr, cost in found]))
    return [Configuration(pool, round(thr, 6), round(cost, 6), i in front)
            for i, (pool, thr, cost) in enumerate(found)]


def for_target(function: Sequence[Configuration], target: float) -> Configuration:
    """The cheapest pool whose throughput is at least `target` tasks/hour (of equal
    cost, the one with the most throughput). NoConfiguration naming the best there is
    when none reaches it."""
    if not function:
        raise NoConfiguration("no throughput function: the farm has no samples yet", None)
    fits = [c for c in function if c.throughput >= target]
    if fits:
        return min(fits, key=lambda c: (c.cost, -c.throughput))
    best = max(function, key=lambda c: (c.throughput, -c.cost))
    raise NoConfiguration(
        f"no pool reaches {target:g} tasks/hour; the most there is: "
        f"{describe(best)}", best)


def for_pool(function: Sequence[Configuration], pool: Mapping[str, int],
             nodetypes: Mapping[str, NodeType]) -> Configuration:
    """The configuration of a pool given by hand (ConPaaS's `create_worker` and
    `remove_worker`: the pool itself rather than a target). BadFarmInput naming
    `pool.TYPE` for a node type the farm has no samples of, or a count below 0 or above
    the nodes of that type; `pool` when it has no node at all."""
    problems = []
    for name, count in sorted(pool.items()):
        if name not in nodetypes:
            problems.append(FieldProblem(f"pool.{name}"[:80], "is not a node type of the "
                                         f"farm ({', '.join(sorted(nodetypes))})"))
        elif not isinstance(count, int) or isinstance(count, bool) \
                or not 0 <= count <= nodetypes[name].nodes:
            problems.append(FieldProblem(f"pool.{name}", f"must be a whole number within "
                                         f"0-{nodetypes[name].nodes} (its nodes)"))
    wanted = {t: n for t, n in pool.items() if n}
    if not problems and not wanted:
        problems.append(FieldProblem("pool", "has no node: name at least one"))
    if not problems:
        for c in function:
            if {t: n for t, n in c.pool.items() if n} == wanted:
                return c
        problems.append(FieldProblem("pool", "uses a node type without samples"))
    raise BadFarmInput("invalid pool", problems)


def describe(c: Configuration) -> str:
    pool = ", ".join(f"{n} x{k}" for n, k in sorted(c.pool.items()) if k)
    return f"{pool}: {c.throughput:.1f} tasks/hour for {c.cost:.4f}/hour"


def learn(samples: Mapping[str, Sequence[float]],
          measured: Mapping[str, Sequence[float]]) -> dict[str, tuple[float, ...]]:
    """The samples with a finished run's measured lane times joined, the newest
    `MAX_MEASURED` per type kept."""
    joined = {t: tuple(v) for t, v in samples.items()}
    for nodetype, values in measured.items():
        if values:
            joined[nodetype] = (joined.get(nodetype, ()) + tuple(values))[-MAX_MEASURED:]
    return joined


def new_bag(number: int, commands: Sequence[str], configuration: Mapping[str, int],
            samples: Mapping[str, Sequence[float]], slots: int, now: float) -> Bag:
    """A bag added on the current configuration: its tasks split over the pool's node
    types by their throughput (as the samples say now)."""
    pool = {t: n for t, n in configuration.items() if n > 0}
    means = {t: sum(samples[t]) / len(samples[t]) for t in pool}
    return Bag(number, tuple(commands), pool, split(pool, slots, means, len(commands)), now)


def throughput_answer(farm: Farm, target: float | None = None) -> dict:
    """What `GET /v1/farms/{id}/throughput` answers (and the demo prints): the function,
    the most there is, the selected target and pool, and with `target` the cheapest pool
    reaching it (NoConfiguration when none does)."""
    function = throughput_function(farm.samples, farm.nodetypes, farm.slots)
    answer = {"farm": farm.id, "function": [c.as_json() for c in function],
              "max_throughput": max((c.throughput for c in function), default=0.0),
              "target": farm.target, "configuration": dict(farm.configuration) or None}
    if target is not None:
        answer["for_target"] = {"target": target, **for_target(function, target).as_json()}
    return answer
