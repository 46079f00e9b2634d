"""From a LaunchSpec to the arguments of a Docker container, and the operator's policy.

Pure: no Docker client here, so the mapping and the refusals are tested as plain data.
Labels carry everything an agent needs to adopt the container after a restart (task and
framework ids, the agent that owns it, the resources it was given, whether it is metered).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from offers.launch import LABEL_AGENT_ID, LaunchSpec
from offers.task import NetworkMode

LABEL_NAME = "berth.name"
LABEL_CPUS = "berth.cpus"
LABEL_MEM = "berth.mem"
LABEL_DISK = "berth.disk"
LABEL_NOTMETERED = "berth.notmetered"

MIB = 1024 * 1024
_NAME_BAD = re.compile(r"[^A-Za-z0-9_.-]")
MAX_NAME = 200


@dataclass(frozen=True)
class VolumePolicy:
    """Which host paths tasks may mount: under one of `allowed` prefixes, nothing else.

    Prefixes match whole path components (`/data` allows `/data/x`, not `/database`), and
    `..` is resolved first so a path cannot climb out of an allowed prefix.
    """

    allowed: tuple[str, ...] = ()
    allow_privileged: bool = False

    def refusal(self, spec: LaunchSpec) -> str | None:
        """Why this spec may not run on this agent, or None if it may."""
        if spec.privileged and not self.allow_privileged:
            return ("privileged containers are not allowed on this agent "
                    "(the operator has not enabled them)")
        for volume in spec.volumes:
            path = os.path.normpath(volume.host_path)
            if not any(_under(path, prefix) for prefix in self.allowed):
                where = (", ".join(self.allowed) if self.allowed
                         else "none: start the agent with --allow-volume PATH")
                return (f"host path {volume.host_path} may not be mounted on this agent; "
                        f"allowed prefixes: {where}")
        return None


def _under(path: str, prefix: str) -> bool:
    prefix = os.path.normpath(prefix)
    return prefix == "/" or path == prefix or path.startswith(prefix.rstrip("/") + "/")


def container_name(task_id: str) -> str:
    """A Docker container name for a task: `berth-<task id>`, with odd characters replaced."""
    return ("berth-" + _NAME_BAD.sub("_", task_id))[:MAX_NAME]


def container_labels(spec: LaunchSpec, agent_id: str) -> dict[str, str]:
    return {
        **spec.container_labels(),
        LABEL_AGENT_ID: agent_id,
        LABEL_NAME: spec.name,
        LABEL_CPUS: repr(float(spec.cpus)),
        LABEL_MEM: repr(float(spec.mem)),
        LABEL_DISK: repr(float(spec.disk)),
        LABEL_NOTMETERED: "true" if spec.notmetered else "false",
    }


def entrypoint_and_command(spec: LaunchSpec) -> tuple[list[str] | None, list[str] | None]:
    """Mesos's CommandInfo on Docker.

    shell=True: `/bin/sh -c <command>` replaces the image's entrypoint.
    shell=False: `arguments` go to the image's entrypoint, or to `command` if one is given.
    """
    if spec.shell:
        if not spec.command:
            return None, list(spec.arguments) or None
        return ["/bin/sh", "-c"], [spec.command]
    entrypoint = [spec.command] if spec.command else None
    return entrypoint, list(spec.arguments) or None


def create_kwargs(spec: LaunchSpec, agent_id: str) -> dict[str, Any]:
    """Keyword arguments for `docker.client.containers.create`."""
    entrypoint, command = entrypoint_and_command(spec)
    kwargs: dict[str, Any] = {
        "image": spec.image,
        "name": container_name(spec.task_id),
        "labels": container_labels(spec, agent_id),
        "environment": dict(spec.env),
        "network_mode": spec.network.value,
        "mem_limit": max(int(spec.mem * MIB), 6 * MIB),  # Docker's smallest limit is 6 MiB
        "nano_cpus": max(int(spec.cpus * 1e9), 1),
        "privileged": spec.privileged,
        # Docker's tiny init as PID 1: it forwards SIGTERM, so a task whose program has no
        # handler of its own (PID 1 ignores signals by default) stops at once on a kill
        # instead of waiting out the whole grace period; it also reaps zombies.
        "init": True,
        "detach": True,
    }
    if entrypoint is not None:
        kwargs["entrypoint"] = entrypoint
    if command is not None:
        kwargs["command"] = command
    if spec.ports and spec.network is NetworkMode.BRIDGE:
        kwargs["ports"] = {f"{m.container_port}/{m.protocol}": m.host_port for m in spec.ports}
    if spec.volumes:
        kwargs["volumes"] = {v.host_path: {"bind": v.container_path, "mode": v.mode}
                             for v in spec.volumes}
    return kwargs


def host_ports(spec: LaunchSpec) -> frozenset[int]:
    return frozenset(m.host_port for m in spec.ports)


def port_clash_reason(spec: LaunchSpec, docker_message: str) -> str | None:
    """If Docker refused to start because a host port is taken, say which, else None."""
    text = docker_message.lower()
    if not ("port is already allocated" in text or "address already in use" in text):
        return None
    ports = [str(p) for p in sorted(host_ports(spec)) if str(p) in docker_message]
    which = ", ".join(ports) or ", ".join(str(p) for p in sorted(host_ports(spec)))
    return f"host port {which} is already in use on this node ({_short(docker_message)})"


def _short(message: str, limit: int = 200) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 3] + "..."


def allocation_from_labels(labels: dict[str, str]) -> tuple[float, float, float]:
    def number(key: str) -> float:
        try:
            return float(labels.get(key, "0"))
        except ValueError:
            return 0.0
    return number(LABEL_CPUS), number(LABEL_MEM), number(LABEL_DISK)


def ports_from_bindings(
    bindings: dict[str, Sequence[dict[str, str]] | None] | None,
) -> frozenset[int]:
    """Host ports from a container's HostConfig.PortBindings (for adopted containers)."""
    out: set[int] = set()
    for items in (bindings or {}).values():
        for item in items or ():
            port = item.get("HostPort")
            if port and port.isdigit():
                out.add(int(port))
    return frozenset(out)
