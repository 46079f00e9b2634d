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

    def allowance(self, k: int, n: int) -> tuple[np.ndarray, np.ndarray, int]:
        """How many more instances each value of field k may take when n are placed:
        (each value's share, then at most one more on each value of `extra`, `more` of
        those in all). Only GROUP_BY has the second part: its values are raised to a
        common level, and what does not divide evenly goes one each to values at it."""
        c, counts = self.constraints[k], self.counts[k]
        none = np.zeros_like(counts)
        if c.operator is Operator.UNIQUE:
            return np.maximum(1 - counts, 0), none, 0
        if c.operator is Operator.MAX_PER:
            return np.maximum(c.count - counts, 0), none, 0
        if not counts.size:
            return counts, none, 0
        # No value above ceil(all / values), counting values no node here has (GROUP_BY n).
        values = max(counts.size + len(self.outside_values[k]), c.count or 1)
        cap = math.ceil((int(counts.sum()) + self.outside[k] + n) / values)
        lo, hi = int(counts.min()), int(counts.min()) + n
        while lo < hi:  # the highest level the n instances raise every value to
            mid = (lo + hi + 1) // 2
            if int(np.maximum(mid - counts, 0).sum()) <= n:
                lo = mid
            else:
                hi = mid - 1
        level = min(lo, cap)
        share = np.maximum(level - counts, 0)
        extra = ((counts <= level) & (level + 1 <= cap)).astype(np.int64)
        return share, extra, n - int(share.sum())

    def node_allowance(self, k: int, n: int) -> np.ndarray:
        """`allowance` read per node (share, plus the extra one if any is to be had): 0 on
        nodes without the field."""
        share, extra, more = self.allowance(k, n)
        allow = share + extra if more > 0 else share
        return np.append(allow, 0)[self.codes[k]]

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
    it allows (lowest node index first), and fill again on the values still open; then
    GROUP_BY's remainder, one more on each of some values at the common level."""
    parts = [group.allowance(k, n) for k in range(len(group.constraints))]
    allow = [share for share, _, _ in parts]
    total = _fill_within(caps, n, fill, group.codes, allow)
    more = [m for _, _, m in parts if m > 0]
    left = n - int(total.sum())
    if left > 0 and more:
        allow = [extra if m > 0 else a for (_, extra, m), a in zip(parts, allow, strict=True)]
        total += _fill_within(caps - total, min(left, *more), fill, group.codes, allow)
    return total


def _fill_within(caps: np.ndarray, n: int, fill: Callable[[np.ndarray, int], np.ndarray],
                 codes: list[np.ndarray], allow: list[np.ndarray]) -> np.ndarray:
    """Up to n tasks, no value of field k beyond `allow[k]` (which it lowers)."""
    total = np.zeros_like(caps)
    left = n
    while left > 0:
        room = caps - total
        for k, field_codes in enumerate(codes):
            room = np.minimum(room, np.append(allow[k], 0)[field_codes])
        if not room.any():
            break
        alloc = fill(room, left)
        trimmed = False
        for k, field_codes in enumerate(codes):
            trimmed |= _trim(alloc, field_codes, allow[k])
        for k, field_codes in enumerate(codes):
            nodes = np.flatnonzero(alloc)
            allow[k] -= np.bincount(field_codes[nodes], weights=alloc[nodes],
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
