"""What the master knows, as frozen records: the core replaces them, the store saves them.

Because records are immutable, a command carrying one is already a consistent snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple, TypeVar

from offers.launch import LaunchSpec
from offers.resource_vector import Resources
from offers.states import TaskState

_R = TypeVar("_R")
_object_new, _object_setattr = object.__new__, object.__setattr__


@dataclass(frozen=True)
class AgentRecord:
    id: str
    hostname: str
    endpoint: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)
    total: Resources = field(default_factory=Resources)
    spare: Resources = field(default_factory=Resources)  # as the agent last reported it
    registered_at: float = 0.0
    last_seen: float = 0.0
    lost: bool = False
    # Elasticity, as the agent last reported it (not stored: every CAPACITY repeats it):
    # taken back from elastic tasks (offered as revocable), and its node's split.
    revocable: Resources = field(default_factory=Resources)
    elastic: Mapping[str, Resources] = field(default_factory=dict)


@dataclass(frozen=True)
class FrameworkRecord:
    id: str
    name: str = ""
    user: str = ""
    roles: tuple[str, ...] = ("*",)
    capabilities: frozenset[str] = frozenset()
    info: Mapping = field(default_factory=dict)
    registered_at: float = 0.0
    active: bool = False  # has a live SUBSCRIBE stream
    suppressed: bool = False
    removed: bool = False  # torn down; never offered again
    stream_id: str | None = None
    disconnected_at: float | None = None

    @property
    def partition_aware(self) -> bool:
        return "PARTITION_AWARE" in self.capabilities

    @property
    def failover_timeout(self) -> float | None:
        """Seconds a disconnected framework is waited for before it is torn down; None
        (berth's default when none is given, unlike Mesos's 0) waits for ever. An explicit
        0 means what it means in Mesos: no failover, removed as soon as it disconnects."""
        value = self.info.get("failover_timeout")
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            return None
        try:
            seconds = float(value)
        except OverflowError:  # an integer beyond any float: as good as for ever
            return None
        return seconds if seconds < float("inf") else None


@dataclass(frozen=True)
class TaskRecord:
    id: str
    framework_id: str
    agent_id: str
    name: str
    state: TaskState
    resources: Resources
    spec: LaunchSpec
    reason: str | None = None  # a Mesos reason code, e.g. REASON_AGENT_REMOVED
    message: str | None = None  # what a person reads
    container_id: str | None = None
    exit_code: int | None = None
    healthy: bool | None = None  # its health check's last verdict (None: none known)
    created_at: float = 0.0
    updated_at: float = 0.0
    # Until the agent reports capacity after its first status for this task, the agent's
    # spare may not include it yet, so the master subtracts it itself.
    counted_by_agent: bool = False


class OfferRecord(NamedTuple):
    """One offer: a row rather than a dataclass, as the allocator makes one for every
    agent it offers (a million and more a day) and a tuple is the cheapest to make."""

    id: str
    framework_id: str
    agent_id: str
    hostname: str
    attributes: Mapping[str, str]
    resources: Resources
    created_at: float
    expires_at: float
    # Taken back from elastic tasks on the agent: offered apart, marked `revocable: {}`,
    # for elastic work only (a launch is checked against `resources` alone).
    revocable: Resources = Resources()


# `new_offer((id, framework_id, ...))`: an `OfferRecord` from all its fields in order,
# without the Python call that its `__new__` is.
new_offer: Callable[[tuple], OfferRecord] = partial(tuple.__new__, OfferRecord)


@dataclass(frozen=True)
class StatusUpdate:
    """One task status for a framework; `uuid` set when it must be acknowledged."""

    task_id: str
    framework_id: str
    agent_id: str | None
    state: TaskState
    reason: str | None = None
    message: str | None = None
    source: str = "SOURCE_MASTER"  # SOURCE_MASTER | SOURCE_AGENT | SOURCE_EXECUTOR
    timestamp: float = 0.0
    uuid: str | None = None
    container_id: str | None = None
    exit_code: int | None = None
    healthy: bool | None = None


@dataclass(frozen=True)
class Snapshot:
    """Everything the master must remember across a restart."""

    agents: tuple[AgentRecord, ...] = ()
    frameworks: tuple[FrameworkRecord, ...] = ()
    tasks: tuple[TaskRecord, ...] = ()


def evolve(record: _R, **changes: object) -> _R:
    """`dataclasses.replace` without running `__init__` again: a record of this module
    holds plain values and no `__post_init__`, and the core replaces one per message."""
    fields = record.__dict__.copy()
    fields.update(changes)
    return make(type(record), fields)


def make(cls: type[_R], fields: dict[str, object]) -> _R:
    """`cls(**fields)` for a frozen dataclass without its `__init__`, which sets each
    field with a call of its own; `fields` must name every field, and becomes the
    record's (so it must not be used again). For the records and commands the core
    makes for every task update."""
    record = _object_new(cls)
    _object_setattr(record, "__dict__", fields)
    return record
