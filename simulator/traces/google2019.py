"""The Google cluster trace 2019 (clusterdata-2019): the `instance_events` and
`machine_events` tables exported as JSON, one object per line (gzip or plain), as
BigQuery writes them (64-bit integers as strings; enums as numbers or names). Times are
microseconds (the window opens at 600 s); CPU (GCU) and memory are normalized to the
largest machine and scaled by the reference machine. See docs/traces.md.

An export is not in time order, so each task's events in the window are kept (a few
numbers each) and replayed in time order once every file is read.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from simulator.traces.common import Problems, RowProblem, Scale, lines_of, seconds
from simulator.traces.google_tasks import Chains, Step
from simulator.traces.workload import Machines, Trace, TraceWorkload

IMAGE = "trace/google2019"
TABLES = ("instance_events", "machine_events")
EVENT_TYPES = ("SUBMIT", "QUEUE", "ENABLE", "SCHEDULE", "EVICT", "FAIL", "FINISH", "KILL",
               "LOST", "UPDATE_PENDING", "UPDATE_RUNNING")
STEPS = (Step.SUBMIT, Step.UPDATE, Step.UPDATE, Step.SCHEDULE, Step.INTERRUPT, Step.END,
         Step.END, Step.END, Step.INTERRUPT, Step.UPDATE, Step.UPDATE)
MACHINE_TYPES = ("EVENT_TYPE_UNKNOWN", "ADD", "REMOVE", "UPDATE")
COLLECTION_TYPES = ("JOB", "ALLOC_SET")
ALLOC_SET = 1
REMOVE = 2
INT64 = 2**63 - 1


def _whole(data: dict, name: str, low: int = 0, high: int = INT64,
           names: tuple[str, ...] = (), required: bool = True) -> int | None:
    value = data.get(name)
    if value is None:
        if required:
            raise RowProblem(name, "missing, but the field is mandatory")
        return None
    if isinstance(value, str) and value in names:
        return names.index(value)
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            known = f" or one of {', '.join(names)}" if names else ""
            raise RowProblem(name, f"{value!r} is not a whole number{known}") from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RowProblem(name, f"{value!r} is not a whole number")
    if not low <= value <= high:
        raise RowProblem(name, f"{value} is out of range ({low} to {high})")
    return value


def _size(data: dict, name: str, key: str) -> float | None:
    """`resource_request.cpus` and the like: a non-negative number, or absent."""
    outer = data.get(name)
    if outer is None:
        return None
    if not isinstance(outer, dict):
        raise RowProblem(name, f"{outer!r} is not an object with cpus and memory")
    value = outer.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise RowProblem(f"{name}.{key}", f"{value!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
            value) or value < 0:
        raise RowProblem(f"{name}.{key}", f"{value!r} is not a non-negative number")
    return float(value)


def _objects(path: Path, problems: Problems):
    """(line, object) of each good JSON line."""
    for line, text in lines_of(path, problems):
        try:
            data: Any = json.loads(text.rstrip("\r\n"))
        except json.JSONDecodeError as exc:
            problems.add(line, f"character {exc.pos + 1}", f"not JSON: {exc.msg}")
            continue
        if not isinstance(data, dict):
            problems.add(line, "", "a line must be one JSON object")
            continue
        yield line, data


def read(tables: dict[str, list[Path]], horizon: float, scale: Scale) -> Trace:
    trace = Trace(TraceWorkload(IMAGE), None)
    events: dict[tuple[int, int], list[tuple]] = {}
    for path in tables.get("instance_events", []):
        problems = Problems(path)
        for line, data in _objects(path, problems):
            try:
                t = seconds(_whole(data, "time"))
                step = STEPS[_whole(data, "type", 0, len(EVENT_TYPES) - 1, EVENT_TYPES)]
                key = (_whole(data, "collection_id"), _whole(data, "instance_index"))
                alloc = _whole(data, "collection_type", 0, 1, COLLECTION_TYPES,
                               required=False)
                priority = _whole(data, "priority", required=False)
                cpus = _size(data, "resource_request", "cpus")
                mem = _size(data, "resource_request", "memory")
            except RowProblem as exc:
                problems.add(line, exc.column, exc.problem)
                continue
            if t > horizon:
                continue
            if alloc == ALLOC_SET:
                trace.count("left out: alloc instance events (reservations, not tasks)")
                continue
            events.setdefault(key, []).append((t, line, step, cpus, mem, priority))
        problems.check()
    chains = Chains(trace, scale, "collection-")
    for key, steps in events.items():
        steps.sort(key=lambda e: e[0])  # stable: equal times keep the files' order
        for t, line, step, cpus, mem, priority in steps:
            chains.feed(key, t, step, cpus, mem, priority, line)
    events.clear()
    chains.close()
    if "machine_events" in tables:
        trace.nodes = _machines(trace, tables["machine_events"], horizon, scale)
    trace.workload.done()
    return trace


def _machines(trace: Trace, paths: list[Path], horizon: float, scale: Scale):
    seen: list[tuple] = []
    for path in paths:
        problems = Problems(path)
        for line, data in _objects(path, problems):
            try:
                t = seconds(_whole(data, "time"))
                machine = _whole(data, "machine_id", -1)
                kind = _whole(data, "type", 0, len(MACHINE_TYPES) - 1, MACHINE_TYPES)
                cpus = _size(data, "capacity", "cpus")
                mem = _size(data, "capacity", "memory")
                platform = data.get("platform_id")
                if platform is not None and not isinstance(platform, str | int):
                    raise RowProblem("platform_id", f"{platform!r} is not a string")
            except RowProblem as exc:
                problems.add(line, exc.column, exc.problem)
                continue
            if t <= horizon:
                seen.append((t, line, machine, kind, cpus, mem, platform))
        problems.check()
    machines = Machines(trace)
    for _t, _line, machine, kind, cpus, mem, platform in sorted(seen, key=lambda e: e[0]):
        if kind == REMOVE:
            machines.removed()
            continue
        machines.seen(f"m{machine}", None if cpus is None else cpus * scale.cpus,
                      None if mem is None else mem * scale.mem,
                      {"platform": str(platform)} if platform else None)
    return machines.nodes()
