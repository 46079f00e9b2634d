"""Looks at the machine with psutil: its size and how much of it is busy right now.

CPU use is the busy share of the CPU time that passed since the previous look, in cores,
so the first call only sets the mark (and reports 0 busy cores). Waiting for I/O and time
stolen by a hypervisor are not busy.
"""

from __future__ import annotations

import os

import psutil

from executor.capacity import Amounts, NodeSample

MIB = 1024 * 1024


class PsutilSampler:
    """`sample()` -> NodeSample for the machine this process runs on.

    `disk_path` is the file system whose size counts as the node's disk (the data dir).
    """

    def __init__(self, disk_path: str = "/"):
        self.disk_path = disk_path if os.path.exists(disk_path) else "/"
        self._last = psutil.cpu_times()
        self.io = IoRates()

    def sample(self) -> NodeSample:
        cpus = float(psutil.cpu_count(logical=True) or 1)
        now = psutil.cpu_times()
        busy_share = _busy_share(self._last, now)
        self._last = now
        memory = psutil.virtual_memory()
        disk = psutil.disk_usage(self.disk_path)
        machine = Amounts(cpus, memory.total / MIB, disk.total / MIB)
        used = Amounts(busy_share * cpus, (memory.total - memory.available) / MIB,
                       disk.used / MIB)
        return NodeSample(machine=machine, used=used)


def _busy_share(before, after) -> float:
    # Time stolen by the hypervisor is no program of this node's: not counted as busy.
    idle_fields = ("idle", "iowait", "steal")
    total = sum(after) - sum(before)
    if total <= 0:
        return 0.0
    idle = sum(getattr(after, f, 0.0) - getattr(before, f, 0.0) for f in idle_fields)
    return min(max((total - idle) / total, 0.0), 1.0)


class IoRates:
    """Network and disk bytes per second since the previous look (the first look sets
    the marks and reports nothing), from psutil's machine-wide counters."""

    def __init__(self, clock=None) -> None:
        import time

        self._clock = clock or time.monotonic
        self._last: tuple[float, tuple[float, ...]] | None = None

    def rates(self) -> dict[str, float]:
        net = psutil.net_io_counters()
        disk = psutil.disk_io_counters()
        now = (self._clock(), (float(net.bytes_recv), float(net.bytes_sent),
                               float(disk.read_bytes) if disk else 0.0,
                               float(disk.write_bytes) if disk else 0.0))
        before, self._last = self._last, now
        return counter_rates(before, now)


def counter_rates(before: tuple[float, tuple[float, ...]] | None,
                  after: tuple[float, tuple[float, ...]]) -> dict[str, float]:
    """Per-second rates of (received, sent, read, written) between two looks; a counter
    that went back (a reset) counts as 0."""
    if before is None or after[0] <= before[0]:
        return {}
    seconds = after[0] - before[0]
    names = ("node_net_in", "node_net_out", "node_disk_read", "node_disk_write")
    return {name: max(b - a, 0.0) / seconds
            for name, a, b in zip(names, before[1], after[1], strict=True)}
