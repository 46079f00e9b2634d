"""The Mesos v1 scheduler API's JSON, both ways: for the master (server) and for frameworks
(client). Field names and shapes follow Mesos's own JSON so that Mesos framework libraries
work unchanged; berth's `Resources`, `TaskState` and `LaunchSpec` are what the rest sees.

Server side: `*_event` encoders, `encode_record`; calls are read by `mesos_calls.parse_call`.
Client side: `*_call` builders, `RecordIODecoder`, `offer_from_mesos`, `status_from_mesos`.
A TaskInfo: written by `task_info.task_info`, read by api/mesos_task_info.py.
Pure (no I/O): the master's driver, the framework's driver and the HTTP layer share it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from offers.offer import Offer
from offers.problems import FieldProblem, SpecError
from offers.resource_vector import Resources
from offers.states import TaskState

VERSION = "1.11.0"
# The reason of an update that says only that the task's health check's verdict changed.
REASON_HEALTH_UPDATED = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"

# berth's states on the wire. PENDING never leaves the framework; it is STAGING to Mesos.
STATE_TO_MESOS: dict[TaskState, str] = {
    TaskState.PENDING: "TASK_STAGING",
    TaskState.STAGING: "TASK_STAGING",
    TaskState.STARTING: "TASK_STARTING",
    TaskState.RUNNING: "TASK_RUNNING",
    TaskState.KILLING: "TASK_KILLING",
    TaskState.FINISHED: "TASK_FINISHED",
    TaskState.FAILED: "TASK_FAILED",
    TaskState.KILLED: "TASK_KILLED",
    TaskState.LOST: "TASK_LOST",
    TaskState.ERROR: "TASK_ERROR",
}
MESOS_TO_STATE: dict[str, TaskState] = {
    **{v: k for k, v in STATE_TO_MESOS.items() if k is not TaskState.PENDING},
    # Mesos states berth folds into its own.
    "TASK_DROPPED": TaskState.LOST,
    "TASK_UNREACHABLE": TaskState.LOST,
    "TASK_GONE": TaskState.LOST,
    "TASK_GONE_BY_OPERATOR": TaskState.LOST,
    "TASK_UNKNOWN": TaskState.LOST,
}

# -- RecordIO -------------------------------------------------------------------------------


def encode_record(obj: Mapping[str, Any]) -> bytes:
    """One RecordIO record: `<length in bytes>\\n<json>`."""
    data = json.dumps(obj, separators=(",", ":")).encode()
    return str(len(data)).encode() + b"\n" + data


class RecordIODecoder:
    """Feed it chunks as they arrive; it returns the complete records, decoded."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        self._buffer += chunk
        out = []
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                break
            length = int(self._buffer[:newline])
            end = newline + 1 + length
            if len(self._buffer) < end:
                break
            out.append(json.loads(self._buffer[newline + 1:end]))
            self._buffer = self._buffer[end:]
        return out


# -- resources ------------------------------------------------------------------------------


def resources_to_mesos(res: Resources, role: str = "*",
                       revocable: bool = False) -> list[dict[str, Any]]:
    """Mesos resource JSON; `revocable` marks each scalar as Mesos marks oversubscribed
    resources (`"revocable": {}`): berth's are what elasticity took back from tasks."""
    out: list[dict[str, Any]] = []
    for name in ("cpus", "mem", "disk"):
        value = getattr(res, name)
        if value > 0:
            item = {"name": name, "type": "SCALAR", "scalar": {"value": round(value, 6)},
                    "role": role}
            if revocable:
                item["revocable"] = {}
            out.append(item)
    if revocable:
        return out
    if res.ports:
        out.append({"name": "ports", "type": "RANGES", "role": role,
                    "ranges": {"range": [{"begin": lo, "end": hi} for lo, hi in res.ports]}})
    return out


