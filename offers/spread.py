"""Constraints that count instances: UNIQUE, MAX_PER, GROUP_BY (and one-per-node).

Their answer depends on where the group already runs, so they work from counts of the
group's instances per value of the constrained field: those that run already (`Running`)
plus those the batch placed. A class is still placed in one vectorized pass; when several
nodes share a value (a rack), the pass is trimmed to what each value allows and repeated
for what is left, at most once per value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

import numpy as np

from offers.cluster import HOSTNAME, ClusterState
from offers.constraints import Constraint, Operator


@dataclass(frozen=True)
class Running:
    """Where a group already runs: instances per hostname, and the attributes of hosts the
    cluster being placed on may not hold (agents not offered in this round)."""

    hosts: Mapping[str, int]
    attributes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, value: Running | Mapping[str, int] | Collection[str] | None) -> Running | None:
        """`place`'s `running` values: a Running, hostname -> instances, or hostnames."""
        if value is None or isinstance(value, Running):
            return value
        if isinstance(value, Mapping):
            return cls({h: int(n) for h, n in value.items()})
        return cls(dict.fromkeys(value, 1))


class GroupCounts:
    """Instances of one group per value of each counted field (codes of `cluster.column`);
    instances on values no node of the cluster has are kept as a total."""

    def __init__(self, cluster: ClusterState, constraints: tuple[Constraint, ...],
                 running: Running | None) -> None:
        self.constraints = constraints
        self.codes = [cluster.column(c.field).codes for c in constraints]
        self.counts = [np.zeros(len(cluster.column(c.field).values), dtype=np.int64)
                       for c in constraints]
        self.outside = [0] * len(constraints)
        self.outside_values: list[set[str]] = [set() for _ in constraints]
        if running is None:
            return
        index = cluster.host_index()
        for k, c in enumerate(constraints):
            column = cluster.column(c.field)
            for host, n in running.hosts.items():
                row = index.get(host)
                if row is not None:
                    code = int(column.codes[row])
                else:
                    value = host if c.field == HOSTNAME else \
                        running.attributes.get(host, {}).get(c.field)
                    code = -1 if value is None else column.code(value)
                    if value is not None and code < 0:
                        self.outside_values[k].add(value)
                if code >= 0:
                    self.counts[k][code] += n
                elif row is None:
                    self.outside[k] += n

    def copy(self) -> GroupCounts:
        other = object.__new__(GroupCounts)
        other.constraints, other.codes = self.constraints, self.codes
        other.counts = [c.copy() for c in self.counts]
        other.outside = list(self.outside)
        other.outside_values = [set(v) for v in self.outside_values]
        return other

    def allowance(self, k: int, n: int) -> np.ndarray:
        """How many more instances each value of field k may take when n are placed."""
        c, counts = self.constraints[k], self.counts[k]
        if c.operator is Operator.UNIQUE:
            allow = 1 - counts
        elif c.operator is Operator.MAX_PER:
            allow = c.count - counts
        else:  # GROUP_BY: every value raised to the same level, at most one apart
            values = max(counts.size + len(self.outside_values[k]), c.count or 1)
            level = math.ceil((int(counts.sum()) + self.outside[k] + n) / values)
            allow = level - counts
        return np.maximum(allow, 0)

    def node_allowance(self, k: int, n: int) -> np.ndarray:
        """`allowance` read per node: 0 on nodes without the field."""
        return np.append(self.allowance(k, n), 0)[self.codes[k]]

    def room_mask(self, n: int = 1) -> np.ndarray:
        """Nodes where the group may take one more instance."""
        mask = None
        for k in range(len(self.constraints)):
            ok = self.node_allowance(k, n) > 0
            mask = ok if mask is None else mask & ok
        return mask

    def first_full(self) -> list[np.ndarray]:
        """Per constraint, nodes it refuses one more instance on."""
        return [self.node_allowance(k, 1) <= 0 for k in range(len(self.constraints))]

    def add(self, nodes: np.ndarray, counts: np.ndarray) -> None:
        for k, codes in enumerate(self.codes):
            np.add.at(self.counts[k], codes[nodes], counts)


def spread_fill(caps: np.ndarray, n: int, fill: Callable[[np.ndarray, int], np.ndarray],
                group: GroupCounts) -> np.ndarray:
    """`fill` under the group's per-value allowances: fill, trim every value back to what
    it allows (lowest node index first), and fill again on the values still open."""
    allow = [group.allowance(k, n) for k in range(len(group.constraints))]
    total = np.zeros_like(caps)
    left = n
    while left > 0:
        room = caps - total
        for k, codes in enumerate(group.codes):
            room = np.minimum(room, np.append(allow[k], 0)[codes])
        if not room.any():
            break
        alloc = fill(room, left)
        trimmed = False
        for k, codes in enumerate(group.codes):
            trimmed |= _trim(alloc, codes, allow[k])
        for k, codes in enumerate(group.codes):
            nodes = np.flatnonzero(alloc)
            allow[k] -= np.bincount(codes[nodes], weights=alloc[nodes],
                                    minlength=allow[k].size).astype(np.int64)
        total += alloc
        left -= int(alloc.sum())
        if not trimmed:
            break
    return total


def _trim(alloc: np.ndarray, codes: np.ndarray, allow: np.ndarray) -> bool:
    """Cut `alloc` (in place) so no value gets more than it allows; True if it cut."""
    nodes = np.flatnonzero(alloc)
    values = codes[nodes]
    per = np.bincount(values, weights=alloc[nodes], minlength=allow.size)
    if not (per > allow).any():
        return False
    order = np.lexsort((nodes, values))
    nodes, values, taken = nodes[order], values[order], alloc[nodes[order]]
    cum = np.cumsum(taken)
    start = np.searchsorted(values, values, side="left")  # first row of each value
    before = cum - taken - (cum[start] - taken[start])
    alloc[nodes] = np.clip(allow[values] - before, 0, taken)
    return True
