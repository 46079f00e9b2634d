"""A task's health check, Marathon's anchor: an HTTP GET, a TCP connect or a command run
inside the container, every `interval` seconds, each given `timeout` seconds; failures in
the first `grace` seconds do not count, and `max_failures` counted failures in a row kill
the instance (its job's restart policy starts it again).

Given on a task or job template as `health_check`; the port is the container's (`port`) or
the index of one of the task's port mappings (`port_index`). `resolved` turns an index into
the container port before the launch, so what reaches the agent names a port.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from offers.task_fields import Port, Text, number

MAX_CHECK_SECONDS = 24 * 3600.0  # an interval beyond a day is a typo
Seconds = Annotated[float, BeforeValidator(number)]


def _path(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"{path!r} is not a URL path (it must start with /)")
    if any(c.isspace() or ord(c) < 32 for c in path):
        raise ValueError(f"{path!r} is not a URL path (it contains white space or control "
                         "characters)")
    return path


class _Target(BaseModel):
    """Where a network check connects: the container's `port`, or `port_index` into the
    task's `ports` (Marathon's portIndex); neither means the first mapping."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    port: Port | None = None
    port_index: int | None = Field(None, ge=0, le=1000)

    @field_validator("port_index")
    @classmethod
    def _one_port(cls, index: int | None, info: ValidationInfo) -> int | None:
        if index is not None and info.data.get("port") is not None:
            raise ValueError("give `port` or `port_index`, not both")
        return index


class HttpCheck(_Target):
    """Healthy when a GET of `path` answers `status` (any 2xx or 3xx when not given)."""

    path: Annotated[str, AfterValidator(_path)] = Field("/", max_length=2048)
    status: int | None = Field(None, ge=100, le=599)


class TcpCheck(_Target):
    """Healthy when a TCP connection to the port opens."""


class HealthCheck(BaseModel):
    """One of `http`, `tcp` or `command` (an argv run with Docker exec; exit 0 is healthy),
    and when and how often it runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    http: HttpCheck | None = None
    tcp: TcpCheck | None = None
    command: tuple[Text, ...] | None = Field(None, min_length=1, max_length=256)
    grace: Seconds = Field(30.0, ge=0, le=MAX_CHECK_SECONDS)
    interval: Seconds = Field(10.0, ge=0.1, le=MAX_CHECK_SECONDS)
    timeout: Seconds = Field(5.0, gt=0, le=MAX_CHECK_SECONDS)
    max_failures: int = Field(3, ge=1, le=1000)

    @field_validator("max_failures", mode="before")
    @classmethod
    def _whole(cls, value: Any) -> Any:
        value = number(value)
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError(f"{value:g} is not a whole number")
            value = int(value)
        return value

    @field_validator("timeout")
    @classmethod
    def _within_interval(cls, timeout: float, info: ValidationInfo) -> float:
        interval = info.data.get("interval")
        if interval is not None and timeout > interval:
            raise ValueError(f"must not exceed interval ({interval:g} s), not {timeout:g} s: "
                             "a check would still run when the next one is due")
        return timeout

    @field_validator("command")
    @classmethod
    def _argv(cls, argv: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if argv is not None and not argv[0]:
            raise ValueError("the program to run (its first item) must not be empty")
        return argv

    @model_validator(mode="after")
    def _one_kind(self) -> HealthCheck:
        given = [k for k in ("http", "tcp", "command") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `http`, `tcp` or `command`"
                             + (f", not {' and '.join(given)}" if given else ""))
        return self

    @property
    def kind(self) -> str:
        return "http" if self.http else "tcp" if self.tcp else "command"

    @property
    def target(self) -> HttpCheck | TcpCheck | None:
        return self.http or self.tcp

    def describe(self) -> str:
        """What is checked, as a person reads it: `GET :8080/health`, `tcp :6379`."""
        if self.http is not None:
            return f"GET :{self.http.port}{self.http.path}"
        if self.tcp is not None:
            return f"tcp :{self.tcp.port}"
        return "command " + " ".join(self.command or ())

    def resolved(self, container_ports: tuple[int, ...]) -> HealthCheck:
        """The same check naming the container port its `port_index` (or the first
        mapping, when neither is given) stands for. `port_problem` says when it cannot."""
        target = self.target
        if target is None or target.port is not None:
            return self
        port = container_ports[target.port_index or 0]
        return self.model_copy(update={self.kind: target.model_copy(
            update={"port": port, "port_index": None})})


def port_problem(check: HealthCheck, container_ports: tuple[int, ...],
                 network: str) -> tuple[str, str] | None:
    """(field, problem) when a network check has no port to reach, else None. `network`
    is the task's `networkmode`."""
    target = check.target
    if target is None:
        return None
    field = f"health_check.{check.kind}"
    if network == "none":
        return field, "a task with networkmode 'none' cannot be reached; use a `command` check"
    if target.port is not None:
        return None
    if target.port_index is not None and target.port_index >= len(container_ports):
        return (f"{field}.port_index",
                f"is {target.port_index} but the task has {len(container_ports)} port "
                "mapping(s)")
    if not container_ports:
        return f"{field}.port", "is required when the task has no port mappings"
    return None
