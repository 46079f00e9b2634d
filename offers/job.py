"""The job spec: a named group of task instances with a desired count and policies.

Every workload is a job. A job JSON names one template (`task`: the Charmander task JSON
without `sla`) or several (`tasks`, each with its own `count`: Jisto's multi-image jobs),
a `type` that says what "kept true" means, and one policy per failure class. A Charmander
task is turned into the job it stands for by `job_from_task`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from offers.autoscale import AutoscalePolicy, autoscale_problems, tree_errors
from offers.problems import FieldProblem, SpecError, problems_from_errors
from offers.schedule import MAX_SCHEDULED_NAME, Schedule
from offers.task import (
    DEFAULT_NAMESPACE,
    NAMESPACE_PATTERN,
    SLA,
    ConstraintItem,
    TaskSpec,
    _number,
    normalize_id,
)

MAX_INSTANCES = 100_000  # per template: beyond it a typo, not a job
MAX_SECONDS = 366 * 24 * 3600.0
CLIENT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"  # a client's name: a URL path segment


class JobType(StrEnum):
    BATCH = "batch"  # done when `completions` instances exited 0
    SERVICE = "service"  # `count` instances kept running
    SYSTEM = "system"  # one instance on every eligible node
    PARALLEL = "parallel"  # a master and `count` workers; done when the master exits 0
    ARRAY = "array"  # `count` independent units, scaled as one; done when all exited 0


class RestartWhen(StrEnum):
    ALWAYS = "always"  # whatever the exit code (services, daemons)
    ON_FAILURE = "on-failure"  # an exit 0 is the instance's end


class Phase(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    STOPPED = "stopped"

    @property
    def final(self) -> bool:
        return self in (Phase.COMPLETE, Phase.FAILED, Phase.STOPPED)


def _whole(value: Any) -> Any:
    """A count: an integer, also written as a string ("20", as Jisto's config.json does)."""
    value = _number(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value:g} is not a whole number")
        value = int(value)
    return value


Count = Annotated[int, BeforeValidator(_whole)]
LabelName = Annotated[str, Field(min_length=1, max_length=256)]
LabelValue = Annotated[str, Field(max_length=4096)]
Seconds = Annotated[float, BeforeValidator(_number)]


class _Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RestartPolicy(_Policy):
    """Application failures (exit code not 0, OOM-killed): the instance is started again,
    on any node, `attempts` times within `interval` seconds at most (null: no limit), after
    `delay` seconds growing by `backoff` per failure up to `max_delay`. When spent, the
    instance ends FAILED (for a batch job: the job)."""

    attempts: Count | None = Field(3, ge=0)
    interval: Seconds = Field(1800.0, gt=0, le=MAX_SECONDS)
    delay: Seconds = Field(5.0, ge=0, le=MAX_SECONDS)
    backoff: Seconds = Field(2.0, ge=1, le=1000)
    max_delay: Seconds = Field(300.0, ge=0, le=MAX_SECONDS)
    when: RestartWhen | None = None  # default: `always` for service and system jobs

    def delay_after(self, failures: int) -> float:
        """The wait before the next start after `failures` failures in a row (>= 1)."""
        exponent = min(max(failures - 1, 0), 60)
        return min(self.delay * self.backoff ** exponent, max(self.max_delay, self.delay))


class RelaunchPolicy(_Policy):
    """Infrastructure failures (agent lost, container gone, Docker refused, preempted, the
    start-up timeout): the instance is placed again, on another node; the failed node is
    avoided for `avoid` seconds. `attempts` relaunches at most (null: no limit). `errors`:
    launches in a row that could not start (ERROR) before the instance gives up."""

    attempts: Count | None = Field(None, ge=0)
    avoid: Seconds = Field(300.0, ge=0, le=MAX_SECONDS)
    errors: Count | None = Field(3, ge=1)


class Template(TaskSpec):
    """One template: the Charmander task JSON without `sla` (the job's type says that);
    its `id` defaults to the job's name."""

    id: str | None = None  # type: ignore[assignment]
    count: Count | None = Field(None, ge=0, le=MAX_INSTANCES)

    @field_validator("sla")
    @classmethod
    def _no_sla(cls, value: Any) -> Any:
        if value is not None:
            raise ValueError("a job's template has no sla: the job's `type` says it "
                             "(singleton: service of 1; one-per-node: system)")
        return value

    def task(self, job: JobSpec) -> TaskSpec:
        """The task spec every instance of this template starts from: the job's priority
        and constraints added to its own."""
        data = {name: value for name, value in self if name != "count"}  # models kept
        data["id"] = self.id or job.name
        data["priority"] = job.priority
        data["namespace"] = job.namespace
        data["constraints"] = (*job.constraints, *self.constraints)
        return TaskSpec.model_construct(**data)


class JobSpec(BaseModel):
    """What the user asked for. Validated as a whole: every problem named by field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: JobType = JobType.SERVICE
    priority: Count = Field(0, ge=-1_000_000, le=1_000_000)
    namespace: str = Field(DEFAULT_NAMESPACE, pattern=NAMESPACE_PATTERN)
    task: Template | None = None
    tasks: tuple[Template, ...] | None = Field(None, min_length=1, max_length=100)
    master: Template | None = None
    count: Count | None = Field(None, ge=0, le=MAX_INSTANCES)
    completions: Count | None = Field(None, ge=1, le=MAX_INSTANCES)
    parallelism: Count | None = Field(None, ge=1, le=MAX_INSTANCES)
    restart: RestartPolicy = RestartPolicy()
    relaunch: RelaunchPolicy = RelaunchPolicy()
    startup_timeout: Seconds | None = Field(None, gt=0, le=MAX_SECONDS)
    max_runtime: Seconds | None = Field(None, gt=0, le=MAX_SECONDS)
    constraints: tuple[ConstraintItem, ...] = ()  # on every template, beside its own
    # What a surface over the job model remembers of it (JuliaRun's job type), shown as is.
    labels: dict[LabelName, LabelValue] | None = Field(None, max_length=32)
    schedule: Schedule | None = None  # a template whose firings start runs of it
    client: str | None = Field(None, pattern=CLIENT_PATTERN, max_length=128)  # parameters
    autoscale: AutoscalePolicy | None = None  # its count kept by the autoscaler

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> Any:
        return normalize_id(value) if isinstance(value, str) else value

    # -- what the reconciler reads ------------------------------------------------------

    @property
    def templates(self) -> tuple[Template, ...]:
        return self.tasks if self.tasks is not None else (self.task,)  # type: ignore[return-value]

    def counts(self, scaled: int | None = None) -> tuple[int, ...]:
        """Instances wanted per template (completions for a batch job); `scaled` is the
        count set by a scale, which replaces the job's own."""
        if self.tasks is not None:
            return tuple(t.count or 0 for t in self.tasks)
        if scaled is not None:
            return (scaled,)
        if self.type is JobType.BATCH:
            return (self.completions or 1,)
        return (1 if self.count is None else self.count,)

    @property
    def restart_when(self) -> RestartWhen:
        if self.restart.when is not None:
            return self.restart.when
        return (RestartWhen.ALWAYS if self.type in (JobType.SERVICE, JobType.SYSTEM)
                else RestartWhen.ON_FAILURE)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def parse_job(data: Any) -> JobSpec:
    """Validate one job JSON object; raise SpecError naming every bad field."""
    if not isinstance(data, dict):
        raise SpecError([FieldProblem("", "a job must be a JSON object, not "
                                          f"{type(data).__name__}")])
    try:
        spec = JobSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(problems_from_errors(tree_errors(exc.errors(include_url=False))))\
            from None
    problems = shape_problems(spec)
    if problems:
        raise SpecError(problems)
    return spec


def shape_problems(spec: JobSpec) -> list[FieldProblem]:
    """What the fields say together: which of them the job's type takes."""
    out: list[FieldProblem] = []
    kind = spec.type
    if spec.schedule is not None and len(spec.name) > MAX_SCHEDULED_NAME:
        out.append(FieldProblem("name", f"a scheduled job's name is at most "
                                        f"{MAX_SCHEDULED_NAME} characters (its runs' "
                                        "names add the firing time)"))
    if (spec.task is None) == (spec.tasks is None):
        out.append(FieldProblem("task", "give either `task` (one template) or `tasks` "
                                        "(several)"))
    if kind is JobType.PARALLEL and spec.master is None:
        out.append(FieldProblem("master", "a parallel job needs a `master` template"))
    if kind is not JobType.PARALLEL and spec.master is not None:
        out.append(FieldProblem("master", f"only a parallel job has a master, not a "
                                          f"{kind} job"))
    if spec.master is not None and spec.master.count is not None:
        out.append(FieldProblem("master.count", "a parallel job has one master; `count` "
                                                "is the number of workers"))
    if kind is not JobType.BATCH:
        out += [FieldProblem(name, f"only a batch job has {name}; use `count`")
                for name in ("completions", "parallelism") if getattr(spec, name) is not None]
    if kind is JobType.BATCH and spec.count is not None:
        out.append(FieldProblem("count", "a batch job counts `completions`, not `count`"))
    if kind is JobType.SYSTEM and spec.count is not None:
        out.append(FieldProblem("count", "a system job runs one instance on every "
                                         "eligible node"))
    if spec.tasks is not None:
        out += [FieldProblem(f"tasks[{i}].count", "is required with several templates")
                for i, template in enumerate(spec.tasks)
                if template.count is None and kind is not JobType.SYSTEM]
        if spec.count is not None or spec.completions is not None:
            out.append(FieldProblem("count", "with several templates each has its own "
                                             "`count`"))
    elif spec.task is not None and spec.task.count is not None:
        out.append(FieldProblem("task.count", "give the job's `count` (or `completions`) "
                                              "instead"))
    if spec.autoscale is not None:
        out += _autoscale_shape(spec)
    return out


def _autoscale_shape(spec: JobSpec) -> list[FieldProblem]:
    if spec.type not in (JobType.SERVICE, JobType.ARRAY):
        return [FieldProblem("autoscale", f"only a service or array job is autoscaled, "
                                          f"not a {spec.type} job")]
    if spec.tasks is not None:
        return [FieldProblem("autoscale", "a job of several templates is not autoscaled: "
                                          "give one `task`")]
    if spec.schedule is not None:
        return [FieldProblem("autoscale", "a scheduled job is a template: its runs are "
                                          "not autoscaled")]
    return autoscale_problems(spec.autoscale)


# -- Charmander tasks as jobs ------------------------------------------------------------

Policies = tuple[JobType, RestartPolicy, RelaunchPolicy]


def charmander_policies(sla: SLA | None, delay: float = 5.0, max_delay: float = 300.0,
                        node_errors: int = 3) -> Policies:
    """What a Charmander task is as a job: plain = `batch` of 1 with no restart or
    relaunch (a launch lost before it ran is placed again); `singleton` = `service` of 1,
    never two live, relaunched at once when lost, restarted after a failure with a backoff
    from `delay` doubling to `max_delay`, its exit 0 its end (as in Charmander), given up
    at its first ERROR; `one-per-node` = `system`, a node given up after `node_errors`
    ERRORs in a row there."""
    backoff = {"delay": delay, "max_delay": max(max_delay, delay), "backoff": 2.0}
    if sla is SLA.SINGLETON:
        return (JobType.SERVICE,
                RestartPolicy(attempts=None, when=RestartWhen.ON_FAILURE, **backoff),
                RelaunchPolicy(attempts=None, avoid=0.0, errors=1))
    if sla is SLA.ONE_PER_NODE:
        return (JobType.SYSTEM, RestartPolicy(attempts=None, **backoff),
                RelaunchPolicy(errors=node_errors))
    return JobType.BATCH, RestartPolicy(attempts=0), RelaunchPolicy(attempts=0)


def job_from_task(job_id: str, spec: TaskSpec) -> JobSpec:
    """The job a Charmander task stands for (`charmander_policies`), for showing it."""
    kind, restart, relaunch = charmander_policies(spec.sla)
    template = Template.model_construct(**{**dict(spec), "sla": None, "count": None})
    return JobSpec.model_construct(
        name=job_id, type=kind, priority=0, namespace=spec.namespace, task=template,
        tasks=None, master=None,
        count=None, completions=None, parallelism=None, startup_timeout=None,
        max_runtime=None, constraints=(), labels=None, restart=restart, relaunch=relaunch,
        schedule=None, client=None, autoscale=None)
