"""Jobs as the scheduler keeps them: what is wanted (desired state) and the bookkeeping of
each wanted instance position (a *slot*) that the restart policies need.

A `Job` is built from a job JSON (`Job.from_spec`) or from a Charmander task
(`Job.from_task`, see `offers.job.CHARMANDER`). Its instances are TaskRecords in the
instance index; the index also keeps, per job, the small indexes (`by_state`, `live_on`,
`hosts`...) that spare a status update a walk over all of a job's instances.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from framework.members import KIND, WHEN
from offers.job import (
    JobSpec,
    JobType,
    Phase,
    Policies,
    RelaunchPolicy,
    RestartPolicy,
    RestartWhen,
)
from offers.states import TaskState
from offers.task import SLA, TaskSpec, Volume

MASTER = -1
"""The template number of a parallel job's master (its workers are template 0)."""

SlotKey = tuple[int, int]
"""(template number, index): one wanted instance position of a job."""


@dataclass
class Slot:
    """What the policies remember of one slot across its instances."""

    failures: list[float] = field(default_factory=list)  # application failures, times
    in_a_row: int = 0  # failures since it last ran (the backoff's exponent)
    relaunches: int = 0  # infrastructure failures
    errors: int = 0  # launches in a row that ended ERROR
    retry_at: float = 0.0  # not started again before
    avoid: dict[str, float] = field(default_factory=dict)  # hostname -> avoided until
    done: bool = False  # exited 0 and is not to run again
    gave_up: str | None = None  # the policy is spent: why
    note: str | None = None  # the reason its next instance waits with (for people)


@dataclass
class Job:
    """One job: its spec, its desired count, its slots, and its instances' indexes."""

    id: str
    kind: JobType
    templates: tuple[TaskSpec, ...]  # what each template's instances start from
    counts: tuple[int, ...]  # instances wanted per template (completions for batch)
    restart: RestartPolicy
    relaunch: RelaunchPolicy
    restart_when: RestartWhen
    created_at: float
    spec: JobSpec | None = None  # None: a Charmander task (`templates[0]` is its spec)
    master: TaskSpec | None = None
    parallelism: int | None = None
    startup_timeout: float | None = None
    max_runtime: float | None = None
    priority: int = 0
    wanted: bool = True  # False once stopped or killed
    steps: list[int] = field(default_factory=list)  # counts still to scale to, in order
    phase: Phase = Phase.PENDING
    phase_reason: str | None = None
    slots: dict[SlotKey, Slot] = field(default_factory=dict)
    # The instance index's per-job indexes (kept by InstanceIndex.put):
    instances: dict[str, None] = field(default_factory=dict)  # task ids, oldest first
    next_instance: int = 1
    by_state: dict[TaskState, dict[str, None]] = field(default_factory=dict)
    live_on: dict[str, dict[str, None]] = field(default_factory=dict)  # agent id -> LIVE ids
    crowded: set[str] = field(default_factory=set)  # agent ids with more than one LIVE
    hosts: dict[str, int] = field(default_factory=dict)  # hostname -> HELD instances
    by_slot: dict[SlotKey, dict[str, None]] = field(default_factory=dict)  # open instances
    quarantined: str | None = None  # why its spec cannot run: never launched again
    # A system job's nodes are its slots: hostname -> not retried there before; -> Slot.
    retry_after: dict[str, float] = field(default_factory=dict)
    on_node: dict[str, Slot] = field(default_factory=dict)
    restarts: int = 0  # instances started again after a failure, over the job's life
    done: int = 0  # slots that exited 0 for good
    given_up: dict[SlotKey, str] = field(default_factory=dict)  # slots whose policy is spent
    cursor: int = 0  # a batch job's indexes below it were looked at since the last full pass
    note: str | None = None  # a system job's next instance's reason (for people)
    size: tuple[float, float] | None = None  # (cpus, mem) of new instances, if resized
    # Volumes a slot's instances mount besides the template's (a Generic service's).
    slot_volumes: dict[SlotKey, tuple[Volume, ...]] = field(default_factory=dict)

    def resize(self, size: tuple[float, float] | None) -> None:
        """Instances started from now on are of `size` (its one template resized);
        those running keep theirs. None: the template's own size."""
        if size is None or self.size == size:
            return
        self.size = size
        cpus, mem = size
        self.templates = (self.templates[0].model_copy(update={"cpus": cpus, "mem": mem}),
                          *self.templates[1:])

    @property
    def namespace(self) -> str:
        return self.spec.namespace if self.spec is not None else self.templates[0].namespace

    @classmethod
    def from_task(cls, job_id: str, spec: TaskSpec, created_at: float,
                  policies: Policies) -> Job:
        """A Charmander task's job (`policies` from `offers.job.charmander_policies`)."""
        kind, restart, relaunch = policies
        return cls(id=job_id, kind=kind, templates=(spec,), counts=(1,), restart=restart,
                   relaunch=relaunch, restart_when=restart.when or (
                       WHEN.ALWAYS if kind is KIND.SYSTEM
                       else WHEN.ON_FAILURE), created_at=created_at)

    @classmethod
    def from_spec(cls, spec: JobSpec, created_at: float, scaled: int | None = None) -> Job:
        job_env = {"BERTH_JOB": spec.name}
        templates = tuple(_with_env(t.task(spec), job_env) for t in spec.templates)
        if spec.type is KIND.SYSTEM:  # so the placement core puts one on each node
            templates = tuple(t.model_copy(update={"sla": SLA.ONE_PER_NODE}) for t in templates)
        master = _with_env(spec.master.task(spec), job_env) if spec.master else None
        return cls(id=spec.name, kind=spec.type, templates=templates,
                   counts=spec.counts(scaled), restart=spec.restart, relaunch=spec.relaunch,
                   restart_when=spec.restart_when, created_at=created_at, spec=spec,
                   master=master, parallelism=spec.parallelism,
                   startup_timeout=spec.startup_timeout, max_runtime=spec.max_runtime,
                   priority=spec.priority)

    @property
    def charmander(self) -> bool:
        return self.spec is None

    @property
    def sla(self) -> SLA | None:
        return self.templates[0].sla if self.spec is None else None

    @property
    def daemon(self) -> bool:
        """One instance per eligible node (a system job, Charmander's one-per-node)."""
        return self.kind is KIND.SYSTEM

    def slot(self, key: SlotKey) -> Slot:
        slot = self.slots.get(key)
        if slot is None:
            slot = self.slots[key] = Slot()
        return slot

    def template(self, number: int) -> TaskSpec:
        return self.master if number == MASTER and self.master else self.templates[number]

    def desired(self) -> int:
        """Instances wanted now, over all templates (workers only, for a parallel job)."""
        return sum(self.counts)


def _with_env(spec: TaskSpec, env: dict[str, str]) -> TaskSpec:
    return spec.model_copy(update={"env": {**spec.env, **env}})