def resources_from_mesos(items: Any, field: str = "resources") -> Resources:
    """Sum a Mesos resource list; raise SpecError naming the bad entry."""
    if not isinstance(items, list):
        raise SpecError([FieldProblem(field, "must be a list of resources")])
    scalars = {"cpus": 0.0, "mem": 0.0, "disk": 0.0}
    ports: list[tuple[int, int]] = []
    problems = []
    for i, item in enumerate(items):
        where = f"{field}[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            problems.append(FieldProblem(f"{where}.name", "is required"))
            continue
        name, kind = item["name"], item.get("type", "SCALAR")
        if "revocable" in item:
            continue  # apart: see `revocable_from_mesos`
        if name in scalars:
            scalar = item.get("scalar")
            value = scalar.get("value") if isinstance(scalar, dict) else None
            number = _finite(value)
            if kind != "SCALAR" or number is None or not number >= 0:
                problems.append(FieldProblem(f"{where}.scalar.value",
                                             f"{name} needs a finite SCALAR value >= 0"))
                continue
            scalars[name] += number
        elif name == "ports":
            ranges = item.get("ranges")
            ranges = ranges.get("range") if isinstance(ranges, dict) else None
            if kind != "RANGES" or not isinstance(ranges, list):
                problems.append(FieldProblem(f"{where}.ranges.range",
                                             "ports need RANGES of {begin, end}"))
                continue
            for j, r in enumerate(ranges):
                r = r if isinstance(r, dict) else {}
                lo, hi = r.get("begin"), r.get("end")
                if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi <= 65535):
                    problems.append(FieldProblem(f"{where}.ranges.range[{j}]",
                                                 "needs integer begin <= end within 1-65535"))
                    continue
                ports.append((lo, hi))
        else:
            problems.append(FieldProblem(f"{where}.name",
                                         f"{name!r} is not a resource berth offers "
                                         "(cpus, mem, disk, ports)"))
    for name, total in scalars.items():
        if not math.isfinite(total):  # finite entries whose sum is not
            problems.append(FieldProblem(field, f"{name} adds up to more than a float holds"))
    if problems:
        raise SpecError(problems)
    return Resources(ports=()) + Resources(ports=tuple(ports), **scalars)


def revocable_from_mesos(items: Any) -> tuple[float, float]:
    """(cpus, mem) of the entries marked `revocable` (0 for anything unreadable: they are
    extra, never needed)."""
    cpus = mem = 0.0
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict) or "revocable" not in item:
            continue
        scalar = item.get("scalar")
        value = _finite(scalar.get("value") if isinstance(scalar, dict) else None)
        if value is None or value < 0:
            continue
        if item.get("name") == "cpus":
            cpus += value
        elif item.get("name") == "mem":
            mem += value
    return cpus, mem


def _finite(value: Any) -> float | None:
    """A JSON number as a finite float, or None (not a number, NaN, infinite, an integer
    too long for a float): what keeps a client's number from raising or poisoning sums."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


# -- server side: events ------------------------------------------------------------------


class OfferRecord(Protocol):
    """What an offer event is written from (the master's `master.records.OfferRecord`)."""

    id: str
    framework_id: str
    agent_id: str
    hostname: str
    attributes: Mapping[str, str]
    resources: Resources


class StatusUpdate(Protocol):
    """What an update event is written from (the master's `master.records.StatusUpdate`)."""

    task_id: str
    state: TaskState
    source: str
    timestamp: float
    agent_id: str | None
    reason: str | None
    message: str | None
    uuid: str | None
    container_id: str | None
    exit_code: int | None
    healthy: bool | None



def _attributes(attrs: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"name": k, "type": "TEXT", "text": {"value": str(v)}}
            for k, v in sorted(attrs.items())]


def offer_to_mesos(offer: OfferRecord) -> dict[str, Any]:
    return {
        "id": {"value": offer.id},
        "framework_id": {"value": offer.framework_id},
        "agent_id": {"value": offer.agent_id},
        "hostname": offer.hostname,
        "attributes": _attributes(offer.attributes),
        "resources": resources_to_mesos(offer.resources)
        + resources_to_mesos(getattr(offer, "revocable", None) or Resources(),
                             revocable=True),
        "allocation_info": {"role": "*"},
    }


