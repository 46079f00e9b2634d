"""Google's task (instance) life cycles, shared by the 2011 and 2019 readers: a task's
events in time order become one berth task per *run to its end*.

A chain opens at a task's SUBMIT (or, with no SUBMIT seen, its SCHEDULE) and closes at
FINISH, FAIL or KILL: those end the work itself. EVICT and LOST end only a run (Borg took
the machine away, or lost track): the task's next SUBMIT continues the same chain, so one
berth task stands for the work, submitted when it was first submitted. Its duration is its
last run (SCHEDULE to the event that ended it): what it needs without interruption; a
chain that never ran is left out. A chain still open when the window closes runs past
the end (duration None). A task submitted again after it ended is a new berth task with
`.1`, `.2`, ... after its id. Requests and priority are the last the chain announced.
"""

from __future__ import annotations

from enum import IntEnum

from simulator.traces.common import Scale
from simulator.traces.workload import Trace


class Step(IntEnum):
    """What an event does to a chain (each trace's event types map onto these)."""

    SUBMIT = 0
    SCHEDULE = 1
    INTERRUPT = 2  # EVICT, LOST: the run ends, the work does not
    END = 3  # FINISH, FAIL, KILL
    UPDATE = 4  # UPDATE_PENDING, UPDATE_RUNNING, QUEUE, ENABLE


class _Chain:
    __slots__ = ("cpus", "last_run", "line", "mem", "priority", "run_start", "submit")

    def __init__(self, submit: float, line: int) -> None:
        self.submit = submit
        self.run_start: float | None = None
        self.last_run: float | None = None
        self.cpus: float | None = None
        self.mem: float | None = None
        self.priority = 0
        self.line = line


class Chains:
    """Feed events (per task in time order); finished chains are added to the trace."""

    def __init__(self, trace: Trace, scale: Scale, kind_prefix: str) -> None:
        self.trace = trace
        self.scale = scale
        self.prefix = kind_prefix
        self.open: dict[tuple[int, int], _Chain] = {}
        self.ended: dict[tuple[int, int], int] = {}  # chains already ended, per task

    def feed(self, key: tuple[int, int], t: float, step: Step, cpus: float | None,
             mem: float | None, priority: int | None, line: int) -> None:
        chain = self.open.get(key)
        if chain is None:
            if step not in (Step.SUBMIT, Step.SCHEDULE):
                return  # the end of work that started before the window: nothing to run
            chain = self.open[key] = _Chain(t, line)
        if cpus is not None:
            chain.cpus = cpus
        if mem is not None:
            chain.mem = mem
        if priority is not None:
            chain.priority = priority
        if step is Step.SCHEDULE:
            chain.run_start = t
        elif step is Step.INTERRUPT:
            if chain.run_start is not None:
                chain.last_run = t - chain.run_start
                chain.run_start = None
                self.trace.count("runs interrupted (evicted or lost), resubmitted as one")
        elif step is Step.END:
            del self.open[key]
            ran = t - chain.run_start if chain.run_start is not None else chain.last_run
            if ran is None:
                self.trace.count("left out: ended without running")
                return
            self._emit(key, chain, ran)

    def close(self) -> None:
        """The window closed: every open chain runs (or waits) past its end."""
        for key, chain in self.open.items():
            self._emit(key, chain, None)
        self.open.clear()

    def _emit(self, key: tuple[int, int], chain: _Chain, duration: float | None) -> None:
        if chain.cpus is None or chain.mem is None:
            self.trace.count("left out: no resource request")
            return
        n = self.ended.get(key, 0)
        self.ended[key] = n + 1
        job, index = key
        task_id = f"{job}-{index}" + (f".{n}" if n else "")
        self.trace.workload.add(
            task_id, chain.submit, duration, chain.cpus * self.scale.cpus,
            chain.mem * self.scale.mem, chain.priority, (f"{self.prefix}{job}",),
            line=chain.line)
