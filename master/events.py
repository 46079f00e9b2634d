"""Events the master core consumes: what agents, frameworks and the clock tell it.

The adapters (api/) turn HTTP calls and agent-link messages into these; the core answers
with commands (`master.commands`). All frozen: an event is a fact, not a request to mutate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from offers.launch import LaunchSpec
from offers.resource_vector import Resources
from offers.states import TaskState

# -- from agents (docs/agent-protocol.md) ---------------------------------------------------


@dataclass(frozen=True)
class RunningTask:
    """A container an agent found carrying berth labels when it (re)registered."""

    task_id: str
    framework_id: str | None = None
    container_id: str | None = None
    state: TaskState = TaskState.RUNNING


@dataclass(frozen=True)
class AgentRegister:
    agent_id: str | None
    hostname: str
    endpoint: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)
    total: Resources = field(default_factory=Resources)
    spare: Resources = field(default_factory=Resources)
    running: tuple[RunningTask, ...] = ()
    # Tasks whose containers ended while the master may not have heard (their agent_id is
    # the registering agent's): their real ends, taken before anything missing is LOST.
    ended: tuple[AgentStatus, ...] = ()
    revocable: Resources = field(default_factory=Resources)  # as in AgentCapacity
    elastic: Mapping[str, Resources] = field(default_factory=dict)


@dataclass(frozen=True)
class AgentHeartbeat:
    agent_id: str


@dataclass(frozen=True)
class AgentCapacity:
    agent_id: str
    total: Resources
    spare: Resources
    # Elasticity (docs/agent-protocol.md): what was taken back from elastic tasks, offered
    # as revocable; and the agent's split of its node (incumbent, secondary used, ...).
    revocable: Resources = field(default_factory=Resources)
    elastic: Mapping[str, Resources] = field(default_factory=dict)


@dataclass(frozen=True)
class AgentStatus:
    agent_id: str
    task_id: str
    state: TaskState
    reason: str | None = None
    message: str | None = None
    container_id: str | None = None
    exit_code: int | None = None
    healthy: bool | None = None  # the task's health check's verdict (None: not reported)
    limits: tuple[float, float] | None = None  # (cpus, MiB) the container may use now


@dataclass(frozen=True)
class MeteringSample:
    """A task's usage at `t`; `fields`: its other numbers by name (limits, checks...)."""

    task_id: str
    t: float
    cpus: float
    mem: float
    limits: tuple[float, float] | None = None  # (cpus, MiB) the container may use now
    fields: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class NodeMeteringSample:
    """The node's own measurements at `t` (docs/agent-protocol.md, METERING `node`)."""

    t: float
    fields: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class AgentMetering:
    agent_id: str
    samples: tuple[MeteringSample, ...]
    node: tuple[NodeMeteringSample, ...] = ()


# -- from frameworks (the Mesos v1 scheduler calls) -----------------------------------------


@dataclass(frozen=True)
class Subscribe:
    stream_id: str
    framework_id: str | None
    name: str = ""
    user: str = ""
    roles: tuple[str, ...] = ("*",)
    capabilities: frozenset[str] = frozenset()
    info: Mapping = field(default_factory=dict)  # the FrameworkInfo as sent, echoed in /state


@dataclass(frozen=True)
class StreamClosed:
    framework_id: str
    stream_id: str


@dataclass(frozen=True)
class TaskLaunch:
    """One TaskInfo of a LAUNCH operation, already translated to berth's launch spec."""

    task_id: str
    name: str
    agent_id: str
    resources: Resources
    spec: LaunchSpec


@dataclass(frozen=True)
class RefusedLaunch:
    """A TaskInfo the adapter could not turn into a launch (bad size, no container, ...).

    It travels with the ACCEPT so that the core answers it alone, with a TASK_ERROR naming
    the problem, and launches the rest: one unlaunchable operation never fails the others.
    """

    task_id: str
    agent_id: str | None
    message: str


@dataclass(frozen=True)
class Accept:
    framework_id: str
    offer_ids: tuple[str, ...]
    launches: tuple[TaskLaunch | RefusedLaunch, ...]  # in the order of the task infos
    refuse_seconds: float | None = None


@dataclass(frozen=True)
class Decline:
    framework_id: str
    offer_ids: tuple[str, ...]
    refuse_seconds: float | None = None


@dataclass(frozen=True)
class Kill:
    framework_id: str
    task_id: str
    agent_id: str | None = None


@dataclass(frozen=True)
class Acknowledge:
    framework_id: str
    agent_id: str | None
    task_id: str
    uuid: str


@dataclass(frozen=True)
class Reconcile:
    framework_id: str
    tasks: tuple[tuple[str, str | None], ...] = ()  # (task_id, agent_id); empty = implicit


@dataclass(frozen=True)
class Revive:
    framework_id: str


@dataclass(frozen=True)
class Suppress:
    framework_id: str


@dataclass(frozen=True)
class Teardown:
    framework_id: str


# -- from the clock ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tick:
    """Time passed: expire offers, declare silent agents lost, re-send unacked updates."""


@dataclass(frozen=True)
class Allocate:
    """Offer what is spare to whoever is next by dominant share."""
