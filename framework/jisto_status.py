"""A Jisto job as its users read it (`GET /v1/job/{uuid}`, Jisto's Manage Jobs page):
UUID, name, state, created on, number of nodes, tasks finished / running / left, progress.

Before it runs it is its draft; once run, every count is read off its berth job (the
scheduler's job and instance views), never kept twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from framework.jobs import Job
from framework.records import HELD, TaskRecord
from offers.jisto import JistoJob
from offers.job import Phase

STATES = {Phase.PENDING: "Pending", Phase.RUNNING: "Running", Phase.COMPLETE: "Finished",
          Phase.FAILED: "Failed", Phase.STOPPED: "Stopped"}
CREATED = "Created"  # not run yet (or its berth job was deleted by other means)
CANCELLED = "Cancelled"  # stopped by CancelJob


def jisto_state(job: JistoJob, berth: Job | None) -> str:
    if berth is None:
        return CREATED
    if berth.phase is Phase.STOPPED and job.op == "CancelJob":
        return CANCELLED
    return STATES[berth.phase]


def jisto_document(job: JistoJob, berth: Job | None,
                   instances: Iterable[TaskRecord] = ()) -> dict[str, Any]:
    """The job's row of Manage Jobs plus its tasks (env names only: values are where
    secrets go)."""
    if berth is None:
        total, finished, running, nodes = job.iterations, 0, 0, 0
    else:
        total = berth.desired()
        finished = sum(1 for slot in berth.slots.values() if slot.done)
        running = sum(len(berth.by_state.get(state, ())) for state in HELD)
        nodes = len({r.hostname for r in instances if r.hostname})
    return {
        "UUID": job.uuid,
        "Name": job.name,
        "State": jisto_state(job, berth),
        "CreatedOn": datetime.fromtimestamp(job.created_at, UTC).isoformat(
            timespec="seconds").replace("+00:00", "Z"),
        "Nodes": nodes,
        "TasksFinished": finished,
        "TasksRunning": running,
        "TasksLeft": max(total - finished - running, 0),
        "Progress": 100 * finished // total if total else 0,
        "Iterations": total,
        "Namespace": job.namespace,
        "Job": berth.id if berth is not None else None,
        "Reason": berth.phase_reason if berth is not None else None,
        "Tasks": [{"UUID": t.uuid, "Name": t.name, "Image": t.image,
                   "Env": [name for name, _ in t.env], "Iterations": t.count}
                  for t in job.tasks],
    }
