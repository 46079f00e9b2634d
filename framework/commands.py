"""What the Charmander scheduler asks its adapter to do. Frozen: a command is a request."""

from __future__ import annotations

from dataclasses import dataclass

from offers.task import TaskSpec


@dataclass(frozen=True)
class Launch:
    """ACCEPT these offers (all from one agent) with one LAUNCH of these task instances.

    Each entry is `(mesos task id, spec)`; the spec is what the container gets (a reshuffled
    task's memory is already resized to its metered usage).
    """

    offer_ids: tuple[str, ...]
    agent_id: str
    tasks: tuple[tuple[str, TaskSpec], ...]


@dataclass(frozen=True)
class Decline:
    offer_ids: tuple[str, ...]
    refuse_seconds: float


@dataclass(frozen=True)
class Kill:
    task_id: str
    agent_id: str | None


@dataclass(frozen=True)
class Revive:
    """Ask the master for offers again (new work arrived after a Suppress)."""


@dataclass(frozen=True)
class Suppress:
    """Nothing to place: stop sending offers until Revive."""


@dataclass(frozen=True)
class Reconcile:
    """Ask the master for the current state of these `(task id, agent id | None)` pairs."""

    tasks: tuple[tuple[str, str | None], ...]


@dataclass(frozen=True)
class KillMatched:
    """The answer to a KillRequested: which instances the prefix matched (none -> 404)."""

    prefix: str
    task_ids: tuple[str, ...]


@dataclass(frozen=True)
class ChargeCredits:
    """Take what namespaces' running work used from their budgets (credits by namespace);
    the answer comes back as a `BalancesChanged`."""

    spent: tuple[tuple[str, float], ...]


Command = (Launch | Decline | Kill | Revive | Suppress | Reconcile | KillMatched
           | ChargeCredits)
