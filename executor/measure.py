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
