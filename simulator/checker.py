"""An independent SLA and capacity checker: it watches what actually runs on the simulated
nodes, not what the scheduler believes, so a scheduler bug cannot hide its own violations.

Safety, checked at every launch: at most one live instance of a singleton cluster-wide,
never two instances of a one-per-node task on one node, no host port used twice on one
node, nodetype constraints honoured, no node allocated beyond its total.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from offers.task import SLA, TaskSpec

EPS = 1e-6
MAX_EXAMPLES = 20


class SLAChecker:
    def __init__(self, total: np.ndarray, nodetypes: list[str | None],
                 hostnames: list[str]) -> None:
        self.total = total
        self.nodetypes = nodetypes
        self.hostnames = hostnames
        self._limits = (np.asarray(total, dtype=np.float64) + EPS).tolist()
        self._singletons: Counter[str] = Counter()
        self._per_node: Counter[tuple[str, int]] = Counter()
        self._ports: dict[int, Counter[int]] = {}
        self.violations = 0
        self.by_kind: Counter[str] = Counter()
        self.examples: list[str] = []

    def started(self, task_id: str, spec: TaskSpec, node: int, allocated: Sequence[float],
                now: float) -> None:
        """Record a launch on `node`; `allocated` is the node's (cpus, mem, disk) after the
        launch."""
        sla = spec.sla
        if sla is SLA.SINGLETON:
            live = self._singletons[spec.id] = self._singletons[spec.id] + 1
            if live > 1:
                self._violate("singleton", now, f"{spec.id} has {live} live instances "
                              f"({task_id})")
        elif sla is SLA.ONE_PER_NODE:
            key = (spec.id, node)
            live = self._per_node[key] = self._per_node[key] + 1
            if live > 1:
                self._violate("one-per-node", now, f"{spec.id} runs "
                              f"{live} times on {self.hostnames[node]}")
        if spec.ports:
            ports = self._ports.setdefault(node, Counter())
            for port in spec.host_ports:
                ports[port] += 1
                if ports[port] > 1:
                    self._violate("port", now, f"host port {port} taken twice on "
                                  f"{self.hostnames[node]} ({task_id})")
        if spec.nodetype is not None and spec.nodetype != self.nodetypes[node]:
            self._violate("nodetype", now, f"{task_id} wants nodetype {spec.nodetype}, "
                          f"{self.hostnames[node]} is {self.nodetypes[node]}")
        cpus, mem, disk = allocated
        limit = self._limits[node]
        if cpus > limit[0] or mem > limit[1] or disk > limit[2]:
            self._violate("capacity", now, f"{self.hostnames[node]} allocated "
                          f"{[float(x) for x in allocated]} > total "
                          f"{self.total[node].tolist()}")

    def stopped(self, spec: TaskSpec, node: int) -> None:
        sla = spec.sla
        if sla is SLA.SINGLETON:
            self._singletons[spec.id] -= 1
        elif sla is SLA.ONE_PER_NODE:
            self._per_node[(spec.id, node)] -= 1
        if spec.ports:
            ports = self._ports[node]
            for port in spec.host_ports:
                ports[port] -= 1

    def _violate(self, kind: str, now: float, what: str) -> None:
        self.violations += 1
        self.by_kind[kind] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"t={now:.1f}s {kind}: {what}")
