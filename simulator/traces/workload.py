"""A trace's tasks as a few columns of numbers, turned into `WorkItem`s only when the
simulator asks for them (in submission order), and its machines as berth nodes.

One row may stand for several identical tasks (an Alibaba task's instances): the rows
are kept once and item k finds its row by the running count.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from offers.cluster import NodeSpec
from offers.task import MAX_CPUS, MAX_MEM_MIB, MIN_CPUS, MIN_MEM_MIB, TaskSpec, parse_task
from simulator.inputs import WorkItem

MIN_DURATION = 1.0  # seconds: a task the trace saw start and end at once still runs


def task_cpus(cpus: float) -> float:
    """A request in cores, within what a berth task may ask for (the trace's zero and
    tiny requests become the smallest Docker can run)."""
    return min(max(cpus, MIN_CPUS), MAX_CPUS)


def task_mem(mem: float) -> float:
    """A request in MiB, within what a berth task may ask for."""
    return min(max(mem, MIN_MEM_MIB), MAX_MEM_MIB)


class TraceWorkload:
    """A `Sequence[WorkItem]` built from appended rows; call `done()` before reading."""

    def __init__(self, image: str) -> None:
        self.image = image
        self._base = parse_task({"id": "template", "dockerimage": image})
        self._ids: list[str] = []
        self._kinds: dict[tuple[str, ...], int] = {}
        self._kind_list: list[tuple[str, ...]] = []
        self._kind = array("q")
        self._floats = {name: array("d") for name in
                        ("submit", "duration", "cpus", "mem", "used_cpus", "used_mem")}
        self._priority = array("q")
        self._count = array("q")
        self._line = array("q")
        self._order: np.ndarray | None = None
        self._ends: np.ndarray | None = None

    def add(self, task_id: str, submit_at: float, duration: float | None, cpus: float,
            mem: float, priority: int = 0, kind: tuple[str, ...] = (),
            used: tuple[float, float] | None = None, count: int = 1, line: int = 0) -> None:
        """One row: `count` tasks (ids `task_id.0`, ... when more than one), sizes in cores
        and MiB (clamped to what berth accepts), duration None: runs past the window."""
        f = self._floats
        self._ids.append(task_id)
        f["submit"].append(max(submit_at, 0.0))
        f["duration"].append(math.nan if duration is None else max(duration, MIN_DURATION))
        f["cpus"].append(task_cpus(cpus))
        f["mem"].append(task_mem(mem))
        f["used_cpus"].append(math.nan if used is None else max(used[0], 0.0))
        f["used_mem"].append(math.nan if used is None else max(used[1], 0.0))
        self._priority.append(priority)
        code = self._kinds.get(kind)
        if code is None:
            code = self._kinds[kind] = len(self._kind_list)
            self._kind_list.append(kind)
        self._kind.append(code)
        self._count.append(count)
        self._line.append(line)

    @property
    def rows(self) -> int:
        return len(self._ids)

    def done(self) -> TraceWorkload:
        """Fix the submission order (stable: equal times keep the trace's order)."""
        submit = np.array(self._floats["submit"], dtype=np.float64)
        self._order = np.argsort(submit, kind="stable")
        counts = np.array(self._count, dtype=np.int64)
        self._ends = np.cumsum(counts[self._order])
        return self

    def __len__(self) -> int:
        if self._ends is None:
            self.done()
        return int(self._ends[-1]) if len(self._ends) else 0

    def __getitem__(self, k: int) -> WorkItem:
        n = len(self)
        if k < 0:
            k += n
        if not 0 <= k < n:
            raise IndexError(k)
        position = int(np.searchsorted(self._ends, k, side="right"))
        first = int(self._ends[position - 1]) if position else 0
        row = int(self._order[position])
        f = self._floats
        count = self._count[row]
        task_id = self._ids[row] if count == 1 else f"{self._ids[row]}.{k - first}"
        spec: TaskSpec = self._base.model_copy(update={
            "id": task_id, "cpus": f["cpus"][row], "mem": f["mem"][row],
            "priority": self._priority[row], "arguments": self._kind_list[self._kind[row]]})
        duration = f["duration"][row]
        used_cpus = f["used_cpus"][row]
        used = None if math.isnan(used_cpus) else (used_cpus, f["used_mem"][row])
        return WorkItem(spec, f["submit"][row], None if math.isnan(duration) else duration,
                        used, self._line[row])

    def __iter__(self) -> Iterator[WorkItem]:
        return (self[k] for k in range(len(self)))


@dataclass
class Trace:
    """What a reader made of a trace: the workload, the nodes (None: the trace has no
    machine table, the cluster comes from elsewhere) and counts of what it left out."""

    workload: TraceWorkload | list[WorkItem]  # a list: berth's own history (--replay-from)
    nodes: list[NodeSpec] | None
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    def summary(self) -> str:
        machines = "" if self.nodes is None else f", {len(self.nodes)} machines"
        rest = "; ".join(f"{k}: {v}" for k, v in sorted(self.counts.items()))
        return f"{len(self.workload)} tasks{machines}" + (f" ({rest})" if rest else "")


class Machines:
    """A trace's machines, each as a node with the last capacity the window saw for it.

    berth's simulated cluster does not change shape, so a machine that was in the cell
    at any moment of the window is a node for all of it (its removals are counted)."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self._seen: dict[str, tuple[float | None, float | None, dict[str, str]]] = {}

    def seen(self, hostname: str, cpus: float | None, mem: float | None,
             attributes: dict[str, str] | None = None) -> None:
        """An addition or update: sizes in cores and MiB (None: not given this time)."""
        old_cpus, old_mem, old_attributes = self._seen.get(hostname, (None, None, {}))
        self._seen[hostname] = (old_cpus if cpus is None else cpus,
                                old_mem if mem is None else mem,
                                {**old_attributes, **(attributes or {})})

    def removed(self) -> None:
        self.trace.count("machine removals (not simulated: the node stays)")

    def nodes(self) -> list[NodeSpec]:
        out = []
        for hostname, (cpus, mem, attributes) in self._seen.items():
            if cpus is None or mem is None:
                self.trace.count("left out: machines without a capacity")
                continue
            out.append(NodeSpec(hostname=hostname, cpus=min(cpus, 1e6), mem=min(mem, 1e12),
                                attributes=attributes))
        return out
