"""The agent link's messages (docs/agent-protocol.md), read into master events.

Pure parsing: every field an agent sends is checked here, and a bad one is a SpecError
naming it, so the master answers 400 (registration) or an ERROR message (websocket) and
never mistakes a lying or broken agent for a bad disk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from master import events as E
from offers.problems import FieldProblem, SpecError
from offers.resource_vector import Resources
from offers.states import TaskState
from persistence.metric_input import name_problem, value_problem


def _resources(data: Any, field: str) -> Resources:
    if not isinstance(data, dict):
        raise SpecError([FieldProblem(field, "must be an object {cpus, mem, disk, ports}")])
    try:
        return Resources.from_json(data)
    except ValueError as exc:
        raise SpecError([FieldProblem(f"{field}.{str(exc).split(':')[0]}",
                                      str(exc).split(": ", 1)[-1])]) from None


ELASTIC_KEYS = ("incumbent", "secondary_used", "secondary_allocated", "taken_back")


def _elastic(data: dict[str, Any]) -> tuple[Resources, dict[str, Resources]]:
    """CAPACITY's (and a registration's) optional `revocable` and `elastic` fields."""
    revocable = Resources()
    if data.get("revocable") is not None:
        revocable = _resources(data["revocable"], "revocable")
    view = data.get("elastic")
    if view is None:
        return revocable, {}
    if not isinstance(view, dict):
        raise SpecError([FieldProblem("elastic", "must be an object of resource amounts")])
    return revocable, {key: _resources(view[key], f"elastic.{key}")
                       for key in ELASTIC_KEYS if view.get(key) is not None}


def _limits(data: Any, field: str) -> tuple[float, float] | None:
    """A task's current `limits` {cpus, mem} (optional)."""
    if data is None:
        return None
    try:
        cpus, mem = float(data["cpus"]), float(data["mem"])
    except (KeyError, TypeError, ValueError, OverflowError):
        raise SpecError([FieldProblem(field, "needs cpus and mem numbers")]) from None
    if not (math.isfinite(cpus) and math.isfinite(mem) and cpus >= 0 and mem >= 0):
        raise SpecError([FieldProblem(field, "cpus and mem must be finite and >= 0")])
    return cpus, mem


def _list(data: dict[str, Any], field: str, problems: list[FieldProblem]) -> list[Any]:
    """`data[field]`, a list or absent (null); anything else is a problem, read as []."""
    value = data.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(FieldProblem(field, "must be a list"))
        return []
    return value


def _numbers(item: dict[str, Any], where: str, skip: tuple[str, ...]
             ) -> tuple[tuple[str, float], ...]:
    """The numeric fields of a METERING entry besides `skip`, by name (a later version
    may send more; each is stored as a metric of its name). Text fields are passed over; a
    bad name or a number that is not finite is a SpecError naming it."""
    found = []
    for name, value in item.items():
        if name in skip or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        problem = name_problem(name, f"{where}.{name[:40]}") or value_problem(
            value, f"{where}.{name}")
        if problem is not None:
            raise SpecError([problem])
        found.append((name, float(value)))
    return tuple(found)


def registration(data: Any) -> E.AgentRegister:
    if not isinstance(data, dict):
        raise SpecError([FieldProblem("", "a registration must be a JSON object")])
    problems = []
    hostname = data.get("hostname")
    if not isinstance(hostname, str) or not hostname:
        problems.append(FieldProblem("hostname", "is required"))
    agent_id = data.get("agent_id")
    if agent_id is not None and (not isinstance(agent_id, str) or not agent_id):
        problems.append(FieldProblem("agent_id", "must be a non-empty string or null"))
    attributes = data.get("attributes") or {}
    if not isinstance(attributes, dict):
        problems.append(FieldProblem("attributes", "must be an object of strings"))
        attributes = {}
    running = []
    for i, item in enumerate(_list(data, "running", problems)):
        try:
            texts = [item.get(name) for name in ("framework_id", "container_id")]
            if not all(t is None or isinstance(t, str) for t in texts):
                raise TypeError("framework_id and container_id are strings or null")
            running.append(E.RunningTask(str(item["task_id"]), *texts,
                                         TaskState(item.get("state", "RUNNING"))))
        except (AttributeError, KeyError, TypeError, ValueError):
            problems.append(FieldProblem(f"running[{i}]",
                                         "needs task_id and a berth task state"))
    ended = []
    for i, item in enumerate(_list(data, "ended", problems)):
        try:
            end = agent_message(agent_id or "", {**item, "type": "STATUS"})
        except (SpecError, TypeError) as exc:
            why = exc.problems[0].problem if isinstance(exc, SpecError) else "not an object"
            problems.append(FieldProblem(f"ended[{i}]", why))
            continue
        if not end.state.terminal:
            problems.append(FieldProblem(f"ended[{i}].state", "must be a terminal state"))
        ended.append(end)
    total = spare = revocable = Resources()
    elastic: dict[str, Resources] = {}
    try:
        total = _resources(data.get("total"), "total")
        spare = _resources(data.get("spare", data.get("total")), "spare")
        revocable, elastic = _elastic(data)
    except SpecError as exc:
        problems += exc.problems
    if problems:
        raise SpecError(problems)
    return E.AgentRegister(agent_id, hostname, str(data.get("endpoint") or ""),
                           {str(k): str(v) for k, v in attributes.items()}, total, spare,
                           tuple(running), tuple(ended), revocable, elastic)


