"""Who is offered next: Dominant Resource Fairness across frameworks.

A framework's dominant share is its largest share of any cluster resource (tasks running
plus offers outstanding). The allocator offers each agent to the eligible framework with
the lowest dominant share, so a framework using lots of memory does not starve one that
mostly needs CPU. Ties go to the framework that registered first, then by id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from offers.resource_vector import Resources

SCALARS = ("cpus", "mem", "disk")


def dominant_share(allocated: Resources, total: Resources) -> float:
    shares = [getattr(allocated, r) / getattr(total, r)
              for r in SCALARS if getattr(total, r) > 0]
    return max(shares, default=0.0)


def pick_next(candidates: Iterable[str], allocated: Mapping[str, Resources],
              total: Resources, order: Mapping[str, float]) -> str | None:
    """The candidate with the lowest dominant share, or None when there is none."""
    best, best_key = None, None
    for fid in candidates:
        key = (dominant_share(allocated.get(fid, Resources()), total), order.get(fid, 0.0), fid)
        if best_key is None or key < best_key:
            best, best_key = fid, key
    return best
