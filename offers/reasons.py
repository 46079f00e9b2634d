"""Why a task is not placed, in words a person can act on, with the counts behind it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from offers.cluster import ClusterState
from offers.filters import EPSILON, FILTERS, PortBook, Scene, TaskClass, fits_one_each
from offers.resources import RESOURCES, UNITS


@dataclass(frozen=True)
class Reason:
    code: str  # stable, for counting: "nodetype", "port-taken", "insufficient-mem", ...
    message: str  # for people: what is missing and where the best candidate falls short
    # (what refused, how many nodes), each node counted once; empty for one node's reason
    tally: tuple[tuple[str, int], ...] = ()


class ReasonBook:
    """Interns reasons so a million unplaced rows share a handful of objects."""

    def __init__(self) -> None:
        self._ids: dict[Reason, int] = {}

    def id(self, reason: Reason) -> int:
        return self._ids.setdefault(reason, len(self._ids))

    def reasons(self) -> tuple[Reason, ...]:
        return tuple(self._ids)


def amount(r: int, value: float) -> str:
    """`4096 MiB` or `1.5 cpus`: a size as an operator would write it."""
    text = f"{value:.0f}" if value >= 10 or float(value).is_integer() else f"{value:.2g}"
    return f"{text} {UNITS[RESOURCES[r]]}"


def need(r: int, value: float) -> str:
    unit = UNITS[RESOURCES[r]]
    return amount(r, value) if unit == RESOURCES[r] else f"{amount(r, value)} {RESOURCES[r]}"


def explain_unplaced(scene: Scene, cls: TaskClass, seen: dict | None = None) -> Reason:
    """The reason a task of this class found no node, after the class was placed.

    It asks `FILTERS`, the list the core placed with, and counts every node once, under the
    first filter that refused it (a node refused for resources under the resource it lacks
    most): the counts add up to the number of nodes.

    `seen`, kept by a caller that explains several classes over a scene that does not
    change in between, holds what does not depend on the demand, worked out once for all
    classes of one nodetype, constraints, host ports and counted group."""
    return explain_all(scene, [cls], seen)[0]


def explain_all(scene: Scene, classes: list[TaskClass], seen: dict | None = None
                ) -> list[Reason]:
    """`explain_unplaced` for each of `classes`, over one scene: classes with the same
    candidate nodes are worked out together, in arrays over classes, nodes and resources
    (a batch leaves a few classes over each round; one at a time, each cost a dozen
    numpy calls over the same nodes)."""
    if scene.cluster.size == 0:
        return [Reason("no-nodes", "no nodes to place on")] * len(classes)
    seen = {} if seen is None else seen
    out: list[Reason | None] = [None] * len(classes)
    sharing: dict[tuple, list[int]] = {}
    for i, cls in enumerate(classes):
        key = (cls.nodetype, cls.constraints, cls.ports, cls.counting,
               cls.group if cls.counting else None)
        sharing.setdefault(key, []).append(i)
    for key, members in sharing.items():
        where = seen.get(key)
        if where is None:
            where = seen[key] = _Candidates(scene, classes[members[0]])
        if where.reason is not None:
            for i in members:
                out[i] = where.reason
            continue
        step = max(EXPLAIN_CELLS // scene.cluster.size, 1)
        for first in range(0, len(members), step):
            chunk = members[first:first + step]
            demands = np.array([classes[i].demand for i in chunk], dtype=np.float64)
            for i, reason in zip(chunk, _for_resources(scene, where, demands), strict=True):
                out[i] = reason
    return out  # type: ignore[return-value]


# Classes x nodes worked out at once (each cell a few floats per resource).
EXPLAIN_CELLS = 1 << 16


def _for_resources(scene: Scene, where: _Candidates, demands: np.ndarray) -> list[Reason]:
    """The reasons of classes of these demands [C, R] that have candidate nodes `where`:
    what each lacks, counted per node, and the candidate that comes closest."""
    cluster, free = scene.cluster, scene.free
    refused = where.candidates[None, :] & ~fits_one_each(free, demands)  # [C, N]
    lacking = _lacking_each(free, demands, refused)
    # Candidates with room now: none when the core did its job.
    room_now = where.count - np.count_nonzero(refused, axis=1)
    # How many candidates fall short in each resource, per class; the most is binding.
    counts = ((where.free + EPSILON)[None, :, :] < demands[:, None, :]).sum(axis=1)
    binding = np.argmax(counts, axis=1).tolist()
    best_of = where.rows[np.argmax(where.free, axis=0)].tolist()  # per resource
    out = []
    for c, demand in enumerate(demands.tolist()):
        parts = lacking[c] + where.parts
        parts.append(("room now", int(room_now[c])))
        tally = _nonzero(parts)
        b = binding[c]
        if counts[c, b] == where.count:
            # Every candidate lacks this resource: name the best one.
            best = best_of[b]
            out.append(Reason(
                f"insufficient-{RESOURCES[b]}",
                f"needs {need(b, demand[b])}; the largest free on an eligible node is "
                f"{amount(b, max(float(free[best, b]), 0.0)).split()[0]} "
                f"({cluster.hostnames[best]}){_words(tally)}", tally))
        else:
            out.append(Reason(
                "resources",
                "no eligible node has "
                + ", ".join(need(r, demand[r]) for r in range(len(demand)) if demand[r] > 0)
                + f" free at once{_words(tally)}", tally))
    return out


class _Candidates:
    """The nodes a class may run on before resources count, with what refused the others
    (in the order the reason lists them), and the reason itself when there are none."""

    def __init__(self, scene: Scene, cls: TaskClass) -> None:
        cluster = scene.cluster
        n = cluster.size
        masks = {f.__name__: f(scene, cls)[0] for f in FILTERS[:-1]}
        ones = np.ones(n, dtype=bool)
        typed = _or(masks["nodetype_filter"], ones)
        matching = typed & _or(masks["attribute_filter"], ones)
        ported = matching & _or(masks["ports_filter"], ones)
        candidates = ported & _or(masks["instances_filter"], ones)
        self.candidates = candidates
        self.rows = np.flatnonzero(candidates)
        self.count = int(self.rows.size)
        self.free = scene.free[self.rows]
        self.parts = _refusals(scene, cls, typed, matching, ported)
        self.reason = None if self.count else _nowhere(scene, cls, typed, matching, ported,
                                                       _nonzero(self.parts))


def _nowhere(scene: Scene, cls: TaskClass, typed, matching, ported,
             tally: tuple[tuple[str, int], ...]) -> Reason:
    """The reason when no node passes the filters before resources."""
    if not typed.any():
        return Reason("nodetype", f"no node with nodetype={cls.nodetype}", tally)
    if not matching.any():
        wanted = "; ".join(f"[{c}]" for c in cls.constraints if not c.counting) or \
            "; ".join(f"a {c.field} attribute" for c in cls.constraints)
        return Reason("constraint", f"no eligible node satisfies {wanted}{_words(tally)}",
                      tally)
    book = scene.ports
    for p in cls.ports:
        offered = book.offered[p] & matching
        if not offered.any():
            return Reason("port-not-offered",
                          f"host port {p} is outside the port range of every eligible node",
                          tally)
        if not (offered & ~book.taken[p]).any():
            return Reason("port-taken", f"host port {p} is taken on every eligible node",
                          tally)
    if not ported.any():
        return Reason("port-taken",
                      f"host ports {', '.join(map(str, cls.ports))} are not all free on any "
                      "eligible node", tally)
    full = [c for c, refused in zip(cls.counting, scene.counts_of(cls).first_full(),
                                     strict=True) if (refused & ported).any()]
    first = full[0] if full else cls.counting[0]
    return Reason(f"constraint-{first.operator.lower().replace('_', '-')}",
                  f"[{first}]: no eligible node's {first.field} may take another "
                  f"instance of this group{_words(tally)}", tally)


def _or(mask: np.ndarray | None, default: np.ndarray) -> np.ndarray:
    return default if mask is None else mask


def _nonzero(parts: list[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    return tuple((label, count) for label, count in parts if count)


def _lacking_each(free: np.ndarray, demands: np.ndarray, refused: np.ndarray
                  ) -> list[list[tuple[str, int]]]:
    """Per class, (what refused, how many nodes) for its candidates refused for resources
    (`refused` [C, N]), each under the resource it lacks most: listed first, as what an
    operator can change soonest."""
    classes, resources = demands.shape
    if not np.count_nonzero(refused):
        return [[] for _ in range(classes)]
    with np.errstate(divide="ignore", invalid="ignore"):
        lack = np.where(demands[:, None, :] > 0,
                        (demands[:, None, :] - free[None, :, :]) / demands[:, None, :],
                        -np.inf)  # [C, N, R]
    most = np.argmax(lack, axis=2) + np.arange(classes)[:, None] * resources
    tally = np.bincount(most[refused], minlength=classes * resources).reshape(classes,
                                                                               resources)
    return [[(f"insufficient {RESOURCES[r]}", c) for r, c in enumerate(row) if c]
            for row in tally.tolist()]


def _refusals(scene: Scene, cls: TaskClass, typed, matching,
              ported) -> list[tuple[str, int]]:
    """(what refused, how many nodes) for the filters before resources, in order."""
    n = scene.cluster.size
    parts = [("nodetype mismatch", n - int(typed.sum()))]
    left = typed.copy()
    for c in cls.constraints:
        ok = scene.cluster.column(c.field).value_mask(c.accepts)
        label = f"no {c.field} attribute" if c.counting else f"fail {c}"
        parts.append((label, int((left & ~ok).sum())))
        left &= ok
    parts.append(("port taken", int((matching & ~ported).sum())))
    if cls.counting:
        left = ported.copy()
        for c, full in zip(cls.counting, scene.counts_of(cls).first_full(), strict=True):
            label = "already running" if c not in cls.constraints else f"fail {c}"
            parts.append((label, int((left & full).sum())))
            left &= ~full
    return parts


def _words(tally: tuple[tuple[str, int], ...]) -> str:
    if not tally:
        return ""
    n = sum(count for _, count in tally)
    return f" [0/{n} nodes: {', '.join(f'{count} {label}' for label, count in tally)}]"


def node_shortfall(cluster: ClusterState, free: np.ndarray, demand: np.ndarray,
                   ports: tuple[int, ...], book: PortBook, node: int) -> Reason:
    """Why one particular node cannot take one more task (for `one-per-node`)."""
    host = cluster.hostnames[node]
    for p in ports:
        if not book.offered[p][node]:
            return Reason("port-not-offered", f"{host}: host port {p} is not in its port range")
        if book.taken[p][node]:
            return Reason("port-taken", f"{host}: host port {p} is taken")
    for r in range(len(demand)):
        if free[node, r] + EPSILON < demand[r]:
            return Reason(f"insufficient-{RESOURCES[r]}",
                          f"{host}: needs {need(r, demand[r])}, "
                          f"{amount(r, max(float(free[node, r]), 0.0))} free")
    return Reason("resources", f"{host}: not enough free resources")
