"""An in-memory metric source for the autoscaler's tests: the MetricSource protocol of
framework/autoscaling.py over a list of samples (the real metrics store implements the
same protocol)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class InMemoryMetrics:
    """Samples `(name, tags, at, value)`; a query matches the samples whose tags include
    its own, in `start < at <= end`."""

    samples: list[tuple[str, dict[str, str], float, float]] = field(default_factory=list)
    asked: int = 0

    def record(self, name: str, value: float, at: float, **tags: str) -> None:
        self.samples.append((name, dict(tags), at, value))

    def aggregate(self, name: str, *, tags: dict[str, str], start: float, end: float,
                  agg: str) -> float | None:
        self.asked += 1
        found = sorted((at, value) for n, t, at, value in self.samples
                       if n == name and start < at <= end and tags.items() <= t.items())
        if not found:
            return None
        values = [value for _at, value in found]
        return {"mean": lambda: math.fsum(values) / len(values), "max": lambda: max(values),
                "min": lambda: min(values), "sum": lambda: math.fsum(values),
                "last": lambda: values[-1]}[agg]()
