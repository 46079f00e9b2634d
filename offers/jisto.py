"""Jisto's jobs as berth jobs: a draft (a name, its tasks, the job source's options) and
the berth job it stands for once run.

A Jisto task is one more run of an image in its job: the same image added 20 times is a
job of 20 iterations; several images make a multi-image job. So a draft becomes one
`batch` job with a template per distinct (image, env), whose `count` is how many tasks
asked for it. A job source archive's `config.json` (seed 000, section 3.2.1) says the
iterations and the container options; its numbers come as strings, as the seed writes
them. Pure: parsing and mapping only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from offers.job import MAX_INSTANCES, JobSpec, JobType, _whole, parse_job
from offers.problems import FieldProblem, SpecError, problems_from
from offers.task import Port

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_NAME = 255  # a Jisto job name is free text: it is shown, never used as an id
MAX_TEMPLATES = 100  # distinct (image, env) pairs per job: JobSpec's `tasks` bound
OPERATIONS = ("RunJob", "StopJob", "CancelJob", "DeleteJob")


def parse_env(text: str) -> dict[str, str]:
    """`"SLEEP_TIME=300;baz=quux"` -> `{"SLEEP_TIME": "300", "baz": "quux"}`; empty pieces
    (a trailing `;`) are skipped. ValueError naming the piece that is not `NAME=value`."""
    env: dict[str, str] = {}
    for piece in text.split(";"):
        if not piece.strip():
            continue
        name, sep, value = piece.partition("=")
        name = name.strip()
        if not sep or not ENV_NAME.match(name):
            raise ValueError(f"{piece!r} is not NAME=value (a name is letters, digits and "
                             "'_', not starting with a digit; pairs are separated by ';')")
        env[name] = value
    return env


def _env(value: Any) -> Any:
    return parse_env(value) if isinstance(value, str) else value


def _flag(value: Any) -> Any:
    """The seed writes `"privileged": "true"`; a JSON boolean is taken too."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} is not true or false")
    return value


def _path(value: Any) -> Any:
    if isinstance(value, str) and not value.startswith("/"):
        raise ValueError(f"{value!r} is not an absolute path")
    return value


def _iterations(value: Any) -> Any:
    try:
        count = _whole(value)
    except ValueError as exc:
        raise ValueError(f"must be a positive whole number, e.g. \"20\": {exc}") from None
    if isinstance(count, int) and not 1 <= count <= MAX_INSTANCES:
        raise ValueError(f"must be a positive whole number up to {MAX_INSTANCES}, "
                         f"not {count}")
    return count


Env = Annotated[dict[str, str], BeforeValidator(_env)]
Flag = Annotated[bool, BeforeValidator(_flag)]
AbsolutePath = Annotated[str, BeforeValidator(_path)]


class JobOptions(BaseModel):
    """`options` of a job source: how every container of the job runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    net: str | None = None  # "host": the node's network; anything else: bridged
    privileged: Flag = False
    volumes: dict[AbsolutePath, AbsolutePath] = Field(default_factory=dict)  # host: container
    tcpports: dict[Port, Port] = Field(default_factory=dict)  # host: container
    udpports: dict[Port, Port] = Field(default_factory=dict)
    env: Env = Field(default_factory=dict)

    @property
    def host_network(self) -> bool:
        return (self.net or "").strip().lower() == "host"

    def template_fields(self) -> dict[str, Any]:
        """The options as fields of a berth task template (env apart)."""
        ports = [{"host_port": host, "container_port": inside, "protocol": protocol}
                 for protocol, pairs in (("tcp", self.tcpports), ("udp", self.udpports))
                 for host, inside in pairs.items()]
        return {"networkmode": "host" if self.host_network else "bridge",
                "privileged": self.privileged,
                "volumes": [{"host_path": host, "container_path": inside}
                            for host, inside in self.volumes.items()],
                "ports": ports}


class JobSource(BaseModel):
    """A job source's `config.json`: how many runs, the job's name, the options; `env`
    also at the top level, as the seed's own example has it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    iterations: Annotated[int, BeforeValidator(_iterations)]
    jobName: str | None = Field(None, min_length=1, max_length=MAX_NAME)  # as the seed spells it
    options: JobOptions = JobOptions()
    env: Env = Field(default_factory=dict)

    @property
    def all_env(self) -> dict[str, str]:
        """The top level's env with the options' on top."""
        return {**self.env, **self.options.env}


