"""What an agent is told to run: one container, fully resolved.

The master turns a Mesos `TaskInfo` into a `LaunchSpec` and sends it down the agent link;
the executor turns it into a Docker container. Keeping it here lets both sides (and the
simulator) share one definition without importing each other.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from offers.health import HealthCheck
from offers.task import NetworkMode, PortMapping, TaskSpec, Volume

LABEL_TASK_ID = "berth.task_id"
LABEL_FRAMEWORK_ID = "berth.framework_id"
LABEL_AGENT_ID = "berth.agent_id"


class LaunchSpec(BaseModel):
    """One container to run on one agent.

    `shell` follows Mesos's CommandInfo: True runs `command` under `/bin/sh -c`;
    False passes `arguments` to the image's entrypoint (and `command`, when set, replaces it).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_id: str  # the internal, unique id: "<id>-<nanosecond timestamp>"
    framework_id: str
    name: str  # the user's task id, for people reading `docker ps`
    image: str
    shell: bool = False
    command: str | None = None
    arguments: tuple[str, ...] = ()
    network: NetworkMode = NetworkMode.BRIDGE
    ports: tuple[PortMapping, ...] = ()
    volumes: tuple[Volume, ...] = ()
    cpus: float = Field(gt=0)
    mem: float = Field(gt=0)  # MiB
    disk: float = Field(0.0, ge=0)  # MiB
    env: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    privileged: bool = False
    notmetered: bool = False
    health_check: HealthCheck | None = None  # its port, if any, is the container's
    # Elasticity on the agent (offers/elasticity.py): the class of work and the order
    # in which tasks are preempted (lowest priority first).
    elastic: bool = True
    priority: int = 0

    def container_labels(self) -> dict[str, str]:
        return {**self.labels, LABEL_TASK_ID: self.task_id,
                LABEL_FRAMEWORK_ID: self.framework_id}

    @classmethod
    def from_task(cls, task_id: str, framework_id: str, spec: TaskSpec) -> LaunchSpec:
        return cls(
            task_id=task_id, framework_id=framework_id, name=spec.id, image=spec.dockerimage,
            arguments=spec.arguments, network=spec.networkmode, ports=spec.ports,
            volumes=spec.volumes, cpus=spec.cpus, mem=spec.mem, disk=spec.disk, env=spec.env,
            privileged=spec.privileged, notmetered=spec.notmetered,
            health_check=spec.health_check.resolved(spec.container_ports)
            if spec.health_check is not None else None,
            elastic=spec.elastic, priority=spec.priority,
        )
