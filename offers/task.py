"""The task spec: Charmander's task JSON plus berth's own optional fields.

Charmander sends numbers as strings (`"mem": "50"`); both forms are accepted. Everything
else that could not run is refused here, with the field named, before anything is queued.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from offers.constraints import Constraint, parse_constraint
from offers.health import HealthCheck, port_problem
from offers.problems import FieldProblem, SpecError, problems_from
from offers.task_fields import Port, Text
from offers.task_fields import finite as _finite
from offers.task_fields import no_nul as _no_nul
from offers.task_fields import number as _number
from offers.task_fields import stored as _stored

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MAX_ID_LENGTH = 128  # Docker allows longer names; the internal id adds 20 characters.

# Upper bounds that no real machine reaches: they catch typos such as a size in bytes.
MAX_CPUS = 4096.0
MAX_MEM_MIB = 64 * 1024 * 1024  # 64 TiB
MAX_DISK_MIB = 1024 * 1024 * 1024  # 1 EiB

# Lower bounds Docker can honour: it refuses a CPU quota below 0.01 cores, and a TaskInfo
# carries six decimals, so a smaller size reaches the master as 0. Memory below 4 MiB runs
# nothing (Docker itself raises a limit to 6 MiB, which the agent does). Disk is optional
# (0: no disk asked for); given, it is at least 1 MiB, the unit every backend counts in.
# Each also keeps the placement core's arithmetic in range (free / demand stays finite).
MIN_CPUS = 0.01
MIN_MEM_MIB = 4.0
MIN_DISK_MIB = 1.0

# Validation context for specs read back from a store: checks added after they may have
# been stored (the minimum sizes, NUL bytes) are skipped, so that such a spec can still be
# shown and quarantined (see `parse_stored_task`) instead of stopping recovery.
STORED = {"stored": True}

DEFAULT_CPUS = 0.1  # Nomad's default is 100 MHz; Charmander's examples often give none.
DEFAULT_MEM = 128.0  # Marathon's default.


class SLA(StrEnum):
    SINGLETON = "singleton"
    ONE_PER_NODE = "one-per-node"


class NetworkMode(StrEnum):
    BRIDGE = "bridge"
    HOST = "host"
    NONE = "none"


def normalize_id(value: str) -> str:
    """Charmander drops spaces from ids; what is left must work as a container name and as
    a URL path segment. Raises ValueError saying why not."""
    task_id = "".join(value.split())
    if not task_id:
        raise ValueError("must not be empty")
    if len(task_id) > MAX_ID_LENGTH:
        raise ValueError(f"is {len(task_id)} characters long; at most {MAX_ID_LENGTH}")
    if not ID_PATTERN.match(task_id):
        raise ValueError(
            f"{task_id!r} cannot be a container name or URL path segment; "
            "use letters, digits, '_', '.', '-', starting with a letter or digit"
        )
    return task_id


def _size(value: Any, info: ValidationInfo) -> Any:
    """A size (`mem`, `cpus`, `disk`): a number, and not below what can run. Refused by
    name before anything else is said of it (a `mem` of 0 is "at least 4 MiB", not
    "greater than 0"; a negative `disk` is left to its `ge=0`); specs read back from a
    store skip the minimums (`STORED`)."""
    size = _number(value)
    if isinstance(size, int | float) and not _stored(info):
        minimum = _MINIMUMS[info.field_name]
        if size < minimum[0] and not (info.field_name == "disk" and size <= 0):
            raise ValueError(minimum[1].format(size))
    return size


_MINIMUMS = {
    "cpus": (MIN_CPUS, f"must be at least {MIN_CPUS:g} cores (Docker cannot run a "
                       "container on less), not {:g}"),
    "mem": (MIN_MEM_MIB, f"must be at least {MIN_MEM_MIB:g} MiB (no container runs in "
                         "less), not {:g}"),
    "disk": (MIN_DISK_MIB, f"must be 0 or at least {MIN_DISK_MIB:g} MiB, not {{:g}}"),
}

Number = Annotated[float, BeforeValidator(_number)]
Size = Annotated[float, BeforeValidator(_size)]
# Marathon's `[field, OPERATOR, value?]`; a problem names its position (`constraints[1][2]`).
ConstraintItem = Annotated[Constraint, BeforeValidator(parse_constraint)]


class PortMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host_port: Port
    container_port: Port
    protocol: str = Field("tcp", pattern=r"^(tcp|udp)$")


DOCKER_VOLUME_NAME = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$"


class Volume(BaseModel):
    """A host path mounted into the container, or (`name` instead of `host_path`) a named
    Docker volume, which the node's engine creates at first use and keeps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host_path: str | None = None
    container_path: str
    mode: str = "rw"
    name: str | None = Field(None, pattern=DOCKER_VOLUME_NAME)

    @model_serializer(mode="wrap")
    def _without_the_unused_source(self, handler: Any) -> dict[str, Any]:
        """A host-path volume is written as before named volumes existed (and the other
        way round): the source not used is left out."""
        return {k: v for k, v in handler(self).items()
                if not (k in ("host_path", "name") and v is None)}

    @model_validator(mode="after")
    def _one_source(self) -> Volume:
        if (self.host_path is None) == (self.name is None):
            raise ValueError("give either host_path or name (a Docker volume)")
        return self

    @field_validator("host_path", "container_path")
    @classmethod
    def _absolute(cls, path: str | None) -> str | None:
        if path is None:
            return None
        if not path.startswith("/"):
            raise ValueError(f"{path!r} is not an absolute path (it must start with /)")
        if "\x00" in path or ":" in path:
            raise ValueError(f"{path!r} may not contain ':' or NUL")
        return path

    @field_validator("mode")
    @classmethod
    def _mode(cls, mode: str) -> str:
        if mode not in ("ro", "rw"):
            raise ValueError(f"{mode!r} is not a volume mode; use 'ro' or 'rw'")
        return mode


