"""What an agent knows of each task it runs, and the messages it sends about them.

Observed state only: what the container did. Each change goes through the one transition
table (offers/states.py), so a backend bug that would report RUNNING after KILLED raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from executor.capacity import Amounts
from offers.states import TaskState, check_transition


@dataclass(frozen=True)
class StatusUpdate:
    """One change of one task's container: the agent link's STATUS message."""

    task_id: str
    state: TaskState
    reason: str = ""
    container_id: str | None = None
    exit_code: int | None = None
    message: str = ""
    framework_id: str = ""

    def as_message(self) -> dict[str, Any]:
        return {"type": "STATUS", "task_id": self.task_id, "state": self.state.value,
                "reason": self.reason, "container_id": self.container_id,
                "exit_code": self.exit_code, "message": self.message,
                "framework_id": self.framework_id}


@dataclass(frozen=True)
class UsageSample:
    """What one container used at time `t`: cores and MiB (a METERING sample), and any
    further numbers about it by name (its current limits `cpu_limit`, `mem_limit`...)."""

    task_id: str
    t: float
    cpus: float
    mem: float
    fields: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {**{k: round(v, 4) for k, v in self.fields.items()},
                "task_id": self.task_id, "t": round(self.t, 3), "cpus": round(self.cpus, 4),
                "mem": round(self.mem, 2)}


@dataclass
class TrackedTask:
    """One task on this agent, from the launch order to its terminal state."""

    task_id: str
    framework_id: str
    name: str
    allocated: Amounts
    host_ports: frozenset[int]
    notmetered: bool
    state: TaskState = TaskState.STAGING
    container_id: str | None = None
    kill_requested: bool = False
    kill_grace: float = 10.0
    adopted: bool = False
    last_cpu: tuple[float, float] | None = field(default=None, repr=False)  # (t, cpu ns)

    def move(self, new: TaskState) -> bool:
        """Change state (raises on a transition the table forbids); False if unchanged."""
        if new == self.state:
            return False
        self.state = check_transition(self.state, new)
        return True

    def view(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "framework_id": self.framework_id, "name": self.name,
                "container_id": self.container_id, "state": self.state.value,
                "allocated": self.allocated.as_dict(), "host_ports": sorted(self.host_ports),
                "notmetered": self.notmetered, "adopted": self.adopted}

    def running_entry(self) -> dict[str, Any]:
        """The entry for `running` in a registration (docs/agent-protocol.md)."""
        return {"task_id": self.task_id, "framework_id": self.framework_id,
                "container_id": self.container_id, "state": self.state.value}
