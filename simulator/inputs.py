"""Reading the simulator's input files, naming the file, line, field and problem of any error.

- workload: JSON Lines, one Charmander task JSON per line plus the simulator-only keys
  `submit_at` (seconds, default 0), `duration` (seconds; absent or null: runs until the end)
  and `used` (`{"cpus", "mem"}` actually used, for metering and `intelligence`); or a job
  line `{"submit_at", "job": {the job JSON}, "duration", "fail_rate", "used"}`, whose
  every instance runs `duration` and then exits 1 with probability `fail_rate`, else 0,
  and whose `metrics` (`{"name": [[t, total], ...]}`) the autoscaler reads; or a load
  line `{"at", "node", "incumbent": {"cpus", "mem"}}` setting a node's own load.
- cluster: a JSON list of nodes as `offers.cluster.NodeSpec`, read by `offers.formats`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from offers.cluster import NodeSpec
from offers.formats import FileError, parse_cluster
from offers.job import JobSpec, parse_job
from offers.problems import FieldProblem, SpecError, problems_from
from offers.task import TaskSpec, parse_task

WORKLOAD_KEYS = ("submit_at", "duration", "used")
JOB_KEYS = ("submit_at", "job", "duration", "fail_rate", "used", "metrics")
LOAD_KEYS = ("at", "node", "incumbent")
METRIC_NAME = r"^[A-Za-z0-9_.:-]{1,100}$"


class InputError(ValueError):
    """A bad input file: every problem found, each with its file, line and field."""

    def __init__(self, path: str | Path, problems: list[tuple[int, FieldProblem]]):
        self.path = str(path)
        self.problems = problems
        super().__init__("\n".join(
            f"{self.path}:{line}: {p.field or '(line)'}: {p.problem}" for line, p in problems))


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One submitted task and what the simulated world will do with it."""

    spec: TaskSpec
    submit_at: float
    duration: float | None  # None: runs until the end of the simulation
    used: tuple[float, float] | None  # actual (cpus, mem MiB); None: uses what it asked for
    line: int = 0


@dataclass(frozen=True, slots=True)
class JobItem:
    """One submitted job and what each of its instances will do."""

    spec: JobSpec
    submit_at: float
    duration: float | None  # per instance; None: runs until the end of the simulation
    fail_rate: float  # the share of instances that exit 1 instead of 0
    used: tuple[float, float] | None
    line: int = 0
    # name -> step curve ((t, the job's total), ...): each running instance reports the
    # total shared by the running instances (a load spread over them) to the autoscaler
    metrics: tuple[tuple[str, tuple[tuple[float, float], ...]], ...] = ()

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True, slots=True)
class IncumbentStep:
    """From `at` on, the node's own programs use `cpus` and `mem` (a hand-made load curve;
    an `--incumbent-load` curve, if any, replaces it at its next update)."""

    at: float
    node: str  # hostname
    cpus: float
    mem: float
    line: int = 0

    @property
    def submit_at(self) -> float:  # workload order
        return self.at


