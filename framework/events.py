"""What the scheduler reacts to. Frozen: an event is a fact that happened."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from offers.job import JobSpec
from offers.offer import Offer, OfferBatch
from offers.quota import Quota
from offers.states import TaskState
from offers.task import TaskSpec, Volume


@dataclass(frozen=True)
class TaskSubmitted:
    """A task accepted by the REST API (already on disk). `task_id` is `<id>-<ns timestamp>`.

    `invalid` says why a spec read back from the store fails today's checks (it was stored
    before they existed): such a task is quarantined, ending `ERROR` with that reason.
    """

    task_id: str
    spec: TaskSpec
    invalid: str | None = None


@dataclass(frozen=True)
class TaskRecovered:
    """A task instance read back from the store after a restart of the framework.

    `submission_id` is the internal id the instance belongs to; `killed` says the user
    asked to kill this instance; `wanted` is the submission's desired state (False once
    someone asked to kill it). Launched instances are reconciled after SUBSCRIBED.
    `invalid` as for TaskSubmitted.
    """

    task_id: str
    submission_id: str
    spec: TaskSpec
    state: TaskState
    created_at: float
    agent_id: str | None = None
    hostname: str | None = None
    container_id: str | None = None
    reason: str | None = None
    killed: bool = False
    by_usage: bool = False
    wanted: bool = True
    launched_spec: TaskSpec | None = None
    invalid: str | None = None
    slot: tuple[int, int] | None = (0, 0)
    exit_code: int | None = None
    updated_at: float | None = None


@dataclass(frozen=True)
class JobSubmitted:
    """A job accepted by the API (already on disk), or read back from the store
    (`recovering`: its instances follow as TaskRecovered, in order). `count` is the count a
    scale set, `steps` the steps of a stepped scale still to come, `wanted` False once
    stopped."""

    spec: JobSpec
    created_at: float | None = None
    count: int | None = None
    steps: tuple[int, ...] = ()
    wanted: bool = True
    recovering: bool = False
    size: tuple[float, float] | None = None  # (cpus, mem) of new instances, if resized


@dataclass(frozen=True)
class JobScaled:
    """Scale a job to `count` instances, or through `steps`, each step once every
    instance of the one before runs (JuliaRun's `scale!(ctx, job, 2:2:10)`). `size`:
    the (cpus, mem) of the instances started from now on (the autoscaler's preset adds
    instances of the size its strategy picks); those running keep theirs."""

    job_id: str
    count: int = 0
    steps: tuple[int, ...] = ()
    size: tuple[float, float] | None = None


@dataclass(frozen=True)
class JobStopped:
    """Kill every instance of a job and start none; the job is kept, `stopped`."""

    job_id: str


@dataclass(frozen=True)
class JobDeleted:
    """Forget a job; one still running is stopped first (`delete --force`)."""

    job_id: str


@dataclass(frozen=True)
class Subscribed:
    """The master accepted our SUBSCRIBE (first time or again after a disconnect)."""

    framework_id: str


@dataclass(frozen=True)
class OffersReceived:
    """One OFFERS event: a tuple of offers, or the same as columns (`OfferBatch`)."""

    offers: tuple[Offer, ...] | OfferBatch


@dataclass(frozen=True)
class OfferRescinded:
    offer_id: str


@dataclass(frozen=True)
class TaskStatusChanged:
    """An UPDATE from the master about one task instance (a Mesos task id).

    `reason` is for people; `code` is the Mesos reason code (`REASON_TASK_INVALID`...),
    which says whose fault an ERROR is."""

    task_id: str
    state: TaskState
    reason: str | None
    agent_id: str | None
    hostname: str | None = None
    container_id: str | None = None
    code: str | None = None
    exit_code: int | None = None
    healthy: bool | None = None  # its health check's verdict, when the update carries one


@dataclass(frozen=True)
class AgentLost:
    agent_id: str


@dataclass(frozen=True)
class KillRequested:
    """Kill every task whose internal id starts with `prefix` (Charmander's DELETE); with
    `ids`, only the jobs and instances named there (a caller limited to its namespaces:
    `Scheduler.kill_targets`)."""

    prefix: str
    ids: frozenset[str] | None = None


@dataclass(frozen=True)
class QuotasChanged:
    """The namespaces' quotas now (access/, through the API): placement keeps within them."""

    quotas: Mapping[str, Quota]


@dataclass(frozen=True)
class ClientParametersChanged:
    """A client's parameters now (already on disk, or read back from it): instances of its
    jobs created from now on get them (`framework.client_parameters`)."""

    namespace: str
    client: str
    parameters: Mapping[str, str]


@dataclass(frozen=True)
class BalancesChanged:
    """The credit balances of the namespaces that have a budget. One at zero or below has
    its jobs stopped and nothing new placed until a grant."""

    balances: Mapping[str, float]


@dataclass(frozen=True)
class ReshuffleRequested:
    """Restart every running reshuffleable task, placed again by its metered usage."""


@dataclass(frozen=True)
class UsageObserved:
    """A metering sample of one task instance: cores and MiB in use."""

    task_id: str
    cpus: float
    mem: float


@dataclass(frozen=True)
class ShutdownStarted:
    """berth is stopping (SIGINT/SIGTERM), not the user: containers that end from now on
    were stopped by the shutdown, and nothing is placed or relaunched until the next start.
    No desired state changes: the next start runs again what should run."""


@dataclass(frozen=True)
class ImagesBuilding:
    """The images berth is building now (`path:tag`; `registry`: berth's, left out of a
    task's image when comparing): instances that use one wait until it is built."""

    names: frozenset[str]
    registry: str | None = None


@dataclass(frozen=True)
class SlotVolumesChanged:
    """The volumes an instance position (`slot`) of a job mounts besides its template's
    (a Generic service's, docs/generic-service.md); with `restart`, that running
    instance is killed and its slot started again with them (nothing counted)."""

    job: str
    slot: tuple[int, int]
    volumes: tuple[Volume, ...]
    restart: str | None = None


@dataclass(frozen=True)
class Tick:
    """Time passed: retry timers and staging timeouts are checked against the clock."""


Event = (TaskSubmitted | TaskRecovered | JobSubmitted | JobScaled | JobStopped | JobDeleted
         | Subscribed | OffersReceived | OfferRescinded | TaskStatusChanged | AgentLost
         | KillRequested | ReshuffleRequested | UsageObserved | ShutdownStarted | Tick
         | QuotasChanged | BalancesChanged | ClientParametersChanged | ImagesBuilding
         | SlotVolumesChanged)

__all__ = [
    "AgentLost", "BalancesChanged", "ClientParametersChanged", "Event", "ImagesBuilding",
    "JobDeleted",
    "JobScaled", "JobStopped", "JobSubmitted",
    "KillRequested", "OfferRescinded", "OffersReceived", "QuotasChanged",
    "ReshuffleRequested", "ShutdownStarted", "SlotVolumesChanged", "Subscribed",
    "TaskRecovered",
    "TaskStatusChanged", "TaskSubmitted", "Tick", "UsageObserved",
]
