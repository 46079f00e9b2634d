"""The Pareto front (nothing else is at least as good on every objective and better on
one), for whoever chooses among outcomes: the simulator's sweeps and the framework's
farm schedules. Pure functions over plain numbers."""

from __future__ import annotations

from collections.abc import Sequence


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """`a` is no worse than `b` on every objective (lower is better) and better on one."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and \
        any(x < y for x, y in zip(a, b, strict=True))


def pareto_front(points: Sequence[Sequence[float]]) -> list[int]:
    """The indices of the points no other point dominates, in order (equal points are
    all on the front). Quadratic: a sweep has tens of points, not thousands."""
    return [i for i, p in enumerate(points)
            if not any(dominates(q, p) for j, q in enumerate(points) if j != i)]