def agent_message(agent_id: str, data: Any) -> object | None:
    if not isinstance(data, dict):
        raise SpecError([FieldProblem("", "a message must be a JSON object")])
    kind = data.get("type")
    if kind == "HEARTBEAT":
        return E.AgentHeartbeat(agent_id)
    if kind == "CAPACITY":
        return E.AgentCapacity(agent_id, _resources(data.get("total"), "total"),
                               _resources(data.get("spare"), "spare"), *_elastic(data))
    if kind == "STATUS":
        try:
            state = TaskState(data.get("state"))
        except ValueError:
            raise SpecError([FieldProblem("state", f"{data.get('state')!r} is not a task "
                                                   "state")]) from None
        if not isinstance(data.get("task_id"), str):
            raise SpecError([FieldProblem("task_id", "is required")])
        texts = {}
        for name in ("reason", "message", "container_id"):
            value = data.get(name)
            if value is not None and not isinstance(value, str):
                raise SpecError([FieldProblem(name, "must be a string or null")])
            texts[name] = value
        exit_code = data.get("exit_code")
        if isinstance(exit_code, bool) or not isinstance(exit_code, int) \
                or not -2**31 <= exit_code < 2**31:  # what a process can exit with, and fits
            exit_code = None
        healthy = data.get("healthy")
        if healthy is not None and not isinstance(healthy, bool):
            raise SpecError([FieldProblem("healthy", "must be true, false or null")])
        return E.AgentStatus(agent_id, data["task_id"], state, texts["reason"],
                             texts["message"], texts["container_id"], exit_code, healthy,
                             _limits(data.get("limits"), "limits"))
    if kind == "METERING":
        samples, problems = [], []
        items = _list(data, "samples", problems)
        if problems:
            raise SpecError(problems)
        for i, s in enumerate(items):
            try:
                t, cpus, mem = (float(s[k]) for k in ("t", "cpus", "mem"))
                response_time = s.get("response_time")
                if response_time is not None:
                    response_time = float(response_time)
                    if isinstance(s["response_time"], bool) or response_time < 0:
                        raise ValueError("not a duration")
                if not all(math.isfinite(x) for x in (t, cpus, mem, response_time or 0.0)):
                    raise ValueError("not finite")
                fields = _numbers(s, f"samples[{i}]", ("task_id", "t", "cpus", "mem"))
                limits = _limits(s.get("limits"), f"samples[{i}].limits")
                samples.append(E.MeteringSample(str(s["task_id"]), t, cpus, mem, limits,
                                                fields))
            except SpecError:
                raise
            except (KeyError, TypeError, ValueError, OverflowError, AttributeError):
                raise SpecError([FieldProblem(f"samples[{i}]",
                                              "needs task_id, t, cpus, mem (and "
                                              "response_time, if given, a finite number "
                                              "of milliseconds >= 0)")]) from None
        node = []
        for i, n in enumerate(_list(data, "node", problems)):
            where = f"node[{i}]"
            if not isinstance(n, dict) or value_problem(n.get("t"), f"{where}.t"):
                raise SpecError([FieldProblem(f"{where}.t", "needs t, a finite number")])
            node.append(E.NodeMeteringSample(float(n["t"]), _numbers(n, where, ("t",))))
        if problems:
            raise SpecError(problems)
        return E.AgentMetering(agent_id, tuple(samples), tuple(node))
    raise SpecError([FieldProblem("type", f"{kind!r} is not HEARTBEAT, CAPACITY, STATUS or "
                                          "METERING")])


@dataclass(frozen=True)
class LogsData:
    """A piece of a task's log, answering the master's LOGS request `request_id`."""

    request_id: str
    data: str
    eof: bool = False
    error: str | None = None  # why the log cannot be read (with eof)
    problem: str | None = None  # not_found, busy, bad_request, docker


def logs_data(data: dict[str, Any]) -> LogsData:
    """A LOGS_DATA message (docs/agent-protocol.md, "Logs"); SpecError names a bad field."""
    problems = []
    request_id, text = data.get("request_id"), data.get("data", "")
    if not isinstance(request_id, str) or not request_id:
        problems.append(FieldProblem("request_id", "is required"))
    if not isinstance(text, str):
        problems.append(FieldProblem("data", "must be a string"))
    error, problem = data.get("error"), data.get("problem")
    for name, value in (("error", error), ("problem", problem)):
        if value is not None and not isinstance(value, str):
            problems.append(FieldProblem(name, "must be a string or null"))
    if problems:
        raise SpecError(problems)
    return LogsData(request_id, text, bool(data.get("eof")) or error is not None, error,
                    problem)
