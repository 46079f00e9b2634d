"""The framework's autoscaler in the simulator: the same book (framework/autoscale_book.py)
and decision (framework/autoscaling.py) the framework process runs, on the virtual clock,
with readings from an in-memory metric source fed by the simulated metering.

Every tick each running instance of an autoscaled job reports `cpu` and `mem` (what it
uses, within its limits) and the job's own curves (`metrics` on its workload line: the
job's total at that time, shared by its running instances), tagged with the job,
namespace and instance as the framework's metrics store tags them. A change is carried
out as `JobScaled`, the event `JobOperations.scale` hands the scheduler live.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from framework import events as ev
from framework.autoscale_book import AutoscaleBook, scale_size
from framework.autoscaling import Decision, combine, fetch
from framework.scheduler import Scheduler
from offers.autoscale import Combination
from offers.states import TaskState
from simulator.agents import SimAgents
from simulator.inputs import JobItem

Curve = tuple[tuple[float, float], ...]


class SimMetrics:
    """Samples by (name, job): time-ordered `(t, instance, value)`; a MetricSource."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str], tuple[list[float], list[tuple[str, float]]]] = {}

    def record(self, name: str, job: str, instance: str, t: float, value: float) -> None:
        times, rows = self._series.setdefault((name, job), ([], []))
        times.append(t)
        rows.append((instance, value))

    def aggregate(self, name: str, *, tags: dict[str, str], start: float, end: float,
                  agg: str) -> float | None:
        series = self._series.get((name, tags.get("job", "")))
        if series is None:
            return None
        times, rows = series
        lo, hi = bisect.bisect_left(times, start), bisect.bisect_left(times, end)
        instance = tags.get("instance")
        values = [v for i, v in rows[lo:hi] if instance is None or i == instance]
        if not values:
            return None
        if agg == "last":
            return values[-1]
        return combine(Combination(agg), values)


def level(curve: Curve, t: float) -> float:
    """A step curve's value at `t` (its first value before its first point)."""
    i = bisect.bisect_right([p[0] for p in curve], t) - 1
    return curve[max(i, 0)][1]


@dataclass
class ScaledJob:
    """What the autoscaler did with one job over the run."""

    decisions: int = 0
    changes: list[Decision] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)  # the desired count at each decision


class SimAutoscaler:
    def __init__(self, scheduler: Scheduler, agents: SimAgents,
                 to_framework: Callable[[object], None], clock: Callable[[], float],
                 workload: Sequence[object]) -> None:
        self.scheduler = scheduler
        self.agents = agents
        self.to_framework = to_framework
        self.clock = clock
        self.book = AutoscaleBook()
        self.metrics = SimMetrics()
        self.curves: dict[str, tuple[tuple[str, Curve], ...]] = {
            item.name: item.metrics for item in workload
            if isinstance(item, JobItem) and item.metrics}
        self.jobs: dict[str, ScaledJob] = {}

    def tick(self) -> None:
        """Meter the autoscaled jobs, then evaluate those due (as the framework's tick)."""
        now = self.clock()
        book = self.book
        jobs = book.autoscaled(self.scheduler.jobs())
        book.forget(book.gone(jobs))
        for job in jobs.values():
            self._meter(job, now)
        for job in book.due_jobs(jobs, now):
            subject = book.subject(job, now)
            decision = book.decide(job, subject, fetch(self.metrics, book.wanted(job, subject)))
            book.keep(decision)
            book.evaluated(job, now)
            seen = self.jobs.setdefault(job.id, ScaledJob())
            seen.decisions += 1
            seen.counts.append(decision.desired)
            if decision.changed:
                seen.changes.append(decision)
                self.to_framework(ev.JobScaled(job.id, decision.desired, (),
                                               scale_size(decision)))

    def _meter(self, job, now: float) -> None:
        running = [t for t in job.by_state.get(TaskState.RUNNING, ())
                   if t in self.agents.instances]
        if not running:
            return
        record = self.metrics.record
        curves = self.curves.get(job.id, ())
        shares = {name: level(curve, now) / len(running) for name, curve in curves}
        for task_id in running:
            inst = self.agents.instances[task_id]
            cpus, mem = inst.used
            if "cpu" in shares:
                cpus = min(shares["cpu"], inst.demand[0])
            record("cpu", job.id, task_id, now, cpus)
            record("mem", job.id, task_id, now, mem)
            for name, value in shares.items():
                if name != "cpu":
                    record(name, job.id, task_id, now, value)

    def report(self) -> dict[str, dict]:
        """Per job: decisions, changes (with their reasons) and the counts it went through."""
        out = {}
        for name in sorted(self.jobs):
            seen = self.jobs[name]
            out[name] = {
                "decisions": seen.decisions,
                "changes": len(seen.changes),
                "scale_ups": sum(d.desired > d.current for d in seen.changes),
                "scale_downs": sum(d.desired < d.current for d in seen.changes),
                "min_count": min(seen.counts, default=None),
                "max_count": max(seen.counts, default=None),
                "changed": [{"at": d.at, "from": d.current, "to": d.desired,
                             "reason": d.reason} for d in seen.changes],
            }
        return out
