"""What a node can spare for berth: Jisto's incumbent/secondary split, as plain arithmetic.

The node's own programs (incumbent load) come first. berth's containers (secondary work)
get what is left: spare = total - incumbent - allocated to berth tasks - headroom, where
incumbent = what the node uses minus what berth's containers use. Pure: measurements come
in as numbers (executor/measure.py takes them with psutil), so this is tested without a
machine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from offers.amounts import ZERO, Amounts  # re-exported: the agent's numbers
from offers.resources import (
    RESOURCES,
    PortRanges,
    format_port_ranges,
    parse_port_ranges,
)


@dataclass(frozen=True)
class ResourceLimits:
    """What `--resources` says: caps on each scalar (None = as measured) and the host ports."""

    cpus: float | None = None
    mem: float | None = None
    disk: float | None = None
    ports: PortRanges = ((31000, 32000),)  # offers.resources.DEFAULT_PORTS

    def cap(self, measured: Amounts) -> Amounts:
        """The measured amounts, each lowered to its limit where one is given."""
        limits = (self.cpus, self.mem, self.disk)
        return Amounts(*(v if lim is None else min(v, lim) for v, lim in
                         zip(measured.as_tuple(), limits, strict=True)))


_ITEM = re.compile(r"^\s*([a-z]+)\s*:\s*(.+?)\s*$")


def parse_resources(text: str | None) -> ResourceLimits:
    """Parse `"cpus:4;mem:8192;disk:100000;ports:[31000-31499]"` (Mesos's --resources form).

    Any item may be left out. Raises ValueError naming the bad item.
    """
    limits = ResourceLimits()
    if not text:
        return limits
    for item in filter(None, (p.strip() for p in text.split(";"))):
        m = _ITEM.match(item)
        if not m:
            raise ValueError(f"{item!r} is not name:value (e.g. cpus:4;mem:8192)")
        name, value = m.groups()
        if name == "ports":
            limits = replace(limits, ports=parse_port_ranges(value))
        elif name in RESOURCES:
            limits = replace(limits, **{name: _non_negative(name, value)})
        else:
            raise ValueError(f"{name!r} is not a resource; use cpus, mem, disk or ports")
    return limits


def parse_amounts(text: str | None) -> Amounts:
    """Parse a headroom such as `"cpus:0.5;mem:512"` (missing items are 0)."""
    values = {}
    for item in filter(None, (p.strip() for p in (text or "").split(";"))):
        m = _ITEM.match(item)
        if not m or m.group(1) not in RESOURCES:
            raise ValueError(f"{item!r} is not cpus:N, mem:MiB or disk:MiB")
        values[m.group(1)] = _non_negative(m.group(1), m.group(2))
    return Amounts(**values)


def _non_negative(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not a number") from None
    if not number >= 0 or number == float("inf"):
        raise ValueError(f"{name}: {value!r} must be a finite number >= 0")
    return number


@dataclass(frozen=True)
class NodeSample:
    """One look at the machine: its size and how much of it is in use right now."""

    machine: Amounts  # the whole machine
    used: Amounts  # by everything on it, berth's containers included


@dataclass(frozen=True)
class Capacity:
    """What an agent tells the master: its total and its spare resources and ports."""

    total: Amounts
    spare: Amounts
    ports: PortRanges  # the agent's host port ranges
    spare_ports: PortRanges  # those not taken by berth's tasks here
    incumbent: Amounts = ZERO
    revocable: Amounts = ZERO  # taken back from elastic tasks: for elastic work only

    def total_json(self) -> dict:
        return {**self.total.as_dict(), "ports": format_port_ranges(self.ports)}

    def spare_json(self) -> dict:
        return {**self.spare.as_dict(), "ports": format_port_ranges(self.spare_ports)}


def agent_total(machine: Amounts, limits: ResourceLimits) -> Amounts:
    """The agent's total: the machine, capped by `--resources`."""
    return limits.cap(machine)


def incumbent_share(sample: NodeSample, berth_used: Amounts, total: Amounts) -> Amounts:
    """Incumbent load charged to this agent.

    incumbent = node usage - berth containers' usage (never below 0). An agent capped to a
    part of the machine (several agents sharing one host) is charged the same part of it,
    so N agents on one host together subtract the incumbent load once, not N times.
    """
    raw = (sample.used - berth_used).clamp(ZERO, sample.machine)
    share = [t / m if m > 0 else 0.0 for t, m in
             zip(total.as_tuple(), sample.machine.as_tuple(), strict=True)]
    return Amounts(*(v * min(s, 1.0) for v, s in zip(raw.as_tuple(), share, strict=True)))


def spare_capacity(total: Amounts, incumbent: Amounts, allocated: Amounts,
                   headroom: Amounts) -> Amounts:
    """spare = total - incumbent - allocated - headroom, each resource clamped to [0, total]."""
    return (total - incumbent - allocated - headroom).clamp(ZERO, total)


class Smoother:
    """Exponential moving average of the incumbent load, so one busy second does not make
    the agent rescind and re-offer (flapping). `alpha` is the weight of the newest sample.
    """

    def __init__(self, alpha: float = 0.3):
        if not 0 < alpha <= 1:
            raise ValueError("alpha must be in (0, 1]")
        self.alpha = alpha
        self.value: Amounts | None = None

    def update(self, sample: Amounts) -> Amounts:
        if self.value is None:
            self.value = sample
        else:
            a = self.alpha
            self.value = Amounts(*(a * s + (1 - a) * v for s, v in
                                   zip(sample.as_tuple(), self.value.as_tuple(), strict=True)))
        return self.value


@dataclass(frozen=True)
class ChangeThreshold:
    """How far spare must move before it is worth a CAPACITY message (hysteresis)."""

    cpus: float = 0.1
    mem: float = 64.0
    disk: float = 256.0

    def changed(self, old: Capacity | None, new: Capacity) -> bool:
        if old is None or old.total != new.total or old.spare_ports != new.spare_ports:
            return True
        steps = (self.cpus, self.mem, self.disk)
        return any(abs(a - b) >= step for a, b, step in
                   zip(old.spare.as_tuple(), new.spare.as_tuple(), steps, strict=True))
