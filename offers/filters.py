"""Feasibility filters: which nodes could take one more task of a class.

Each filter is a small function over the cluster arrays returning a boolean mask [N].
Cheap filters first; the placement core combines them and, when a task stays unplaced,
asks them again to count who said no and why.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from offers.cluster import ClusterState

EPSILON = 1e-9  # float slack so that 0.1 + 0.2 cpus still fit into 0.3
UNBOUNDED = np.iinfo(np.int64).max // 4  # how many tasks that need nothing a node holds


def nodetype_mask(cluster: ClusterState, code: int | None) -> np.ndarray:
    """Nodes of the wanted nodetype (all nodes when the task names none)."""
    if code is None:
        return np.ones(cluster.size, dtype=bool)
    return cluster.nodetype == code


def fit_counts(free: np.ndarray, demand: np.ndarray) -> np.ndarray:
    """How many tasks of this demand each node can still hold, by every resource at once."""
    return fit_matrix(free, demand[None, :])[0]


def fit_matrix(free: np.ndarray, demands: np.ndarray) -> np.ndarray:
    """`fit_counts` for many demands at once: row c of the [C, N] result is how many tasks
    of demand c each node can hold (resources a demand does not need do not limit it)."""
    need = demands > 0  # (NaN is not > 0: a NaN demand limits nothing, like 0)
    least = np.full((demands.shape[0], free.shape[0]), np.inf)
    # A tiny demand (5e-324 MiB) or a huge free amount makes the quotient infinite; that is
    # fine here, since it is clipped below before becoming an integer.
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        for r in range(demands.shape[1]):  # resource by resource: contiguous [C, N] arrays
            rows = np.flatnonzero(need[:, r])
            if rows.size:
                per = (free[:, r] + EPSILON)[None, :] / demands[rows, r][:, None]
                least[rows] = np.minimum(least[rows], per)
    counts = np.floor(least)
    # Clip before casting: an infinite or huge float cast to int64 is INT64_MIN, a negative
    # count that numpy refuses to repeat by. No node holds more than UNBOUNDED tasks, and a
    # NaN (free NaN) holds none.
    counts = np.nan_to_num(counts, nan=0.0, posinf=float(UNBOUNDED), neginf=0.0, copy=False)
    counts = np.clip(counts, 0.0, float(UNBOUNDED), out=counts).astype(np.int64)
    counts = np.minimum(counts, UNBOUNDED, out=counts)  # float(UNBOUNDED) rounds up
    counts[~need.any(axis=1)] = UNBOUNDED
    return counts


class PortBook:
    """Host-port occupancy for the ports a batch asks for: one mask [N] per port.

    Only ports some task in the batch names are tracked, so the cost is independent of
    how wide the nodes' port ranges are.
    """

    def __init__(self, cluster: ClusterState, ports: Iterable[int]):
        self._cluster = cluster
        ports = sorted(set(ports))
        n = cluster.size
        self.offered: dict[int, np.ndarray] = {}
        self.taken: dict[int, np.ndarray] = {}
        if not ports:
            return
        # Most clusters give every node the same ranges: evaluate each distinct set once.
        by_ranges: dict[tuple, list[int]] = {}
        for i, ranges in enumerate(cluster.port_ranges):
            by_ranges.setdefault(ranges, []).append(i)
        for p in ports:
            offered = np.zeros(n, dtype=bool)
            for ranges, rows in by_ranges.items():
                if any(lo <= p <= hi for lo, hi in ranges):
                    offered[rows] = True
            self.offered[p] = offered
            self.taken[p] = np.zeros(n, dtype=bool)
        wanted = set(ports)
        for i, used in enumerate(cluster.used_ports):
            for p in used & wanted:
                self.taken[p][i] = True

    def free_mask(self, ports: tuple[int, ...]) -> np.ndarray:
        """Nodes where every one of `ports` is offered and not yet taken."""
        mask = np.ones(self._cluster.size, dtype=bool)
        for p in ports:
            mask &= self.offered[p] & ~self.taken[p]
        return mask

    def take(self, ports: tuple[int, ...], nodes: np.ndarray) -> None:
        for p in ports:
            self.taken[p][nodes] = True
