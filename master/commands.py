"""Commands the master core emits; the adapters carry them out (send, persist).

Three kinds: messages to a framework's event stream, messages down an agent's link,
and facts to persist. The adapter persists first, then sends.
"""

from __future__ import annotations

from dataclasses import dataclass

from master.events import MeteringSample, NodeMeteringSample
from master.records import (
    AgentRecord,
    FrameworkRecord,
    OfferRecord,
    StatusUpdate,
    TaskRecord,
)
from offers.launch import LaunchSpec

# -- to frameworks ------------------------------------------------------------------------


@dataclass(frozen=True)
class ToFramework:
    framework_id: str


@dataclass(frozen=True)
class SendSubscribed(ToFramework):
    stream_id: str
    heartbeat_interval_seconds: float


@dataclass(frozen=True)
class SendOffers(ToFramework):
    offers: tuple[OfferRecord, ...]


@dataclass(frozen=True)
class SendRescind(ToFramework):
    offer_id: str


@dataclass(frozen=True)
class SendUpdate(ToFramework):
    status: StatusUpdate


@dataclass(frozen=True)
class SendFailure(ToFramework):
    agent_id: str


@dataclass(frozen=True)
class SendError(ToFramework):
    message: str


@dataclass(frozen=True)
class CloseStream(ToFramework):
    """End one SUBSCRIBE stream (failed over by a newer one, or torn down)."""

    stream_id: str
    message: str


# -- to agents ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToAgent:
    agent_id: str


@dataclass(frozen=True)
class AgentAccepted(ToAgent):
    """The answer to a registration: keep these tasks, kill those."""

    keep: tuple[str, ...]
    kill: tuple[str, ...]
    heartbeat_seconds: float


@dataclass(frozen=True)
class AgentRejected(ToAgent):
    """The agent must register (again) before anything else it says counts; `field`:
    what of its registration was refused, when that is why."""

    reason: str
    field: str | None = None


@dataclass(frozen=True)
class LaunchOnAgent(ToAgent):
    spec: LaunchSpec


@dataclass(frozen=True)
class KillOnAgent(ToAgent):
    task_id: str
    grace_seconds: float


# -- to the store ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Persist:
    pass


@dataclass(frozen=True)
class SaveAgent(Persist):
    agent: AgentRecord


@dataclass(frozen=True)
class SaveFramework(Persist):
    framework: FrameworkRecord


@dataclass(frozen=True)
class ForgetTask(Persist):
    """A completed task its framework's history no longer holds: its row and its status
    history go (`master.completed`)."""

    task_id: str


@dataclass(frozen=True)
class ForgetFramework(Persist):
    """A removed framework no longer worth remembering (beyond `max_removed_frameworks`)."""

    framework_id: str


@dataclass(frozen=True)
class SaveTask(Persist):
    task: TaskRecord


@dataclass(frozen=True)
class RecordStatus(Persist):
    task_id: str
    state: str
    reason: str | None
    message: str | None
    at: float


@dataclass(frozen=True)
class RecordMetering(Persist):
    agent_id: str
    samples: tuple[MeteringSample, ...]
    node: tuple[NodeMeteringSample, ...] = ()
