"""What a run measured: one row per interval, pending times, packing, reshuffle effects."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simulator.nodes import SimNodes

INTERVAL_COLUMNS = (
    "time", "nodes_up", "nodes_used", "cpus_total", "mem_total", "incumbent_cpus",
    "incumbent_mem", "requested_cpus", "requested_mem", "used_cpus", "used_mem",
    "util_requested_cpus", "util_requested_mem", "util_used_cpus", "util_used_mem",
    "running_tasks", "pending_tasks", "submitted", "finished", "lost",
    "packing_cpus", "packing_mem",
)


@dataclass
class Reshuffle:
    at: float
    nodes_used_before: int
    requested_cpus_before: float
    requested_mem_before: float
    kills_before: int
    nodes_used_after: int = 0
    requested_cpus_after: float = 0.0
    requested_mem_after: float = 0.0
    tasks_moved: int = 0

    def as_dict(self) -> dict:
        return {
            "at": self.at, "tasks_moved": self.tasks_moved,
            "nodes_used_before": self.nodes_used_before,
            "nodes_used_after": self.nodes_used_after,
            "nodes_freed": self.nodes_used_before - self.nodes_used_after,
            "requested_cpus_before": round(self.requested_cpus_before, 3),
            "requested_cpus_after": round(self.requested_cpus_after, 3),
            "requested_mem_before": round(self.requested_mem_before, 3),
            "requested_mem_after": round(self.requested_mem_after, 3),
        }


@dataclass
class Recorder:
    nodes: SimNodes
    tasks: int
    rows: list[tuple] = field(default_factory=list)
    pending_time: np.ndarray = field(init=False)
    packing: np.ndarray | None = None  # per-node requested cpus share at the busiest sample
    packing_at: float = 0.0
    reshuffles: list[Reshuffle] = field(default_factory=list)
    _peak: float = -1.0

    def __post_init__(self) -> None:
        self.pending_time = np.full(self.tasks, np.nan)

    def nodes_used(self) -> int:
        """Nodes running any task besides one-per-node daemons (which run everywhere)."""
        return int(np.count_nonzero(self.nodes.work_count))

    def sample(self, now: float, running: int, pending: int, submitted: int, finished: int,
               lost: int) -> None:
        nodes = self.nodes
        up = nodes.up
        total = nodes.total[up].sum(axis=0)
        incumbent = nodes.incumbent[up].sum(axis=0)
        requested = nodes.allocated.sum(axis=0)
        used = nodes.used.sum(axis=0)
        share = np.divide(requested[:2], total[:2], out=np.zeros(2), where=total[:2] > 0)
        used_share = np.divide(used, total[:2], out=np.zeros(2), where=total[:2] > 0)
        # packing efficiency: what berth holds on the nodes in use / their capacity
        in_use = nodes.work_count > 0
        held = nodes.allocated[in_use, :2].sum(axis=0)
        room = nodes.total[in_use, :2].sum(axis=0)
        packing = np.divide(held, room, out=np.zeros(2), where=room > 0)
        self.rows.append((
            now, int(up.sum()), self.nodes_used(), total[0], total[1], incumbent[0],
            incumbent[1], requested[0], requested[1], used[0], used[1], share[0], share[1],
            used_share[0], used_share[1], running, pending, submitted, finished, lost,
            packing[0], packing[1]))
        if requested[0] > self._peak:
            self._peak = float(requested[0])
            cap = np.where(nodes.total[:, 0] > 0, nodes.total[:, 0], 1.0)
            self.packing = nodes.allocated[:, 0] / cap
            self.packing_at = now

    def column(self, name: str) -> np.ndarray:
        i = INTERVAL_COLUMNS.index(name)
        return np.array([row[i] for row in self.rows], dtype=np.float64)
