"""Why a task is not placed, in words a person can act on, with the counts behind it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from offers.cluster import ClusterState
from offers.filters import EPSILON, PortBook, nodetype_mask
from offers.resources import RESOURCES, UNITS


@dataclass(frozen=True)
class Reason:
    code: str  # stable, for counting: "nodetype", "port-taken", "insufficient-mem", ...
    message: str  # for people: what is missing and where the best candidate falls short


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


def explain_unplaced(
    cluster: ClusterState,
    free: np.ndarray,
    demand: np.ndarray,
    code: int | None,
    nodetype: str | None,
    ports: tuple[int, ...],
    book: PortBook,
) -> Reason:
    """The reason a task of this class found no node, after the class was placed."""
    n = cluster.size
    if n == 0:
        return Reason("no-nodes", "no nodes to place on")
    typed = nodetype_mask(cluster, code)
    mismatched = n - int(typed.sum())
    if not typed.any():
        return Reason("nodetype", f"no node with nodetype={nodetype}")

    port_ok = np.ones(n, dtype=bool)
    for p in ports:
        offered = book.offered[p] & typed
        if not offered.any():
            return Reason("port-not-offered",
                          f"host port {p} is outside the port range of every eligible node")
        ok = offered & ~book.taken[p]
        if not ok.any():
            return Reason("port-taken", f"host port {p} is taken on every eligible node")
        port_ok &= book.offered[p] & ~book.taken[p]
    candidates = typed & port_ok
    if not candidates.any():
        return Reason("port-taken",
                      f"host ports {', '.join(map(str, ports))} are not all free on any "
                      "eligible node")

    short = (free[candidates] + EPSILON) < demand[None, :]
    counts = short.sum(axis=0)
    parts = [f"{int(c)} insufficient {RESOURCES[r]}" for r, c in enumerate(counts) if c]
    if mismatched:
        parts.append(f"{mismatched} nodetype mismatch")
    if ports and (typed & ~port_ok).any():
        parts.append(f"{int((typed & ~port_ok).sum())} port taken")
    tally = f" [0/{n} nodes: {', '.join(parts)}]" if parts else ""

    binding = int(np.argmax(counts))
    if counts[binding] == int(candidates.sum()):
        # Every candidate lacks this resource: name the best one.
        rows = np.flatnonzero(candidates)
        best = rows[int(np.argmax(free[rows, binding]))]
        return Reason(
            f"insufficient-{RESOURCES[binding]}",
            f"needs {need(binding, demand[binding])}; the largest free on an eligible node is "
            f"{amount(binding, max(float(free[best, binding]), 0.0)).split()[0]} "
            f"({cluster.hostnames[best]}){tally}",
        )
    return Reason("resources",
                  "no eligible node has "
                  + ", ".join(need(r, demand[r]) for r in range(len(demand)) if demand[r] > 0)
                  + f" free at once{tally}")


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
