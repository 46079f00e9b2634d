"""Reading the simulator's input files, naming the file, line, field and problem of any error.

- workload: JSON Lines, one Charmander task JSON per line plus the simulator-only keys
  `submit_at` (seconds, default 0), `duration` (seconds; absent or null: runs until the end)
  and `used` (`{"cpus", "mem"}` actually used, for metering and `intelligence`).
- cluster: a JSON list of nodes as `offers.cluster.NodeSpec`, read by `offers.formats`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from offers.cluster import NodeSpec
from offers.formats import FileError, parse_cluster
from offers.problems import FieldProblem, SpecError, problems_from
from offers.task import TaskSpec, parse_task

WORKLOAD_KEYS = ("submit_at", "duration", "used")


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


class _Used(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    cpus: float = Field(ge=0, le=1e6, allow_inf_nan=False)
    mem: float = Field(ge=0, le=1e12, allow_inf_nan=False)


class _Timing(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    submit_at: float = Field(0.0, ge=0, allow_inf_nan=False)
    duration: float | None = Field(None, gt=0, allow_inf_nan=False)
    used: _Used | None = None


def parse_work_item(data: Any, line: int = 0) -> WorkItem:
    """One workload line (already decoded JSON); raises SpecError naming every bad field."""
    if not isinstance(data, dict):
        raise SpecError([FieldProblem("", "a workload line must be a JSON object")])
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


def read_workload(path: str | Path) -> list[WorkItem]:
    """All items of a workload file in submission order (stable for equal `submit_at`)."""
    items: list[WorkItem] = []
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
            if item.spec.id in seen:
                problems.append((number, FieldProblem(
                    "id", f"{item.spec.id!r} is already used on line {seen[item.spec.id]}; "
                          "ids in a workload must be unique")))
                continue
            seen[item.spec.id] = number
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
