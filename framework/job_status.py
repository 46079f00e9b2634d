"""A job's status as people read it (`GET /v1/jobs/{name}`, `berth job status`): its
phase, desired count, instances by state, what succeeded and failed, why instances wait.

Built from the scheduler's read-only views: no second source of truth.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from framework.autoscaling import Decision
from framework.jobs import MASTER, Job
from framework.records import TaskRecord
from framework.schedules import Run, ScheduleState
from offers.job import JobType, Phase, job_from_task
from offers.states import TaskState

S = TaskState
WAITING = "waiting for an offer"
REDACTED = "***"


def job_summary(job: Job, running: Iterable[TaskRecord] = ()) -> dict[str, Any]:
    """The short form, one row of `GET /v1/jobs`; `running` are its running instances,
    whose health checks' verdicts it counts (`healthy`, `unhealthy`)."""
    counts = Counter({state: len(ids) for state, ids in job.by_state.items() if ids})
    health = Counter(r.healthy for r in running if r.state is S.RUNNING)
    return {
        "name": job.id,
        "namespace": job.namespace,
        "type": str(job.kind),
        "phase": str(job.phase),
        "reason": job.phase_reason,
        "priority": job.priority,
        "desired": _desired(job),
        "running": counts[S.RUNNING],
        "healthy": health[True],
        "unhealthy": health[False],
        "pending": counts[S.PENDING],
        "succeeded": _succeeded(job),
        "failed": counts[S.FAILED] + counts[S.ERROR],
        "restarts": job.restarts,
        "created_at": job.created_at,
        "charmander": job.charmander,
    }


def job_document(job: Job, instances: Iterable[TaskRecord]) -> dict[str, Any]:
    """The whole status: the summary, counts by state, every instance, the spec."""
    instances = list(instances)
    doc = job_summary(job, instances)
    doc["states"] = dict(sorted(Counter(str(r.state) for r in instances).items()))
    doc["pending_instances"] = [
        {"id": r.task_id, "reason": r.reason or WAITING} for r in instances
        if r.state is S.PENDING]
    doc["steps"] = list(job.steps)
    doc["instances"] = [instance_document(r) for r in instances]
    spec = job.spec if job.spec is not None else job_from_task(job.id, job.templates[0])
    doc["spec"] = redacted(spec.to_json())
    return doc


def redacted(spec: dict[str, Any]) -> dict[str, Any]:
    """A job JSON as anyone may see it: each template's env names kept (they say what is
    configured), the values hidden (they are where secrets go), as task listings do."""
    for template in (spec.get("task"), spec.get("master"), *spec.get("tasks", ())):
        if template and template.get("env"):
            template["env"] = dict.fromkeys(template["env"], REDACTED)
    return spec


def instance_document(record: TaskRecord) -> dict[str, Any]:
    slot = record.slot
    return {
        "id": record.task_id,
        "state": str(record.state),
        "reason": record.reason,
        "host": record.hostname,
        "agent_id": record.agent_id,
        "exit_code": record.exit_code,
        "healthy": record.healthy if record.state is S.RUNNING else None,
        "index": None if slot is None or slot[0] == MASTER else slot[1],
        "role": "master" if slot is not None and slot[0] == MASTER else None,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def _desired(job: Job) -> int:
    if job.kind is JobType.SYSTEM:
        return len(job.hosts) + len(job.by_state.get(S.PENDING, ()))
    return job.desired() + (1 if job.kind is JobType.PARALLEL else 0)


def _succeeded(job: Job) -> int:
    return sum(1 for slot in job.slots.values() if slot.done)


# -- autoscaled jobs -----------------------------------------------------------------------


def decision_document(decision: Decision) -> dict[str, Any]:
    return {**decision.as_json(), "at": _instant(decision.at)}


def autoscale_status(job: Job, last: Decision | None, next_at: float | None
                     ) -> dict[str, Any] | None:
    """What a job's status shows of its autoscaler: bounds, interval, its last decision
    and when it evaluates next (None: the job is not autoscaled)."""
    policy = job.spec.autoscale if job.spec is not None else None
    if policy is None:
        return None
    size = policy.added_size()
    return {"min": policy.min, "max": policy.max, "interval": policy.every,
            "added_size": size.model_dump() if size is not None else None,
            "last_decision": decision_document(last) if last is not None else None,
            "next_evaluation": _instant(next_at)}


# -- scheduled jobs ------------------------------------------------------------------------


def scheduled_summary(state: ScheduleState, runs: Iterable[tuple[Run, Job]],
                      next_at: float) -> dict[str, Any]:
    """A scheduled job as one row of `GET /v1/jobs`: the keys of `job_summary` (its runs
    counted), phase `scheduled`, and when it fires next."""
    runs = list(runs)
    spec = state.spec
    return {
        "name": spec.name, "namespace": spec.namespace, "type": str(spec.type),
        "phase": "scheduled", "reason": None, "priority": spec.priority, "desired": 0,
        "running": sum(1 for _run, job in runs if job.phase is Phase.RUNNING),
        "pending": sum(1 for _run, job in runs if job.phase is Phase.PENDING),
        "succeeded": sum(1 for _run, job in runs if job.phase is Phase.COMPLETE),
        "failed": sum(1 for _run, job in runs if job.phase is Phase.FAILED),
        "restarts": 0, "created_at": state.created_at, "charmander": False,
        "next_firing": _instant(next_at), "last_firing": _instant(state.last_firing),
    }


def scheduled_document(state: ScheduleState, runs: Iterable[tuple[Run, Job]],
                       next_at: float) -> dict[str, Any]:
    """A scheduled job's status: the summary, its schedule with the next and last firing,
    its runs kept (oldest first) with their outcomes, and the template."""
    runs = list(runs)
    doc = scheduled_summary(state, runs, next_at)
    schedule = state.spec.schedule
    doc["schedule"] = {
        **schedule.model_dump(mode="json"),
        "expressions": list(schedule.expressions()),
        "next_firing": _instant(next_at), "last_firing": _instant(state.last_firing),
        "runs": [{"name": run.name, "firing": _instant(run.firing), "manual": run.manual,
                  "phase": str(job.phase), "reason": job.phase_reason}
                 for run, job in runs],
    }
    doc["spec"] = redacted(state.spec.to_json())
    return doc


def _instant(seconds: float | None) -> dict[str, Any] | None:
    """An instant as both epoch seconds and ISO 8601 in UTC."""
    if seconds is None:
        return None
    return {"at": seconds, "utc": datetime.fromtimestamp(seconds, UTC).isoformat()}
