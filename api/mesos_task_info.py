"""A Mesos TaskInfo as the master reads it from an ACCEPT's LAUNCH (`launch_from_task_info`);
what berth's framework sends is offers/protocol/task_info.py. berth runs DOCKER containers
only; everything it cannot run is a SpecError naming the field.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError

from master.events import TaskLaunch
from offers.launch import LaunchSpec
from offers.problems import FieldProblem, SpecError, problems_from
from offers.protocol.health_check import health_check_from_mesos
from offers.protocol.mesos import resources_from_mesos
from offers.protocol.mesos_calls import MesosModel, MesosValue
from offers.protocol.task_info import ELASTIC_LABEL, NOTMETERED_LABEL, PRIORITY_LABEL
from offers.task import NetworkMode, PortMapping, Volume


def id_value(info: Any, key: str) -> str | None:
    """`info[key]["value"]` when it is a non-empty string (a Mesos id), else None: what
    names a TaskInfo that is too broken to read otherwise."""
    value = info.get(key) if isinstance(info, dict) else None
    value = value.get("value") if isinstance(value, dict) else None
    return value if isinstance(value, str) and value else None


class _Docker(MesosModel):
    image: str = Field(min_length=1)
    network: str = "HOST"  # Mesos's default
    port_mappings: list[dict[str, Any]] = Field(default_factory=list)
    privileged: bool = False


class _VolumeInfo(MesosModel):
    container_path: str
    host_path: str | None = None
    mode: str = "RW"
    source: dict[str, Any] | None = None  # {"type": "DOCKER_VOLUME", "docker_volume": {...}}


class _Container(MesosModel):
    type: str
    docker: _Docker | None = None
    volumes: list[_VolumeInfo] = Field(default_factory=list)


class _EnvVar(MesosModel):
    name: str
    value: str = ""


class _Environment(MesosModel):
    variables: list[_EnvVar] = Field(default_factory=list)


class _Command(MesosModel):
    shell: bool = True  # Mesos's default
    value: str | None = None
    arguments: list[str] = Field(default_factory=list)
    environment: _Environment | None = None


class _Label(MesosModel):
    key: str
    value: str = ""


class _Labels(MesosModel):
    labels: list[_Label] = Field(default_factory=list)


class _TaskInfo(MesosModel):
    name: str
    task_id: MesosValue
    agent_id: MesosValue
    resources: list[Any]
    command: _Command | None = None
    container: _Container | None = None
    labels: _Labels | None = None
    health_check: dict[str, Any] | None = None


_NETWORKS = {"BRIDGE": NetworkMode.BRIDGE, "HOST": NetworkMode.HOST, "NONE": NetworkMode.NONE}


def launch_from_task_info(data: Any, framework_id: str, field: str = "task_info") -> TaskLaunch:
    """A Mesos TaskInfo with a DOCKER container -> berth's TaskLaunch; SpecError otherwise."""
    try:
        info = _TaskInfo.model_validate(data)
    except ValidationError as exc:
        raise SpecError([FieldProblem(f"{field}.{p.field}" if p.field else field, p.problem)
                         for p in problems_from(exc)]) from None
    res = resources_from_mesos(info.resources, f"{field}.resources")
    container = info.container
    if container is None or container.type != "DOCKER" or container.docker is None:
        raise SpecError([FieldProblem(f"{field}.container",
                                      "berth runs DOCKER containers only: give container "
                                      "{type: DOCKER, docker: {image}}")])
    docker = container.docker
    network = _NETWORKS.get(docker.network)
    if network is None:
        raise SpecError([FieldProblem(f"{field}.container.docker.network",
                                      f"{docker.network!r} is not one of BRIDGE, HOST, NONE")])
    problems = []
    mappings = []
    for i, pm in enumerate(docker.port_mappings):
        try:
            mappings.append(PortMapping(host_port=pm.get("host_port"),
                                        container_port=pm.get("container_port"),
                                        protocol=pm.get("protocol") or "tcp"))
        except (ValidationError, AttributeError):
            problems.append(FieldProblem(f"{field}.container.docker.port_mappings[{i}]",
                                         "needs integer host_port and container_port "
                                         "(1-65535), protocol tcp or udp"))
    volumes = []
    for i, vol in enumerate(container.volumes):
        mode = {"RO": "ro", "RW": "rw"}.get(vol.mode)
        try:
            named = _docker_volume(vol.source)
            if vol.host_path is None and named is None:
                raise ValueError("host_path or a DOCKER_VOLUME source with a name is "
                                 "required")
            if mode is None:
                raise ValueError(f"mode {vol.mode!r} is not RO or RW")
            volumes.append(Volume(host_path=vol.host_path if named is None else None,
                                  name=named, container_path=vol.container_path, mode=mode))
        except (ValidationError, ValueError) as exc:
            text = str(exc).splitlines()[-1] if isinstance(exc, ValidationError) else str(exc)
            problems.append(FieldProblem(f"{field}.container.volumes[{i}]", text.strip()))
    command = info.command
    shell, value, arguments, env = False, None, (), {}
    if command is not None:
        shell = command.shell
        value = command.value
        arguments = tuple(command.arguments)
        if shell and not value:
            problems.append(FieldProblem(f"{field}.command.value",
                                         "is required when shell is true"))
        if command.environment:
            env = {v.name: v.value for v in command.environment.variables}
    labels = {lb.key: lb.value for lb in info.labels.labels} if info.labels else {}
    health_check = None
    if info.health_check is not None:
        try:
            health_check = health_check_from_mesos(info.health_check, f"{field}.health_check")
        except SpecError as exc:
            problems += exc.problems
    if problems:
        raise SpecError(problems)
    try:
        spec = LaunchSpec(
            task_id=info.task_id.value, framework_id=framework_id, name=info.name,
            image=docker.image, shell=shell, command=value,
            arguments=() if shell else arguments, network=network, ports=tuple(mappings),
            volumes=tuple(volumes), cpus=res.cpus, mem=res.mem, disk=res.disk, env=env,
            labels=labels, privileged=docker.privileged,
            notmetered=labels.get(NOTMETERED_LABEL, "").lower() == "true",
            health_check=health_check,
            elastic=labels.get(ELASTIC_LABEL, "").lower() != "false",
            priority=_priority(labels.get(PRIORITY_LABEL)))
    except ValidationError as exc:
        raise SpecError([FieldProblem(f"{field}.{p.field}" if p.field else field, p.problem)
                         for p in problems_from(exc)]) from None
    return TaskLaunch(task_id=info.task_id.value, name=info.name,
                      agent_id=info.agent_id.value, resources=res, spec=spec)


def _priority(text: str | None) -> int:
    """A task's priority label (0 when absent or not a whole number: it only orders
    preemption on the agent)."""
    try:
        return max(min(int(text or "0"), 1_000_000), -1_000_000)
    except ValueError:
        return 0


def _docker_volume(source: dict[str, Any] | None) -> str | None:
    """The name of a Mesos DOCKER_VOLUME source, or None for no (or another) source."""
    if not isinstance(source, dict) or source.get("type") != "DOCKER_VOLUME":
        return None
    inner = source.get("docker_volume")
    name = inner.get("name") if isinstance(inner, dict) else None
    if not isinstance(name, str):
        raise ValueError("a DOCKER_VOLUME source needs docker_volume.name")
    return name
