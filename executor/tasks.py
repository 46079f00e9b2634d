"""What an agent knows of each task it runs, and the messages it sends about them.

Observed state only: what the container did. Each change goes through the one transition
table (offers/states.py), so a backend bug that would report RUNNING after KILLED raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from executor.capacity import Amounts
from offers.health import HealthCheck
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
    healthy: bool | None = None  # the health check's verdict, when it changed (or is known)
    limits: Amounts | None = None  # what the container may use now (elasticity)

    def as_message(self) -> dict[str, Any]:
        message = {"type": "STATUS", "task_id": self.task_id, "state": self.state.value,
                   "reason": self.reason, "container_id": self.container_id,
                   "exit_code": self.exit_code, "message": self.message,
                   "framework_id": self.framework_id}
        if self.healthy is not None:
            message["healthy"] = self.healthy
        if self.limits is not None:
            message["limits"] = limits_json(self.limits)
        return message


def limits_json(limits: Amounts) -> dict[str, float]:
    """A task's current allocation as it travels on the agent link: cores and MiB."""
    return {"cpus": round(limits.cpus, 3), "mem": round(limits.mem, 1)}


@dataclass(frozen=True)
class UsageSample:
    """What one container used at time `t`: cores and MiB (a METERING sample), the limits
    it had then, and any further numbers about it by name (`response_time`: the mean in ms
    of its HTTP health checks since the last sample...)."""

    task_id: str
    t: float
    cpus: float
    mem: float
    limits: Amounts | None = None  # the container's limits when it was measured
    fields: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        sample = {**{k: round(v, 4) for k, v in self.fields.items()},
                  "task_id": self.task_id, "t": round(self.t, 3), "cpus": round(self.cpus, 4),
                  "mem": round(self.mem, 2)}
        if self.limits is not None:
            sample["limits"] = limits_json(self.limits)
        return sample


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
    elastic: bool = True  # yields to the node's own load (offers/elasticity.py)
    priority: int = 0
    started_at: float = 0.0
    limits: Amounts | None = None  # lowered by elasticity; None: the allocation
    resizable: bool = True  # False once Docker refused an update (e.g. a NanoCPUs container)
    preempted: str | None = None  # the reason, once elasticity chose to end it
    last_cpu: tuple[float, float] | None = field(default=None, repr=False)  # (t, cpu ns)
    health_check: HealthCheck | None = None
    healthy: bool | None = None  # None: not checked, or no verdict yet
    unhealthy: str | None = None  # why it is being killed, when its checks failed
    response_times: list[float] = field(default_factory=list, repr=False)  # ms, unsampled

    def move(self, new: TaskState) -> bool:
        """Change state (raises on a transition the table forbids); False if unchanged."""
        if new == self.state:
            return False
        self.state = check_transition(self.state, new)
        return True

    @property
    def current(self) -> Amounts:
        """What the container may use now: its limits, else its allocation."""
        return self.limits if self.limits is not None else self.allocated

    def view(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "framework_id": self.framework_id, "name": self.name,
                "container_id": self.container_id, "state": self.state.value,
                "allocated": self.allocated.as_dict(), "limits": limits_json(self.current),
                "elastic": self.elastic, "priority": self.priority,
                "host_ports": sorted(self.host_ports), "notmetered": self.notmetered,
                "adopted": self.adopted,
                "health_check": self.health_check.kind if self.health_check else None,
                "healthy": self.healthy}

    def running_entry(self) -> dict[str, Any]:
        """The entry for `running` in a registration (docs/agent-protocol.md)."""
        return {"task_id": self.task_id, "framework_id": self.framework_id,
                "container_id": self.container_id, "state": self.state.value}