def parse_job_source(data: Any) -> JobSource:
    """Validate a decoded config.json; SpecError naming each bad field (`iterations`,
    `options.tcpports`...), including ports asked for on the host's network."""
    if not isinstance(data, dict):
        raise SpecError([FieldProblem("config.json", "must be a JSON object, not "
                                                     f"{type(data).__name__}")])
    try:
        source = JobSource.model_validate(data)
    except ValidationError as exc:
        raise SpecError([FieldProblem(p.field.replace(".[key]", ""), p.problem)
                         for p in problems_from(exc)]) from None
    if source.options.host_network:
        clash = [FieldProblem(f"options.{name}", 'cannot be used with "net": "host" (the '
                                                 "container shares the node's ports)")
                 for name in ("tcpports", "udpports") if getattr(source.options, name)]
        if clash:
            raise SpecError(clash)
    return source


# -- drafts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class JistoTask:
    """One task: `count` more runs of `image` with `env` (1 from `POST /v1/task`,
    `iterations` from a job source)."""

    uuid: str
    image: str
    env: tuple[tuple[str, str], ...] = ()
    count: int = 1
    name: str | None = None  # the CLI's optional task_name, shown only


@dataclass(frozen=True)
class JistoJob:
    """A Jisto job: what exists before (and beside) the berth job it runs as. `op` is
    the last operation asked of it (a stop says whether it was a cancel)."""

    uuid: str
    name: str
    namespace: str
    created_at: float
    tasks: tuple[JistoTask, ...] = ()
    options: JobOptions | None = None
    op: str | None = None

    @property
    def iterations(self) -> int:
        return sum(task.count for task in self.tasks)

    @property
    def berth_name(self) -> str:
        return berth_job_name(self.name, self.uuid)


def check_name(name: Any) -> str:
    """A Jisto job name: free text, not empty, shown as given. ValueError saying why not."""
    if not isinstance(name, str):
        raise ValueError(f"must be a string, not {type(name).__name__}")
    if not name.strip():
        raise ValueError("must not be empty")
    if len(name) > MAX_NAME:
        raise ValueError(f"is {len(name)} characters long; at most {MAX_NAME}")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValueError("must not contain control characters")
    return name


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def berth_job_name(name: str, uuid: str) -> str:
    """The berth job a Jisto job runs as: its name made a valid job name, then the first
    8 hex digits of its UUID (`Hello World!` -> `Hello-World-1685d125`)."""
    base = _UNSAFE.sub("-", name).strip("-_.")[:64].rstrip("-_.") or "jisto"
    return f"{base}-{uuid.replace('-', '')[:8]}"


def templates(job: JistoJob) -> list[tuple[str, dict[str, str], int]]:
    """(image, env, count) per distinct image and env, in the order first added."""
    counts: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
    for task in job.tasks:
        key = (task.image, tuple(sorted(task.env)))
        counts[key] = counts.get(key, 0) + task.count
    return [(image, dict(env), count) for (image, env), count in counts.items()]


def job_spec(job: JistoJob) -> JobSpec:
    """The berth job a draft runs as; SpecError if it has no task (or cannot run)."""
    if not job.tasks:
        raise SpecError([FieldProblem("tasks", "the job has no task yet: add one with "
                                               "POST /v1/task")])
    fields = job.options.template_fields() if job.options is not None else {}
    base_env = job.options.env if job.options is not None else {}
    return parse_job({
        "name": job.berth_name, "type": JobType.BATCH.value, "namespace": job.namespace,
        "tasks": [{"dockerimage": image, "env": {**base_env, **env}, "count": count,
                   **fields} for image, env, count in templates(job)]})


def task_problems(image: Any, env: dict[str, str]) -> list[FieldProblem]:
    """What is wrong with a task's image (as berth would run it), by Jisto's field names."""
    try:
        parse_job({"name": "check", "type": "batch",
                   "task": {"dockerimage": image, "env": env}})
    except SpecError as exc:
        names = {"task.dockerimage": "Image", "task.env": "Env"}
        return [FieldProblem(names.get(p.field, p.field), p.problem) for p in exc.problems]
    return []
