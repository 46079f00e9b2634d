"""A namespace's limits: quotas on what it may hold at once and an optional credit budget.

ConPaaS's credits: one credit is one hour of one unit of capacity (default 1 cpu and
1 GiB); an instance counts as many units as its largest share of the unit (a 2-cpu,
1-GiB task is 2 units). Quotas are Kubernetes' ResourceQuota for berth: placement never
takes a namespace beyond them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Quota:
    """Limits on a namespace's live work; None: unlimited."""

    cpus: float | None = None
    mem: float | None = None
    instances: int | None = None
    jobs: int | None = None

    def problems(self) -> list[tuple[str, str]]:
        """(field, problem) for every limit that cannot be one."""
        out = []
        for name in ("cpus", "mem", "instances", "jobs"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                out.append((name, f"must be a number >= 0, not {value}"))
        return out


@dataclass(frozen=True)
class Namespace:
    name: str
    quota: Quota
    credits: float | None  # the balance; None: no budget
    created_at: float


@dataclass(frozen=True)
class CreditUnit:
    cpus: float = 1.0
    mem: float = 1024.0

    def units(self, cpus: float, mem: float) -> float:
        return max(cpus / self.cpus, mem / self.mem)
