"""The file formats of DESIGN.md, parsed from text the caller has read.

Cluster files are a JSON list of nodes; task files are JSON Lines. Every error names the
file, the line, the field and the problem, and all errors of a file are collected before
anything is placed, so a bad file never yields partial output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from offers.cluster import NodeSpec, parse_node
from offers.placement import Placement
from offers.problems import SpecError
from offers.task import TaskSpec, normalize_id, parse_task

MAX_ERRORS = 20  # a file with a million bad lines needs the first few, not all


@dataclass(frozen=True)
class LineProblem:
    file: str
    line: int
    field: str
    problem: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.field}: {self.problem}" if self.field else f"{where}: {self.problem}"


class FileError(ValueError):
    def __init__(self, problems: Sequence[LineProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(map(str, self.problems)))


def _json_problem(exc: json.JSONDecodeError) -> str:
    return f"not valid JSON: {exc.msg} at column {exc.colno}"


def parse_cluster(text: str, file: str = "<cluster>") -> list[NodeSpec]:
    """A cluster file: a JSON list of nodes. Line numbers point at each node's opening line."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileError([LineProblem(file, exc.lineno, "", _json_problem(exc))]) from None
    if not isinstance(data, list):
        raise FileError([LineProblem(file, 1, "", "a cluster file is a JSON list of nodes")])
    starts = _object_lines(text)
    nodes, problems, seen = [], [], {}
    for k, item in enumerate(data):
        line = starts[k] if k < len(starts) else 1
        try:
            node = parse_node(item)
        except SpecError as exc:
            problems += [LineProblem(file, line, f"[{k}].{p.field}".rstrip("."), p.problem)
                         for p in exc.problems]
            continue
        if node.hostname in seen:
            problems.append(LineProblem(file, line, f"[{k}].hostname",
                                        f"{node.hostname!r} is already node [{seen[node.hostname]}]"))
        seen.setdefault(node.hostname, k)
        nodes.append(node)
    if problems:
        raise FileError(problems[:MAX_ERRORS])
    return nodes


def _object_lines(text: str) -> list[int]:
    """Line numbers where each top-level object of a JSON list starts (braces at depth 1)."""
    lines, depth, line, in_string, escape = [], 0, 1, False, False
    for ch in text:
        if ch == "\n":
            line += 1
        elif in_string:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            if ch == "{" and depth == 1:
                lines.append(line)
            depth += 1
        elif ch in "]}":
            depth -= 1
    return lines


# A line that starts with its id, e.g. {"id": "t1", ...}: the rest of the line, verbatim,
# says everything else about the task, so identical rests share one validated spec.
_LEADING_ID = re.compile(r'\s*\{\s*"id"\s*:\s*"([^"\\]*)"')
_SHAPE_CACHE_SIZE = 4096


def parse_task_lines(
    lines: Iterable[str], file: str = "<tasks>", extra_keys: tuple[str, ...] = ()
) -> tuple[list[TaskSpec], list[dict[str, Any]]]:
    """Task JSON Lines. Returns the specs and, per task, the `extra_keys` it carried
    (the simulator's `submit_at`, `duration`, `used`). Blank lines are skipped."""
    tasks: list[TaskSpec] = []
    extras: list[dict[str, Any]] = []
    problems: list[LineProblem] = []
    shapes: dict[str, TaskSpec] = {}
    for number, raw in enumerate(lines, start=1):
        lead = None if extra_keys else _LEADING_ID.match(raw)
        if lead:
            shape = raw[: lead.start(1)] + raw[lead.end(1):]
            proto = shapes.get(shape)
            if proto is not None:
                try:
                    tasks.append(proto.with_id(normalize_id(lead.group(1))))
                except ValueError as exc:
                    problems.append(LineProblem(file, number, "id", str(exc)))
                continue
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            problems.append(LineProblem(file, number, "", _json_problem(exc)))
        else:
            extra = {}
            if isinstance(data, dict) and extra_keys:
                extra = {k: data.pop(k) for k in extra_keys if k in data}
            try:
                tasks.append(parse_task(data))
                extras.append(extra)
                if lead and len(shapes) < _SHAPE_CACHE_SIZE:
                    shapes[shape] = tasks[-1]
            except SpecError as exc:
                problems += [LineProblem(file, number, p.field, p.problem) for p in exc.problems]
        if len(problems) >= MAX_ERRORS:
            break
    if problems:
        raise FileError(problems)
    return tasks, extras


def placement_lines(tasks: Sequence[TaskSpec], placement: Placement) -> Iterable[str]:
    """Placements as JSON Lines: {"task", "instance", "hostname", "reason"}."""
    hosts = [json.dumps(h) for h in placement.hostnames]
    reasons = [json.dumps(r.message) for r in placement.reasons]
    # Task ids are restricted to [A-Za-z0-9_.-], so they need no escaping.
    ids = [t.id for t in tasks]
    for t, k, node, r in zip(placement.task_index.tolist(), placement.instance.tolist(),
                             placement.node.tolist(), placement.reason_id.tolist(), strict=True):
        host = hosts[node] if node >= 0 else "null"
        reason = reasons[r] if r >= 0 else "null"
        yield f'{{"task": "{ids[t]}", "instance": {k}, "hostname": {host}, "reason": {reason}}}\n'

