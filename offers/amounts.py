"""cpus (cores), mem (MiB), disk (MiB) as plain numbers: what the agent measures and the
elasticity arithmetic (offers/elasticity.py) works in, on the agent and in the simulator."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Amounts:
    """cpus (cores), mem (MiB), disk (MiB)."""

    cpus: float = 0.0
    mem: float = 0.0
    disk: float = 0.0

    def __add__(self, other: Amounts) -> Amounts:
        return Amounts(self.cpus + other.cpus, self.mem + other.mem, self.disk + other.disk)

    def __sub__(self, other: Amounts) -> Amounts:
        return Amounts(self.cpus - other.cpus, self.mem - other.mem, self.disk - other.disk)

    def clamp(self, low: Amounts, high: Amounts) -> Amounts:
        return Amounts(*(min(max(v, lo), hi) for v, lo, hi in
                         zip(self.as_tuple(), low.as_tuple(), high.as_tuple(), strict=True)))

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.cpus, self.mem, self.disk)

    def as_dict(self) -> dict[str, float]:
        return {"cpus": round(self.cpus, 3), "mem": round(self.mem, 1),
                "disk": round(self.disk, 1)}


ZERO = Amounts()