class _Used(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    cpus: float = Field(ge=0, le=1e6, allow_inf_nan=False)
    mem: float = Field(ge=0, le=1e12, allow_inf_nan=False)


class _Timing(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    submit_at: float = Field(0.0, ge=0, allow_inf_nan=False)
    duration: float | None = Field(None, gt=0, allow_inf_nan=False)
    used: _Used | None = None


Point = tuple[Annotated[float, Field(ge=0, allow_inf_nan=False)],
              Annotated[float, Field(ge=0, allow_inf_nan=False)]]


class _JobTiming(_Timing):
    fail_rate: float = Field(0.0, ge=0, le=1, allow_inf_nan=False)
    metrics: dict[Annotated[str, Field(pattern=METRIC_NAME)],
                  Annotated[list[Point], Field(min_length=1, max_length=100_000)]] = {}


class _Load(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    at: float = Field(ge=0, allow_inf_nan=False)
    node: str = Field(min_length=1)
    incumbent: _Used


def parse_incumbent_step(data: dict[str, Any], line: int = 0) -> IncumbentStep:
    """A load line: `{"at", "node", "incumbent": {"cpus", "mem"}}`."""
    try:
        load = _Load.model_validate(data)
    except ValidationError as exc:
        raise SpecError(problems_from(exc)) from None
    return IncumbentStep(load.at, load.node, load.incumbent.cpus, load.incumbent.mem, line)


def parse_work_item(data: Any, line: int = 0) -> WorkItem | JobItem | IncumbentStep:
    """One workload line (already decoded JSON); raises SpecError naming every bad field."""
    if not isinstance(data, dict):
        raise SpecError([FieldProblem("", "a workload line must be a JSON object")])
    if "job" in data:
        return parse_job_item(data, line)
    if "incumbent" in data:
        return parse_incumbent_step(data, line)
    extras = {k: data[k] for k in WORKLOAD_KEYS if k in data}
    task = {k: v for k, v in data.items() if k not in WORKLOAD_KEYS}
    problems: list[FieldProblem] = []
    spec = timing = None
    try:
        spec = parse_task(task)
    except SpecError as exc:
        problems.extend(exc.problems)
    try:
        timing = _Timing.model_validate(extras)
    except ValidationError as exc:
        problems.extend(problems_from(exc))
    if problems or spec is None or timing is None:
        raise SpecError(problems)
    used = (timing.used.cpus, timing.used.mem) if timing.used else None
    return WorkItem(spec, timing.submit_at, timing.duration, used, line)


def parse_job_item(data: dict[str, Any], line: int = 0) -> JobItem:
    """A job line; the job's own problems are named `job.<field>`."""
    problems = [FieldProblem(key, f"unknown field (a job line has {', '.join(JOB_KEYS)}; "
                                  "the job's own fields go inside `job`)")
                for key in data if key not in JOB_KEYS]
    spec = timing = None
    try:
        spec = parse_job(data["job"])
    except SpecError as exc:
        problems.extend(FieldProblem(f"job.{p.field}" if p.field else "job", p.problem)
                        for p in exc.problems)
    try:
        timing = _JobTiming.model_validate({k: data[k] for k in JOB_KEYS
                                            if k in data and k != "job"})
    except ValidationError as exc:
        problems.extend(problems_from(exc))
    if problems or spec is None or timing is None:
        raise SpecError(problems)
    used = (timing.used.cpus, timing.used.mem) if timing.used else None
    metrics = tuple((name, tuple(sorted(points))) for name, points in
                    sorted(timing.metrics.items()))
    return JobItem(spec, timing.submit_at, timing.duration, timing.fail_rate, used, line,
                   metrics)


def read_workload(path: str | Path) -> list[WorkItem | JobItem | IncumbentStep]:
    """All items of a workload file in submission order (stable for equal `submit_at`)."""
    items: list[WorkItem | JobItem | IncumbentStep] = []
    problems: list[tuple[int, FieldProblem]] = []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8") as fh:
        for number, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                problems.append((number, FieldProblem("", f"not JSON: {exc.msg} "
                                                          f"at column {exc.colno}")))
                continue
            try:
                item = parse_work_item(data, number)
            except SpecError as exc:
                problems.extend((number, p) for p in exc.problems)
                continue
            if isinstance(item, IncumbentStep):
                items.append(item)
                continue
            name, field = ((item.spec.name, "job.name") if isinstance(item, JobItem)
                           else (item.spec.id, "id"))
            if name in seen:
                problems.append((number, FieldProblem(
                    field, f"{name!r} is already used on line {seen[name]}; "
                           "ids and job names in a workload must be unique")))
                continue
            seen[name] = number
            items.append(item)
    if problems:
        raise InputError(path, problems)
    items.sort(key=lambda item: item.submit_at)
    return items


def read_cluster(path: str | Path) -> list[NodeSpec]:
    """The nodes of a cluster file, parsed as `berth place` parses them."""
    try:
        nodes = parse_cluster(Path(path).read_text(encoding="utf-8"), str(path))
    except FileError as exc:
        raise InputError(path, [(p.line, FieldProblem(p.field, p.problem))
                                for p in exc.problems]) from None
    if not nodes:
        raise InputError(path, [(1, FieldProblem("", "the cluster has no nodes"))])
    return nodes
