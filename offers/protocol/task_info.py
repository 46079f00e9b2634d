"""A Mesos TaskInfo as berth's framework writes it for a LaunchSpec: a DOCKER container
asking for exactly the task's size and host ports. The master reads it back in
api/mesos_task_info.py."""

from __future__ import annotations

from typing import Any

from offers.launch import LaunchSpec
from offers.protocol.health_check import health_check_to_mesos
from offers.protocol.mesos import resources_to_mesos
from offers.resource_vector import Resources
from offers.task import Volume

NOTMETERED_LABEL = "berth.notmetered"
# Elasticity's class and order of preemption, carried to the agent as task labels.
ELASTIC_LABEL = "berth.elastic"
PRIORITY_LABEL = "berth.priority"


def task_info(spec: LaunchSpec, agent_id: str) -> dict[str, Any]:
    """A Mesos TaskInfo for a LaunchSpec, asking for exactly its size and host ports."""
    host_ports = sorted({m.host_port for m in spec.ports})
    res = Resources(cpus=spec.cpus, mem=spec.mem, disk=spec.disk,
                    ports=tuple((p, p) for p in host_ports))
    docker: dict[str, Any] = {
        "image": spec.image, "network": spec.network.value.upper(),
        "port_mappings": [{"host_port": m.host_port, "container_port": m.container_port,
                           "protocol": m.protocol} for m in spec.ports],
        "privileged": spec.privileged}
    if spec.shell:
        command: dict[str, Any] = {"shell": True, "value": spec.command or ""}
    else:
        command = {"shell": False, "arguments": list(spec.arguments)}
        if spec.command:
            command["value"] = spec.command
    if spec.env:
        command["environment"] = {"variables": [{"name": k, "value": v}
                                                for k, v in spec.env.items()]}
    labels = dict(spec.labels)
    if spec.notmetered:
        labels[NOTMETERED_LABEL] = "true"
    if not spec.elastic:
        labels[ELASTIC_LABEL] = "false"
    if spec.priority:
        labels[PRIORITY_LABEL] = str(spec.priority)
    info: dict[str, Any] = {
        "name": spec.name, "task_id": {"value": spec.task_id},
        "agent_id": {"value": agent_id}, "resources": resources_to_mesos(res),
        "command": command,
        "container": {"type": "DOCKER", "docker": docker, "volumes": [
            _volume(v) for v in spec.volumes]}}
    if spec.health_check is not None:
        info["health_check"] = health_check_to_mesos(spec.health_check)
    if labels:
        info["labels"] = {"labels": [{"key": k, "value": v} for k, v in labels.items()]}
    return info


def _volume(volume: Volume) -> dict[str, Any]:
    """Mesos's Volume: a host path, or a named Docker volume as a DOCKER_VOLUME source."""
    out: dict[str, Any] = {"container_path": volume.container_path,
                           "mode": volume.mode.upper()}
    if volume.name is not None:
        out["source"] = {"type": "DOCKER_VOLUME", "docker_volume": {"name": volume.name}}
    else:
        out["host_path"] = volume.host_path
    return out
