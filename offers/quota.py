"""A namespace's limits, as data every role shares: a quota on what it may hold at once
(Kubernetes' ResourceQuota for berth) and the unit its credits are counted in.

ConPaaS's credits: one credit is one hour of one unit of capacity (default 1 cpu and
1 GiB); an instance counts as many units as its largest share of the unit (a 2-cpu,
1-GiB task is 2 units).
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
            if value is not None and (isinstance(value, bool) or not math.isfinite(value)
                                      or value < 0):
                out.append((name, f"must be a number >= 0, not {value}"))
        return out

    @property
    def limits_work(self) -> bool:
        return self.cpus is not None or self.mem is not None or self.instances is not None


@dataclass(frozen=True)
class CreditUnit:
    cpus: float = 1.0
    mem: float = 1024.0

    def units(self, cpus: float, mem: float) -> float:
        return max(cpus / self.cpus, mem / self.mem)
