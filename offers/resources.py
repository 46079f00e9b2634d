"""Resource names and host-port ranges, the vocabulary shared by agents, offers and tasks."""

from __future__ import annotations

import re
from collections.abc import Collection

# Scalar resources, in the column order of every resource array in berth.
RESOURCES: tuple[str, ...] = ("cpus", "mem", "disk")
UNITS = {"cpus": "cpus", "mem": "MiB", "disk": "MiB"}
CPUS, MEM, DISK = range(3)

DEFAULT_PORTS = "31000-32000"

_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+))?\s*$")

PortRanges = tuple[tuple[int, int], ...]


def parse_port_ranges(text: str | list | tuple) -> PortRanges:
    """Parse `"31000-32000,33000"`, `"[31000-31499]"` or `[[31000, 32000]]` into sorted ranges.

    Raises ValueError naming the bad piece, whatever the JSON given (an agent sends it).
    """
    if isinstance(text, list | tuple):
        pairs = []
        for item in text:
            if isinstance(item, list | tuple) and len(item) == 2:
                pairs.append((_port(item[0]), _port(item[1])))
            else:
                pairs.extend(parse_port_ranges(str(item)))
    elif not isinstance(text, str):
        raise ValueError(f"{type(text).__name__} is not a port range like 31000-32000 "
                         "or a list of [begin, end]")
    else:
        body = text.strip().removeprefix("[").removesuffix("]")
        pairs = []
        for piece in filter(None, (p.strip() for p in body.split(","))):
            m = _RANGE.match(piece)
            if not m:
                raise ValueError(f"{piece!r} is not a port or a port range like 31000-32000")
            lo = int(m.group(1))
            pairs.append((lo, int(m.group(2)) if m.group(2) else lo))
    for lo, hi in pairs:
        if not (1 <= lo <= hi <= 65535):
            raise ValueError(f"port range {lo}-{hi} must lie within 1-65535 with begin <= end")
    return tuple(sorted(pairs))


def _port(value: object) -> int:
    """A port of a `[begin, end]` pair: a whole number, or its digits as a string."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value)
    raise ValueError(f"{value!r} is not a port number")


def format_port_ranges(ranges: PortRanges) -> str:
    return ",".join(f"{lo}-{hi}" if hi != lo else str(lo) for lo, hi in ranges)


def port_in_ranges(port: int, ranges: PortRanges) -> bool:
    return any(lo <= port <= hi for lo, hi in ranges)


def free_ports(ranges: PortRanges, taken: Collection[int]) -> PortRanges:
    """The port ranges with the taken ports cut out."""
    out: list[tuple[int, int]] = []
    for lo, hi in ranges:
        start = lo
        for port in sorted(p for p in taken if lo <= p <= hi):
            if port > start:
                out.append((start, port - 1))
            start = port + 1
        if start <= hi:
            out.append((start, hi))
    return tuple(out)
