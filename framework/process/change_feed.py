"""What the driver tells the event stream (framework/process/event_hub.py) about each
change: the short forms the UI shows, never a spec's env values."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from framework.images import ImageRecord
from framework.job_status import job_summary
from framework.records import TaskRecord
from framework.scheduler import CharmanderScheduler
from offers.states import TaskState
from persistence.metric_input import Sample

# The node measurements a live graph plots (docs/metrics.md); task samples stay out.
NODE_METRICS = frozenset({
    "node_cpus", "node_mem", "node_cpu_used", "node_mem_used", "node_cpu_incumbent",
    "node_mem_incumbent", "node_net_in", "node_net_out", "node_disk_read",
    "node_disk_write", "node_disk_used", "node_disk"})


def task_change(record: TaskRecord) -> dict[str, Any]:
    spec = record.spec
    return {"id": record.task_id, "submission_id": record.submission_id,
            "name": spec.id, "namespace": spec.namespace, "state": str(record.state),
            "reason": record.reason, "host": record.hostname, "agent_id": record.agent_id,
            "exit_code": record.exit_code, "cpus": spec.cpus, "mem": spec.mem,
            "updated_at": record.updated_at}


def job_changes(scheduler: CharmanderScheduler, jobs: Iterable) -> list[dict[str, Any]]:
    return [job_summary(job, scheduler.running_instances(job)) for job in jobs
            if not job.charmander]


def node_points(samples: Iterable[Sample]) -> list[dict[str, Any]]:
    """The nodes' measurements among `samples`, as `{node, instance, name, t, value}`."""
    return [{"node": s.tags.get("node"), "instance": s.tags.get("instance"), "name": s.name,
             "t": s.at, "value": s.value}
            for s in samples if s.name in NODE_METRICS or (s.name in ("cpu_limit", "mem_limit")
            and "instance" in s.tags)]


def image_change(record: ImageRecord, deleted: bool = False) -> dict[str, Any]:
    """An image's new state, as `GET /v1/images` lists it (its log stays behind its own
    URL: it can be megabytes)."""
    return {"name": record.name, "state": record.state.value, "origin": record.origin,
            "size": record.size, "created": record.created_at,
            "updated": record.updated_at, "reason": record.reason, "deleted": deleted}


def scripts_change(job: str, namespace: str | None) -> dict[str, Any]:
    """A service job's script statuses or instances changed: read them again
    (`GET /v1/jobs/{name}/scripts`; their outputs are too big to send to every reader)."""
    return {"job": job, "namespace": namespace}


class ReasonPacer:
    """Which new pending reasons to publish when. A reason changes with every offer round
    (its counts are of the nodes offered), so a task's first reason goes out at once and
    later ones at most every `every` seconds, the newest held back until then (`flush`, on
    the clock's beat): thousands of waiting tasks must not flood the stream's readers, and
    an open page still learns why within seconds."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self._sent: dict[str, float] = {}  # task id -> when its reason last went out
        self._held: dict[str, TaskRecord] = {}  # newer reasons waiting for their turn

    def due(self, records: Iterable[TaskRecord], now: float) -> list[TaskRecord]:
        """Of these records (their reason changed), the ones to publish now."""
        out = []
        for record in records:
            sent = self._sent.get(record.task_id)
            if sent is None or now - sent >= self.every:
                self._sent[record.task_id] = now
                self._held.pop(record.task_id, None)
                out.append(record)
            else:
                self._held[record.task_id] = record
        return out

    def flush(self, now: float) -> list[TaskRecord]:
        """The held-back reasons whose turn has come."""
        out = [r for t, r in self._held.items() if now - self._sent[t] >= self.every]
        for record in out:
            del self._held[record.task_id]
            self._sent[record.task_id] = now
        return out

    def settled(self, records: Iterable[TaskRecord]) -> None:
        """These records went out whole: nothing held of them is news any more, and the
        ones no longer pending need no pacing."""
        for record in records:
            self._held.pop(record.task_id, None)
            if record.state is not TaskState.PENDING:
                self._sent.pop(record.task_id, None)
