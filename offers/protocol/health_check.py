"""A health check in Mesos's TaskInfo shape (`health_check`: HealthCheck with `type` HTTP,
TCP or COMMAND), written by berth's framework and read back by the master, so that a Mesos
framework library may send one too.

Mesos's `delay_seconds` has no counterpart (checks start with the task; `grace` covers a
slow start), and its HTTP `statuses` is at most one status here. Fields a Mesos library
leaves out take berth's defaults, the timeout at most the interval.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from offers.health import HealthCheck
from offers.problems import FieldProblem, SpecError, problems_from

_NAMES = {"grace": "grace_period_seconds", "interval": "interval_seconds",
          "timeout": "timeout_seconds", "max_failures": "consecutive_failures"}
_DEFAULTS = HealthCheck.model_fields


def health_check_to_mesos(check: HealthCheck) -> dict[str, Any]:
    out: dict[str, Any] = {"type": check.kind.upper(),
                           **{mesos: getattr(check, name) for name, mesos in _NAMES.items()}}
    if check.http is not None:
        out["http"] = {"scheme": "http", "port": check.http.port, "path": check.http.path,
                       "statuses": [] if check.http.status is None else [check.http.status]}
    elif check.tcp is not None:
        out["tcp"] = {"port": check.tcp.port}
    else:
        argv = list(check.command or ())
        out["command"] = {"shell": False, "value": argv[0], "arguments": argv}
    return out


def health_check_from_mesos(data: Any, field: str) -> HealthCheck:
    """A Mesos HealthCheck JSON -> berth's; SpecError naming the Mesos field otherwise."""
    if not isinstance(data, dict):
        raise SpecError([FieldProblem(field, "must be a Mesos HealthCheck object")])
    kind = str(data.get("type") or "").lower()
    if kind not in ("http", "tcp", "command"):
        raise SpecError([FieldProblem(f"{field}.type", f"{data.get('type')!r} is not HTTP, "
                                                       "TCP or COMMAND")])
    body = data.get(kind)
    if not isinstance(body, dict):
        raise SpecError([FieldProblem(f"{field}.{kind}", f"is required with type "
                                                         f"{kind.upper()}")])
    check: dict[str, Any] = {name: data[mesos] for name, mesos in _NAMES.items()
                             if data.get(mesos) is not None}
    if "timeout" not in check:
        interval = check.get("interval", _DEFAULTS["interval"].default)
        if isinstance(interval, int | float):
            check["timeout"] = min(_DEFAULTS["timeout"].default, interval)
    if kind == "http":
        statuses = body.get("statuses") or []
        if not isinstance(statuses, list) or len(statuses) > 1:
            raise SpecError([FieldProblem(f"{field}.http.statuses",
                                          "berth checks for one status (or none: any 2xx "
                                          "or 3xx)")])
        check["http"] = {"port": body.get("port"), "path": body.get("path") or "/",
                         "status": statuses[0] if statuses else None}
    elif kind == "tcp":
        check["tcp"] = {"port": body.get("port")}
    else:
        check["command"] = _argv(body, f"{field}.command")
    try:
        parsed = HealthCheck.model_validate(check)
    except ValidationError as exc:
        raise SpecError([FieldProblem(f"{field}.{_mesos_name(p.field, _NAMES)}", p.problem)
                         for p in problems_from(exc)]) from None
    target = parsed.target
    if target is not None and target.port is None:
        raise SpecError([FieldProblem(f"{field}.{kind}.port", "is required")])
    return parsed


def _argv(command: dict[str, Any], field: str) -> list[str]:
    """Mesos's CommandInfo: `shell` (its default) runs `value` under `sh -c`; otherwise
    `arguments` is the argv (with `value` the program when `arguments` is empty)."""
    value, arguments = command.get("value"), command.get("arguments") or []
    if command.get("shell", True):
        if not isinstance(value, str) or not value:
            raise SpecError([FieldProblem(f"{field}.value", "is required when shell is true")])
        return ["sh", "-c", value]
    if not isinstance(arguments, list) or not all(isinstance(a, str) for a in arguments):
        raise SpecError([FieldProblem(f"{field}.arguments", "must be a list of strings")])
    if arguments:
        return arguments
    if not isinstance(value, str) or not value:
        raise SpecError([FieldProblem(f"{field}.value", "is required without arguments")])
    return [value]


def _mesos_name(path: str, names: dict[str, str]) -> str:
    head, _, rest = path.partition(".")
    return names.get(head, head) + (f".{rest}" if rest else "")