def status_to_mesos(status: StatusUpdate) -> dict[str, Any]:
    out: dict[str, Any] = {
        "task_id": {"value": status.task_id},
        "state": STATE_TO_MESOS[status.state],
        "source": status.source,
        "timestamp": status.timestamp,
    }
    if status.agent_id:
        out["agent_id"] = {"value": status.agent_id}
    if status.reason:
        out["reason"] = status.reason
    if status.message:
        out["message"] = status.message
    if status.uuid:
        out["uuid"] = status.uuid
    if status.container_id:
        out["container_status"] = {"container_id": {"value": status.container_id}}
    if status.healthy is not None:
        out["healthy"] = status.healthy
    if status.exit_code is not None:
        out["labels"] = {"labels": [{"key": "berth.exit_code", "value": str(status.exit_code)}]}
    return out


def subscribed_event(framework_id: str, heartbeat_interval_seconds: float,
                     master_info: Mapping[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"framework_id": {"value": framework_id},
                            "heartbeat_interval_seconds": heartbeat_interval_seconds}
    if master_info:
        body["master_info"] = dict(master_info)
    return {"type": "SUBSCRIBED", "subscribed": body}


def master_info(master_id: str, hostname: str, port: int) -> dict[str, Any]:
    """Mesos's MasterInfo, which some libraries read from SUBSCRIBED."""
    return {"id": master_id, "ip": 0, "port": port, "hostname": hostname,
            "version": VERSION, "address": {"hostname": hostname, "ip": hostname,
                                            "port": port}}


def offers_event(offers: Iterable[OfferRecord]) -> dict[str, Any]:
    return {"type": "OFFERS", "offers": {"offers": [offer_to_mesos(o) for o in offers]}}


def rescind_event(offer_id: str) -> dict[str, Any]:
    return {"type": "RESCIND", "rescind": {"offer_id": {"value": offer_id}}}


def update_event(status: StatusUpdate) -> dict[str, Any]:
    return {"type": "UPDATE", "update": {"status": status_to_mesos(status)}}


def failure_event(agent_id: str) -> dict[str, Any]:
    return {"type": "FAILURE", "failure": {"agent_id": {"value": agent_id}}}


def error_event(message: str) -> dict[str, Any]:
    return {"type": "ERROR", "error": {"message": message}}


HEARTBEAT_EVENT = {"type": "HEARTBEAT"}


# -- client side ----------------------------------------------------------------------------


def _call(kind: str, framework_id: str | None, **body: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind}
    if framework_id:
        out["framework_id"] = {"value": framework_id}
    out.update(body)
    return out


def subscribe_call(name: str, user: str = "root", framework_id: str | None = None,
                   capabilities: Sequence[str] = ("PARTITION_AWARE", "TASK_KILLING_STATE"),
                   failover_timeout: float = 7 * 24 * 3600.0) -> dict[str, Any]:
    info: dict[str, Any] = {"user": user, "name": name, "roles": ["*"],
                            "capabilities": [{"type": c} for c in capabilities],
                            "failover_timeout": failover_timeout}
    if framework_id:
        info["id"] = {"value": framework_id}
    return _call("SUBSCRIBE", framework_id, subscribe={"framework_info": info})


def _filters(refuse_seconds: float | None) -> dict[str, Any]:
    return {} if refuse_seconds is None else {"filters": {"refuse_seconds": refuse_seconds}}


def accept_call(framework_id: str, offer_ids: Sequence[str], task_infos: Sequence[dict],
                refuse_seconds: float | None = None) -> dict[str, Any]:
    ops = [{"type": "LAUNCH", "launch": {"task_infos": list(task_infos)}}] if task_infos else []
    return _call("ACCEPT", framework_id, accept={
        "offer_ids": [{"value": o} for o in offer_ids], "operations": ops,
        **_filters(refuse_seconds)})


def decline_call(framework_id: str, offer_ids: Sequence[str],
                 refuse_seconds: float | None = None) -> dict[str, Any]:
    return _call("DECLINE", framework_id, decline={
        "offer_ids": [{"value": o} for o in offer_ids], **_filters(refuse_seconds)})


def kill_call(framework_id: str, task_id: str, agent_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"task_id": {"value": task_id}}
    if agent_id:
        body["agent_id"] = {"value": agent_id}
    return _call("KILL", framework_id, kill=body)


def acknowledge_call(framework_id: str, status: Mapping[str, Any]) -> dict[str, Any]:
    """Acknowledge a TaskStatus as received (only statuses that carry a `uuid`)."""
    return _call("ACKNOWLEDGE", framework_id, acknowledge={
        "agent_id": status.get("agent_id") or {"value": ""}, "task_id": status["task_id"],
        "uuid": status["uuid"]})


def reconcile_call(framework_id: str,
                   tasks: Iterable[tuple[str, str | None]] = ()) -> dict[str, Any]:
    items = []
    for task_id, agent_id in tasks:
        item: dict[str, Any] = {"task_id": {"value": task_id}}
        if agent_id:
            item["agent_id"] = {"value": agent_id}
        items.append(item)
    return _call("RECONCILE", framework_id, reconcile={"tasks": items})


def revive_call(framework_id: str) -> dict[str, Any]:
    return _call("REVIVE", framework_id)


def suppress_call(framework_id: str) -> dict[str, Any]:
    return _call("SUPPRESS", framework_id)


def teardown_call(framework_id: str) -> dict[str, Any]:
    return _call("TEARDOWN", framework_id)


def offer_from_mesos(data: Mapping[str, Any]) -> Offer:
    """A Mesos Offer JSON -> offers.Offer (what the placement core consumes)."""
    res = resources_from_mesos(data.get("resources", []), "offer.resources")
    attrs = {}
    for a in data.get("attributes", []):
        if a.get("type", "TEXT") == "TEXT":
            attrs[a["name"]] = a.get("text", {}).get("value", "")
        elif a.get("type") == "SCALAR":
            attrs[a["name"]] = str(a.get("scalar", {}).get("value", ""))
    revocable_cpus, revocable_mem = revocable_from_mesos(data.get("resources", []))
    return Offer(id=data["id"]["value"], agent_id=data["agent_id"]["value"],
                 hostname=data.get("hostname", ""), cpus=res.cpus, mem=res.mem, disk=res.disk,
                 ports=res.ports, attributes=attrs, revocable_cpus=revocable_cpus,
                 revocable_mem=revocable_mem)


@dataclass(frozen=True)
class TaskStatusView:
    """A Mesos TaskStatus read back into berth's terms (client side)."""

    task_id: str
    state: TaskState
    mesos_state: str
    agent_id: str | None
    reason: str | None
    message: str | None
    uuid: str | None
    container_id: str | None
    raw: Mapping[str, Any]
    exit_code: int | None = None
    healthy: bool | None = None  # Mesos's TaskStatus.healthy: the health check's verdict


def status_from_mesos(data: Mapping[str, Any]) -> TaskStatusView:
    container = (data.get("container_status") or {}).get("container_id") or {}
    return TaskStatusView(
        task_id=data["task_id"]["value"], state=MESOS_TO_STATE[data["state"]],
        mesos_state=data["state"], agent_id=(data.get("agent_id") or {}).get("value"),
        reason=data.get("reason"), message=data.get("message"), uuid=data.get("uuid"),
        container_id=container.get("value"), raw=data, exit_code=_exit_code(data),
        healthy=data["healthy"] if isinstance(data.get("healthy"), bool) else None)


def _exit_code(data: Mapping[str, Any]) -> int | None:
    """berth's masters put the container's exit code in a `berth.exit_code` label."""
    for label in (data.get("labels") or {}).get("labels") or ():
        if isinstance(label, Mapping) and label.get("key") == "berth.exit_code":
            try:
                return int(label.get("value"))
            except (TypeError, ValueError):
                return None
    return None
