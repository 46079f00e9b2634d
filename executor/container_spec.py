"""From a LaunchSpec to the arguments of a Docker container, and the operator's policy.

Pure: no Docker client here, so the mapping and the refusals are tested as plain data.
Labels carry everything an agent needs to adopt the container after a restart (task and
framework ids, the agent that owns it, the resources it was given, whether it is metered).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from offers.health import HealthCheck
from offers.launch import LABEL_AGENT_ID, LaunchSpec
from offers.task import NetworkMode

LABEL_NAME = "berth.name"
LABEL_CPUS = "berth.cpus"
LABEL_MEM = "berth.mem"
LABEL_DISK = "berth.disk"
LABEL_NOTMETERED = "berth.notmetered"
LABEL_HEALTH_CHECK = "berth.health_check"  # its JSON: an agent that restarts checks on
LABEL_ELASTIC = "berth.elastic"
LABEL_PRIORITY = "berth.priority"
CPU_PERIOD = 100_000  # µs: the CFS period every container's quota is a share of
MIN_CPU_QUOTA = 1_000  # µs: Docker's smallest quota
MIN_MEM = 6 * 1024 * 1024  # bytes: Docker's smallest memory limit

MIB = 1024 * 1024
_NAME_BAD = re.compile(r"[^A-Za-z0-9_.-]")
MAX_NAME = 200


@dataclass(frozen=True)
class Bind:
    """One host path as Docker will mount it: already resolved, already allowed."""

    host_path: str  # resolved: no symlink left in it
    container_path: str
    mode: str
    asked: str  # the path the task gave, for reasons


@dataclass(frozen=True)
class VolumePolicy:
    """Which host paths tasks may mount: under one of `allowed` prefixes, nothing else.

    Both the task's path and the prefixes are resolved with `realpath` (symlinks followed,
    `..` folded) before they are compared, so neither `/srv/x/../../etc` nor a symlink
    `/srv/x/root -> /` planted by an earlier task climbs out. Prefixes match whole path
    components (`/data` allows `/data/x`, not `/database`). Docker is then handed the
    resolved path only, and the backend resolves again right before it creates the
    container, refusing a path whose resolution changed in between.
    """

    allowed: tuple[str, ...] = ()
    allow_privileged: bool = False
    resolve: Callable[[str], str] = field(default=os.path.realpath, compare=False, repr=False)

    def refusal(self, spec: LaunchSpec) -> str | None:
        """Why this spec may not run on this agent, or None if it may."""
        return self.check(spec)[0]

    def check(self, spec: LaunchSpec) -> tuple[str | None, tuple[Bind, ...]]:
        """(why not, None) or (None, the binds to hand Docker, resolved)."""
        if spec.privileged and not self.allow_privileged:
            return ("privileged containers are not allowed on this agent "
                    "(the operator has not enabled them)"), ()
        binds = []
        prefixes = [self.resolve(prefix) for prefix in self.allowed]
        for volume in spec.volumes:
            if volume.name is not None:  # a named Docker volume: the engine's, no host path
                binds.append(Bind(volume.name, volume.container_path, volume.mode,
                                  volume.name))
                continue
            path = self.resolve(volume.host_path)
            shown = volume.host_path if path == os.path.normpath(volume.host_path) else (
                f"{volume.host_path} (which resolves to {path})")
            if ":" in path or "\x00" in path:
                return (f"host path {shown} may not be mounted: its resolved path contains "
                        "':' or NUL"), ()
            if not any(_under(path, prefix) for prefix in prefixes):
                where = (", ".join(self.allowed) if self.allowed
                         else "none: start the agent with --allow-volume PATH")
                return (f"host path {shown} may not be mounted on this agent; "
                        f"allowed prefixes: {where}"), ()
            binds.append(Bind(path, volume.container_path, volume.mode, volume.host_path))
        return None, tuple(binds)

    def moved(self, binds: Sequence[Bind]) -> str | None:
        """Why the checked binds may no longer be used (a path now resolves elsewhere)."""
        for bind in binds:
            if not bind.asked.startswith("/"):
                continue  # a named volume
            now = self.resolve(bind.asked)
            if now != bind.host_path:
                return (f"host path {bind.asked} changed while the task was being launched: "
                        f"it resolved to {bind.host_path} when checked and to {now} now; "
                        "refused rather than mount something unchecked")
        return None


def _under(path: str, prefix: str) -> bool:
    return prefix == "/" or path == prefix or path.startswith(prefix.rstrip("/") + "/")


# Linux capabilities Docker gives a container unless told otherwise (moby's defaults).
DOCKER_DEFAULT_CAPS = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
# Of those, dropped unless the operator adds them back (Podman's defaults drop the same):
# raw sockets (spoofing on the bridge), device nodes, writing the host's audit log.
DROPPED_BY_DEFAULT = ("AUDIT_WRITE", "MKNOD", "NET_RAW")
LINUX_CAPS = DOCKER_DEFAULT_CAPS | frozenset({
    "AUDIT_CONTROL", "AUDIT_READ", "BLOCK_SUSPEND", "BPF", "CHECKPOINT_RESTORE",
    "DAC_READ_SEARCH", "IPC_LOCK", "IPC_OWNER", "LEASE", "LINUX_IMMUTABLE", "MAC_ADMIN",
    "MAC_OVERRIDE", "NET_ADMIN", "NET_BROADCAST", "PERFMON", "SYS_ADMIN", "SYS_BOOT",
    "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE", "SYS_RAWIO", "SYS_RESOURCE",
    "SYS_TIME", "SYS_TTY_CONFIG", "SYSLOG", "WAKE_ALARM"})
DEFAULT_PIDS_LIMIT = 1024  # processes per container: a fork bomb stays inside its box


def capability(name: str) -> str:
    """`net_admin`, `CAP_NET_ADMIN` -> `NET_ADMIN`; ValueError for a name Linux lacks."""
    cap = name.strip().upper().removeprefix("CAP_")
    if cap not in LINUX_CAPS:
        raise ValueError(f"{name!r} is not a Linux capability (e.g. NET_ADMIN, SYS_PTRACE)")
    return cap


@dataclass(frozen=True)
class ContainerPolicy:
    """The operator's limits on every container of this agent; no task can raise them.

    By default: at most `DEFAULT_PIDS_LIMIT` processes, `no-new-privileges` (setuid
    binaries cannot gain privileges), Docker's default capabilities minus
    `DROPPED_BY_DEFAULT`, and never more. `cap_add` is the operator's allow-list: each is
    given to every container (one from `DROPPED_BY_DEFAULT` is simply not dropped).
    """

    pids_limit: int = DEFAULT_PIDS_LIMIT  # 0 = unlimited
    allow_new_privileges: bool = False
    cap_add: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.pids_limit < 0:
            raise ValueError(f"pids limit {self.pids_limit} is negative; 0 means unlimited")
        object.__setattr__(self, "cap_add",
                           tuple(sorted({capability(c) for c in self.cap_add})))

    def host_config(self) -> dict[str, Any]:
        """Keyword arguments for `containers.create` that carry this policy."""
        kwargs: dict[str, Any] = {
            "pids_limit": self.pids_limit or -1,  # Docker: -1 is unlimited
            "cap_drop": [c for c in DROPPED_BY_DEFAULT if c not in self.cap_add],
        }
        extra = [c for c in self.cap_add if c not in DOCKER_DEFAULT_CAPS]
        if extra:
            kwargs["cap_add"] = extra
        if not self.allow_new_privileges:
            kwargs["security_opt"] = ["no-new-privileges:true"]
        return kwargs


def container_name(task_id: str) -> str:
    """A Docker container name for a task: `berth-<task id>`, with odd characters replaced."""
    return ("berth-" + _NAME_BAD.sub("_", task_id))[:MAX_NAME]


def container_labels(spec: LaunchSpec, agent_id: str) -> dict[str, str]:
    health = ({LABEL_HEALTH_CHECK: spec.health_check.model_dump_json(exclude_none=True)}
              if spec.health_check is not None else {})
    return {
        **spec.container_labels(), **health,
        LABEL_AGENT_ID: agent_id,
        LABEL_NAME: spec.name,
        LABEL_CPUS: repr(float(spec.cpus)),
        LABEL_MEM: repr(float(spec.mem)),
        LABEL_DISK: repr(float(spec.disk)),
        LABEL_NOTMETERED: "true" if spec.notmetered else "false",
        LABEL_ELASTIC: "true" if spec.elastic else "false",
        LABEL_PRIORITY: str(spec.priority),
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


def create_kwargs(spec: LaunchSpec, agent_id: str, binds: Sequence[Bind] | None = None,
                  policy: ContainerPolicy | None = None) -> dict[str, Any]:
    """Keyword arguments for `docker.client.containers.create`.

    `binds` are the checked, resolved volumes (VolumePolicy.check); without them the spec's
    paths are taken as written (tests of the mapping only). `policy` is the operator's.
    """
    entrypoint, command = entrypoint_and_command(spec)
    kwargs: dict[str, Any] = {
        "image": spec.image,
        "name": container_name(spec.task_id),
        "labels": container_labels(spec, agent_id),
        # The task's own id, so that what runs inside can tag the metrics it posts
        # (`POST /v1/metrics` with tags {"instance": $BERTH_INSTANCE}).
        "environment": {"BERTH_INSTANCE": spec.task_id, **spec.env},
        "network_mode": spec.network.value,
        # A quota rather than `nano_cpus`: Docker can `update` a quota later (elasticity),
        # never a NanoCPUs value. No swap beyond the memory limit: the two move together.
        **resource_kwargs(spec.cpus, spec.mem),
        "privileged": spec.privileged,
        # Docker's tiny init as PID 1: it forwards SIGTERM, so a task whose program has no
        # handler of its own (PID 1 ignores signals by default) stops at once on a kill
        # instead of waiting out the whole grace period; it also reaps zombies.
        "init": True,
        "detach": True,
        **(policy or ContainerPolicy()).host_config(),
    }
    if entrypoint is not None:
        kwargs["entrypoint"] = entrypoint
    if command is not None:
        kwargs["command"] = command
    if spec.ports and spec.network is NetworkMode.BRIDGE:
        kwargs["ports"] = {f"{m.container_port}/{m.protocol}": m.host_port for m in spec.ports}
    if binds is None:
        binds = [Bind(v.host_path or v.name or "", v.container_path, v.mode,
                      v.host_path or v.name or "") for v in spec.volumes]
    if binds:
        kwargs["volumes"] = {b.host_path: {"bind": b.container_path, "mode": b.mode}
                             for b in binds}
    return kwargs


def resource_kwargs(cpus: float, mem: float) -> dict[str, int]:
    """Docker's CPU quota and memory (and swap) limit for `cpus` cores and `mem` MiB: the
    same keywords for `containers.create` and for `update_container`."""
    memory = max(int(mem * MIB), MIN_MEM)
    return {"cpu_period": CPU_PERIOD, "cpu_quota": max(int(cpus * CPU_PERIOD), MIN_CPU_QUOTA),
            "mem_limit": memory, "memswap_limit": memory}


def limits_from_host_config(host_config: dict[str, Any]) -> tuple[float, float] | None:
    """(cpus, MiB) a container runs with now, from `docker inspect`'s HostConfig."""
    quota, period = host_config.get("CpuQuota") or 0, host_config.get("CpuPeriod") or 0
    nano, memory = host_config.get("NanoCpus") or 0, host_config.get("Memory") or 0
    if quota > 0 and period > 0:
        cpus = quota / period
    elif nano > 0:
        cpus = nano / 1e9
    else:
        return None
    return cpus, memory / MIB


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


def class_from_labels(labels: dict[str, str]) -> tuple[bool, int]:
    """(elastic, priority) of an adopted container (elastic when the label is missing)."""
    try:
        priority = int(labels.get(LABEL_PRIORITY, "0"))
    except ValueError:
        priority = 0
    return labels.get(LABEL_ELASTIC, "true") != "false", priority


def allocation_from_labels(labels: dict[str, str]) -> tuple[float, float, float]:
    def number(key: str) -> float:
        try:
            return float(labels.get(key, "0"))
        except ValueError:
            return 0.0
    return number(LABEL_CPUS), number(LABEL_MEM), number(LABEL_DISK)


def health_check_from_labels(labels: dict[str, str]) -> HealthCheck | None:
    """The health check an adopted container was launched with (None: none, or a label
    this agent cannot read, which it logs rather than refusing the container)."""
    text = labels.get(LABEL_HEALTH_CHECK)
    if not text:
        return None
    try:
        return HealthCheck.model_validate_json(text)
    except ValueError:
        return None


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
