"""Read-only views of the scheduler's state: one record per task instance (a Mesos task)."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields

from offers.states import TaskState
from offers.task import SLA, TaskSpec

LIVE = frozenset({TaskState.STAGING, TaskState.STARTING, TaskState.RUNNING})
"""Launched and not being killed: what counts against an SLA."""

LAUNCHED = frozenset({TaskState.STAGING, TaskState.STARTING, TaskState.RUNNING,
                      TaskState.KILLING, TaskState.LOST})
"""States in which a container may exist on an agent: what reconciliation asks about."""

HELD = LIVE | {TaskState.KILLING}
"""A container holds the host: what SLAs count as "runs there"."""

SPEC_ERROR_CODES = frozenset({"REASON_TASK_INVALID"})
"""Mesos reason codes of an ERROR that lies in the task's own spec (the master judged the
TaskInfo itself invalid): the task is quarantined, never launched again."""

STOPPED_BY_SHUTDOWN = "stopped: berth was shut down"
"""The reason of an instance whose container berth stopped while shutting down. It is what
recovery reads to queue the task again: stopping berth is not killing its tasks."""

QUEUED_AFTER_SHUTDOWN = "queued again: berth was shut down while it ran"


@dataclass(frozen=True)
class TaskRecord:
    """One task instance as the scheduler sees it.

    `task_id` is the Mesos task id: the internal id `<id>-<ns>` for a Charmander task's
    first instance, `<job id>.<n>` for later ones (restarts, relaunches, reshuffles, a
    system job's instances on further agents) and for every instance of a job submitted as
    a job. `submission_id` is the id of its job (a Charmander task's internal id). `slot` is
    the instance position it fills in its job (`BERTH_JOB_INDEX` is its index).
    `spec` is what was asked; `launched_spec` what was launched (resized by usage after
    a reshuffle). `killed` records that someone asked to kill it (desired state).
    """

    task_id: str
    submission_id: str
    spec: TaskSpec
    state: TaskState
    created_at: float
    reason: str | None = None
    agent_id: str | None = None
    hostname: str | None = None
    container_id: str | None = None
    launched_spec: TaskSpec | None = None
    by_usage: bool = False
    killed: bool = False
    not_before: float = 0.0
    updated_at: float = 0.0
    launched_at: float | None = None
    running_at: float | None = None
    slot: tuple[int, int] | None = (0, 0)  # (template, index) in its job; None: per node
    exit_code: int | None = None
    # why berth is killing it: "stop", "infrastructure", "deadline", "restart"; or
    # "undersized": it ran out of memory at the smaller size `intelligence` launched it with
    ending: str | None = None
    healthy: bool | None = None  # its health check's verdict while it runs (None: unknown)

    @property
    def running(self) -> bool:
        return self.state is TaskState.RUNNING

    @property
    def sla(self) -> SLA | None:
        return self.spec.sla


_DEFAULTS = {f.name: f.default for f in fields(TaskRecord) if f.default is not MISSING}
_FIELDS = len(fields(TaskRecord))


def new_record(**values: object) -> TaskRecord:
    """`TaskRecord(**values)` without the frozen dataclass's `__init__`, which sets each of
    the 19 fields through `object.__setattr__`: a record is made for every instance
    started, and made this way it costs a third."""
    record = object.__new__(TaskRecord)
    attrs = record.__dict__
    attrs.update(_DEFAULTS)
    attrs.update(values)
    if len(attrs) != _FIELDS:  # a field missing or one it does not have
        TaskRecord(**values)  # raises the TypeError the constructor would
    return record


def with_changes(record: TaskRecord, **changes: object) -> TaskRecord:
    """`dataclasses.replace` without re-running __init__: records change often, and the
    fields are plain values (10x faster, which matters with 100,000 pending tasks)."""
    return changed(record, changes)


def changed(record: TaskRecord, changes: dict[str, object]) -> TaskRecord:
    """`with_changes` for changes already in a dict (the status update builds one)."""
    new = object.__new__(TaskRecord)
    values = new.__dict__
    values.update(record.__dict__)
    values.update(changes)
    return new


def default_reason(state: TaskState) -> str:
    """The reason of an instance that reached `state` without the master giving one."""
    return {
        TaskState.FINISHED: "the container exited with status 0",
        TaskState.FAILED: "the container exited with an error",
        TaskState.KILLED: "killed",
        TaskState.LOST: "the agent running it was lost",
        TaskState.ERROR: "the task could not be started",
    }.get(state, str(state))