# A namespace is a DNS label, as in Kubernetes: it appears in URLs and container labels.
NAMESPACE_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
DEFAULT_NAMESPACE = "default"


class TaskSpec(BaseModel):
    """One Charmander task: a container with its size, SLA, ports and volumes."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    # In a slot rather than the instance dict: placement reads it from every task of a
    # batch, and a slot is one memory access where a dict lookup is several.
    __slots__ = ("placement_key",)

    id: str
    dockerimage: Annotated[str, AfterValidator(_no_nul)] = Field(min_length=1, max_length=512)
    mem: Size = Field(DEFAULT_MEM, gt=0, le=MAX_MEM_MIB)
    cpus: Size = Field(DEFAULT_CPUS, gt=0, le=MAX_CPUS)
    disk: Size = Field(0.0, ge=0, le=MAX_DISK_MIB)
    sla: SLA | None = None
    nodetype: Annotated[str, AfterValidator(_no_nul)] | None = Field(
        None, min_length=1, max_length=64)
    notmetered: bool = False
    # The seed's field list spells it "reshuffeable"; both spellings are accepted.
    reshuffleable: bool = Field(False, validation_alias="reshuffleable")
    ports: tuple[PortMapping, ...] = ()
    volumes: tuple[Volume, ...] = ()
    networkmode: NetworkMode = NetworkMode.BRIDGE
    arguments: tuple[Text, ...] = ()
    env: dict[str, Text] = Field(default_factory=dict)
    privileged: bool = False
    # berth's own: placement constraints on agent attributes, and the order of service
    # (higher first; equal priorities in submission order).
    constraints: tuple[ConstraintItem, ...] = ()
    priority: int = Field(0, ge=-1_000_000, le=1_000_000)
    # Jisto's class of work: elastic (incumbent-safe secondary work, the default) yields
    # CPU and memory to the node's own load and may run on revocable capacity; False keeps
    # its size and is placed only on what is spare after the incumbent's peak.
    elastic: bool = True
    # Whose work this is: quotas, credits and who may see or act on it (access/).
    namespace: str = Field(DEFAULT_NAMESPACE, pattern=NAMESPACE_PATTERN)
    # Checked by the agent next to the container (offers/health.py); unhealthy instances
    # are killed and restarted by their job's policy.
    health_check: HealthCheck | None = None

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if isinstance(data, dict) and "reshuffeable" in data:
            data = dict(data)
            value = data.pop("reshuffeable")
            data.setdefault("reshuffleable", value)
        return data

    @field_validator("priority", mode="before")
    @classmethod
    def _whole(cls, value: Any) -> Any:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"must be a whole number, not {value!r}")
        return value

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> Any:
        return normalize_id(value) if isinstance(value, str) else value

    @field_validator("dockerimage")
    @classmethod
    def _image(cls, image: str) -> str:
        if image != image.strip() or any(c.isspace() for c in image):
            raise ValueError(f"{image!r} is not an image name (it contains white space)")
        return image

    @field_validator("mem", "cpus", "disk")
    @classmethod
    def _finite_sizes(cls, value: float) -> float:
        return _finite(value)

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        for name in env:
            if "\x00" in name and not _stored(info):
                raise ValueError(f"{name!r} is not an environment variable name (it "
                                 "contains NUL)")
            if not name or "=" in name:
                raise ValueError(f"{name!r} is not an environment variable name")
        return env

    @model_validator(mode="after")
    def _ports_fit_network(self) -> TaskSpec:
        if self.ports and self.networkmode is not NetworkMode.BRIDGE:
            why = ("shares the host's ports" if self.networkmode is NetworkMode.HOST
                   else "has no network")
            raise ValueError(
                f"ports: host port mappings need networkmode 'bridge'; with "
                f"'{self.networkmode}' the container {why}"
            )
        seen: set[tuple[int, str]] = set()
        for mapping in self.ports:
            key = (mapping.host_port, mapping.protocol)
            if key in seen:
                raise ValueError(
                    f"ports: host port {mapping.host_port}/{mapping.protocol} is given twice"
                )
            seen.add(key)
        return self

    @model_validator(mode="after")
    def _health_check_reachable(self) -> TaskSpec:
        if self.health_check is not None:
            problem = port_problem(self.health_check, self.container_ports,
                                   self.networkmode.value)
            if problem is not None:
                raise ValueError(f"{problem[0]}: {problem[1]}")
        return self

    # -- views used by placement -------------------------------------------------------

    @model_validator(mode="after")
    def _keep_placement_key(self) -> TaskSpec:
        # Made here, with the spec, and shared by its copies under other ids (`with_id`):
        # a batch of a hundred thousand tasks then reads it, never builds it.
        object.__setattr__(self, "placement_key", self._placement_key())
        return self

    def _placement_key(self) -> tuple:
        """What tells placement classes apart: (cpus, mem, disk, nodetype, sla, ports),
        then (constraints, priority) when either is set. (Whether work is elastic is
        not placement's business: the offer round places the two kinds apart.)"""
        key = (self.cpus, self.mem, self.disk, self.nodetype, self.sla, self.ports)
        return (*key, self.constraints, self.priority) if (
            self.constraints or self.priority) else key

    def __getstate__(self) -> dict[str, Any]:
        # Pickled with the key, so that specs sharing one key share it again when loaded.
        return {**super().__getstate__(), "placement_key": self.placement_key}

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        key = state.pop("placement_key", None)
        super().__setstate__(state)
        if key is not None:
            object.__setattr__(self, "placement_key", key)

    def __getattr__(self, name: str) -> Any:
        # A spec not made by validation (a copy with other values, constructed) has an
        # empty key slot: the key is made on first use.
        if name == "placement_key":
            key = self._placement_key()
            object.__setattr__(self, name, key)
            return key
        return super().__getattr__(name)

    @property
    def container_ports(self) -> tuple[int, ...]:
        """The container side of each port mapping, in order (what `port_index` counts)."""
        return tuple(m.container_port for m in self.ports)

    @property
    def host_ports(self) -> tuple[int, ...]:
        return tuple(sorted({m.host_port for m in self.ports}))

    def demand(self) -> tuple[float, float, float]:
        """Requested (cpus, mem MiB, disk MiB), in the column order of `offers.resources`."""
        return (self.cpus, self.mem, self.disk)

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False
                   ) -> TaskSpec:
        copied = super().model_copy(update=update, deep=deep)
        if not update or set(update) == {"id"}:  # the same key: shared, not made again
            object.__setattr__(copied, "placement_key", self.placement_key)
        return copied

    def with_id(self, task_id: str) -> TaskSpec:
        """The same spec under another (already normalized) id, sharing everything else:
        a million tasks of a few shapes cost a few validations, not a million."""
        return self.model_copy(update={"id": task_id})

    def to_json(self) -> dict[str, Any]:
        """The spec as Charmander-style JSON, defaults included."""
        return self.model_dump(mode="json")


def parse_task(data: Any) -> TaskSpec:
    """Validate one task JSON object; raise SpecError naming every bad field."""
    if not isinstance(data, dict):
        raise SpecError(
            [_problem("", f"a task must be a JSON object, not {type(data).__name__}")]
        )
    try:
        return TaskSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(problems_from(exc)) from None


def parse_stored_task(data: Any) -> tuple[TaskSpec, list[FieldProblem]]:
    """A spec read back from a store: the spec and what today's validation says against it.

    A spec stored before a check was added (a `cpus` of 0.0000001) still comes back, so
    the task can be listed and ended `ERROR` with the problems as its reason; only a spec
    that was never valid raises SpecError.
    """
    try:
        return TaskSpec.model_validate(data), []
    except ValidationError as exc:
        problems = problems_from(exc)
    try:
        return TaskSpec.model_validate(data, context=STORED), problems
    except ValidationError as exc:
        raise SpecError(problems_from(exc)) from None


def _problem(field: str, problem: str) -> FieldProblem:
    return FieldProblem(field, problem)
