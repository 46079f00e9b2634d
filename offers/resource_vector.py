"""Resource vectors with host-port ranges: what an agent has, spares, and what is offered.

Scalars compare with a small tolerance so float sums of many tasks do not leave a
negative crumb that blocks an offer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from offers.resources import PortRanges, format_port_ranges, parse_port_ranges

EPSILON = 1e-6


def _merge(ranges: Iterable[tuple[int, int]]) -> PortRanges:
    ranges = sorted(ranges)
    if len(ranges) < 2:  # nothing to merge (most resources have no ports or one range)
        return tuple((lo, hi) for lo, hi in ranges)
    out: list[tuple[int, int]] = []
    for lo, hi in ranges:
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return tuple(out)


def ports_union(a: PortRanges, b: PortRanges) -> PortRanges:
    return _merge((*a, *b))


def ports_minus(a: PortRanges, b: PortRanges) -> PortRanges:
    """The ports of `a` that are not in `b`."""
    if not b or not a:
        return _merge(a)
    out: list[tuple[int, int]] = []
    b = _merge(b)
    for lo, hi in _merge(a):
        cur = lo
        for blo, bhi in b:
            if bhi < cur or blo > hi:
                continue
            if blo > cur:
                out.append((cur, blo - 1))
            cur = max(cur, bhi + 1)
            if cur > hi:
                break
        if cur <= hi:
            out.append((cur, hi))
    return tuple(out)


def ports_intersect(a: PortRanges, b: PortRanges) -> PortRanges:
    return ports_minus(a, ports_minus(a, b))


def ports_contain(outer: PortRanges, inner: PortRanges) -> bool:
    return not ports_minus(inner, outer)


def ports_count(ranges: PortRanges) -> int:
    return sum(hi - lo + 1 for lo, hi in ranges)


def ports_of(ports: Iterable[int]) -> PortRanges:
    return _merge((p, p) for p in ports)


@dataclass(frozen=True)
class Resources:
    cpus: float = 0.0
    mem: float = 0.0  # MiB
    disk: float = 0.0  # MiB
    ports: PortRanges = ()

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.cpus + other.cpus, self.mem + other.mem, self.disk + other.disk,
                         ports_union(self.ports, other.ports))

    def __sub__(self, other: Resources) -> Resources:
        """What is left of self after taking other; never below zero."""
        return Resources(max(0.0, self.cpus - other.cpus), max(0.0, self.mem - other.mem),
                         max(0.0, self.disk - other.disk), ports_minus(self.ports, other.ports))

    def contains(self, other: Resources) -> bool:
        return (other.cpus <= self.cpus + EPSILON and other.mem <= self.mem + EPSILON
                and other.disk <= self.disk + EPSILON
                and ports_contain(self.ports, other.ports))

    def meet(self, other: Resources) -> Resources:
        """The element-wise minimum (the part both agree is there)."""
        return Resources(min(self.cpus, other.cpus), min(self.mem, other.mem),
                         min(self.disk, other.disk), ports_intersect(self.ports, other.ports))

    def shortfall(self, other: Resources) -> list[str]:
        """Why `other` does not fit in self, one phrase per resource."""
        out = []
        for name in ("cpus", "mem", "disk"):
            need, have = getattr(other, name), getattr(self, name)
            if need > have + EPSILON:
                out.append(f"{name} {need:g} > {have:g} offered")
        missing = ports_minus(other.ports, self.ports)
        if missing:
            out.append(f"ports {format_port_ranges(missing)} not offered")
        return out

    @property
    def empty(self) -> bool:
        return self.cpus <= EPSILON and self.mem <= EPSILON and self.disk <= EPSILON \
            and not self.ports

    def to_json(self) -> dict[str, Any]:
        return {"cpus": round(self.cpus, 6), "mem": round(self.mem, 6),
                "disk": round(self.disk, 6), "ports": format_port_ranges(self.ports)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Resources:
        """From the agent link's `{"cpus", "mem", "disk", "ports": "31000-31499"}`.

        Raises ValueError naming the field.
        """
        values = {}
        for name in ("cpus", "mem", "disk"):
            raw = data.get(name, 0)
            try:
                value = None if isinstance(raw, bool) or not isinstance(raw, int | float) \
                    else float(raw)
            except OverflowError:  # an integer longer than any float
                value = None
            if value is None or not 0 <= value < float("inf"):
                shown = repr(raw) if len(repr(raw)) <= 40 else repr(raw)[:40] + "..."
                raise ValueError(f"{name}: must be a finite number >= 0, not {shown}")
            values[name] = value
        ports = data.get("ports") or ()
        try:
            port_ranges = parse_port_ranges(ports) if ports else ()
        except (ValueError, TypeError) as exc:
            raise ValueError(f"ports: {exc}") from None
        return cls(ports=_merge(port_ranges), **values)
