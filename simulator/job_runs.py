"""What the simulated world did with each submitted job, and the per-job report built from it.

A `JobRun` is the agents' side of one job line: every instance launched gets its own
`ItemState` (its duration and the exit code it will end with, drawn from the job's own
seeded generator, so one job's outcomes do not depend on the rest of the workload), and
the run counts what actually ran and how it ended. The phase and restarts come from the
framework's job; what ran and exited, from the agents: a scheduler that reran a succeeded
index would show more successes than `completions`.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from framework.scheduler import Scheduler
from offers.job import JobType
from offers.task import SLA, TaskSpec
from simulator.agents import ItemState, SimAgents
from simulator.inputs import JobItem, WorkItem

FAILED_EXIT = 1
MARKDOWN_ROWS = 50


@dataclass(slots=True, eq=False)
class JobRun:
    item: JobItem
    index: int  # position in submission order
    rng: random.Random
    first_run: float | None = None
    ended_at: float | None = None  # when the framework's phase became complete or failed
    started: int = 0
    succeeded: int = 0  # instances that exited 0
    failed: int = 0  # instances that exited non-zero

    @classmethod
    def of(cls, item: JobItem, index: int, seed: int) -> JobRun:
        return cls(item, index, random.Random(f"{seed}:{item.name}"))

    def instance(self, spec: TaskSpec) -> ItemState:
        """The state of one launched instance of `spec` (the framework's instance spec)."""
        item = self.item
        if item.spec.type is JobType.SYSTEM and spec.sla is not SLA.ONE_PER_NODE:
            spec = spec.model_copy(update={"sla": SLA.ONE_PER_NODE})  # as the checker sees it
        fails = item.fail_rate > 0 and self.rng.random() < item.fail_rate
        return ItemState(WorkItem(spec, item.submit_at, item.duration, item.used, item.line),
                         self.index, first_run=self.first_run, job=self,
                         exit_code=FAILED_EXIT if fails else 0)

    def launched(self, state: ItemState) -> None:
        self.started += 1
        if self.first_run is None:
            self.first_run = state.first_run

    def exited(self, code: int) -> None:
        if code:
            self.failed += 1
        else:
            self.succeeded += 1


def job_report(agents: SimAgents, scheduler: Scheduler) -> dict[str, Any]:
    """Per-job results in submission order and their aggregates."""
    runs = sorted((run for run in agents.jobs.values() if isinstance(run, JobRun)),
                  key=lambda run: run.index)
    running = Counter(inst.state.job for inst in agents.instances.values()
                      if inst.state.job is not None)
    rows = []
    for run in runs:
        name = run.item.name
        job = scheduler.job(name)
        submitted = run.item.submit_at
        rows.append({
            "name": name,
            "type": str(run.item.spec.type),
            "phase": str(job.phase) if job is not None else "unknown",
            "reason": job.phase_reason if job is not None else None,
            "submitted_at": submitted,
            "completion_s": None if run.ended_at is None else round(run.ended_at - submitted, 3),
            "instances_started": run.started,
            "restarts": job.restarts if job is not None else 0,
            "succeeded": run.succeeded,
            "failed": run.failed,
            "running_at_end": running[run],
        })
    phases = Counter(row["phase"] for row in rows)
    makespans = np.array([row["completion_s"] for row in rows if row["phase"] == "complete"
                          and row["completion_s"] is not None], dtype=np.float64)

    def pct(q: float) -> float | None:
        return round(float(np.percentile(makespans, q)), 3) if makespans.size else None

    return {
        "count": len(rows),
        "complete": phases["complete"],
        "failed": phases["failed"],
        "by_phase": dict(sorted(phases.items())),
        "makespan_s": {"count": int(makespans.size), "p50": pct(50), "p99": pct(99),
                       "max": pct(100)},
        "instances_started": sum(row["instances_started"] for row in rows),
        "restarts": sum(row["restarts"] for row in rows),
        "per_job": rows,
    }


def jobs_markdown(summary: dict[str, Any]) -> str:
    """The report.md section on jobs; empty when the workload had none."""
    jobs = summary.get("jobs")
    if not jobs:
        return ""
    m = jobs["makespan_s"]
    rows = "".join(
        f"| {r['name']} | {r['type']} | {r['phase']} | {r['submitted_at']:g} | "
        f"{'' if r['completion_s'] is None else r['completion_s']} | "
        f"{r['instances_started']} | {r['restarts']} | {r['succeeded']} | {r['failed']} |\n"
        for r in jobs["per_job"][:MARKDOWN_ROWS])
    more = len(jobs["per_job"]) - MARKDOWN_ROWS
    tail = f"\n{more} more jobs in `summary.json`.\n" if more > 0 else ""
    return f"""
## Jobs

{jobs['count']} jobs: {jobs['complete']} complete, {jobs['failed']} failed
({', '.join(f'{k} {v}' for k, v in jobs['by_phase'].items())}). Makespan of the complete
ones (submission to complete) p50 / p99 / max: {m['p50']} / {m['p99']} / {m['max']} s;
{jobs['instances_started']} instances started, {jobs['restarts']} restarts.

| job | type | phase | submitted (s) | completion (s) | started | restarts | succeeded | failed |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
{rows}{tail}"""
