"""The bodies of the master's OpenAPI document (api/openapi_master.py): the Mesos v1
scheduler call, derived from the pydantic models the master parses it with
(offers/protocol/mesos_calls.py), the agent's registration (api/agent_messages.py) and
what `/state` answers (api/master_state.py)."""

from __future__ import annotations

from typing import Any

from api.openapi_parts import json_schema_bounds
from offers.protocol import mesos_calls
from offers.states import TERMINAL, TaskState

_PREFIX = "Mesos"


def _name(model: str) -> str:
    """pydantic names the call's parts after their private classes (`_Accept`); here they
    are `MesosAccept`."""
    model = model.lstrip("_")
    return model if model.startswith(_PREFIX) else _PREFIX + model


def _renamed(node: Any) -> Any:
    """`node` with every `$ref` to a part renamed by `_name`."""
    if isinstance(node, dict):
        return {key: (f"#/components/schemas/{_name(value.rsplit('/', 1)[-1])}"
                      if key == "$ref" else _renamed(value)) for key, value in node.items()}
    if isinstance(node, list):
        return [_renamed(value) for value in node]
    return node


def call_schemas() -> dict[str, Any]:
    """`MesosCall` and its parts: the `type` one of the calls berth supports, and a note
    of which part each type needs (parse_call answers 400 without it)."""
    schema = json_schema_bounds(mesos_calls.Call.model_json_schema())
    defs = schema.pop("$defs", {})
    schema["properties"]["type"] = {
        "type": "string", "enum": list(mesos_calls.SUPPORTED_CALLS),
        "description": "SUBSCRIBE needs `subscribe`, ACCEPT `accept`, DECLINE `decline`, "
                       "KILL `kill`, ACKNOWLEDGE `acknowledge`; every call but SUBSCRIBE "
                       "needs `framework_id` and the Mesos-Stream-Id header"}
    schema["description"] = ("A Mesos v1 scheduler call, JSON form; fields berth does not "
                             "read are ignored")
    out = {_name(name): _renamed(value) for name, value in defs.items()}
    out[_name("Call")] = _renamed(schema)
    return out


_PORTS = {"anyOf": [
    {"type": "string", "description": "e.g. \"31000-31099,32000\""},
    {"type": "array", "items": {"type": "array", "minItems": 2, "maxItems": 2,
                                "items": {"type": "integer", "minimum": 1,
                                          "maximum": 65535}}}]}
RESOURCES = {"type": "object", "properties": {
    "cpus": {"type": "number", "minimum": 0}, "mem": {"type": "number", "minimum": 0},
    "disk": {"type": "number", "minimum": 0}, "ports": _PORTS}}
_NULLABLE = {"type": ["string", "null"]}
_ENDED = {"type": "object", "required": ["task_id", "state"], "properties": {
    "task_id": {"type": "string"},
    "state": {"type": "string", "enum": sorted(s.value for s in TERMINAL)},
    "reason": _NULLABLE, "message": _NULLABLE, "container_id": _NULLABLE,
    "exit_code": {"type": ["integer", "null"]},
    "healthy": {"type": ["boolean", "null"]}}}
REGISTRATION = {
    "type": "object", "required": ["hostname", "total"],
    "description": "An agent's registration (docs/agent-protocol.md)",
    "properties": {
        "hostname": {"type": "string", "minLength": 1},
        "agent_id": {"type": ["string", "null"], "minLength": 1,
                     "description": "its id from an earlier registration, to keep it"},
        "endpoint": {"type": ["string", "null"]},
        "attributes": {"type": ["object", "null"], "additionalProperties": {
            "type": "string"}},
        "total": RESOURCES, "spare": RESOURCES,
        "revocable": {"type": ["object", "null"], "description":
                      "cpus and mem taken back from elastic tasks (offered as revocable)"},
        "elastic": {"type": ["object", "null"], "description":
                    "incumbent, secondary_used, secondary_allocated, taken_back: each "
                    "{cpus, mem}"},
        "running": {"type": ["array", "null"], "items": {
            "type": "object", "required": ["task_id"], "properties": {
                "task_id": {"type": "string"}, "framework_id": _NULLABLE,
                "container_id": _NULLABLE,
                "state": {"type": "string", "enum": [s.value for s in TaskState]}}}},
        "ended": {"type": ["array", "null"], "items": _ENDED,
                  "description": "tasks that ended while the agent was away"}}}
REGISTERED = {"type": "object", "required": ["agent_id", "heartbeat_seconds", "keep", "kill"],
              "properties": {
                  "agent_id": {"type": "string"}, "heartbeat_seconds": {"type": "number"},
                  "keep": {"type": "array", "items": {"type": "string"}},
                  "kill": {"type": "array", "items": {"type": "string"}},
                  "registry": {"type": ["string", "null"],
                               "description": "berth's registry (host:port) to pull images "
                                              "the node lacks from; null: none"}}}

_USED = {"type": "object", "properties": {
    "cpus": {"type": "number"}, "mem": {"type": "number"}, "disk": {"type": "number"},
    "ports": {"type": "string"}}}
_AGENT = {"type": "object", "properties": {
    "id": {"type": "string"}, "hostname": {"type": "string"}, "endpoint": {"type": "string"},
    "attributes": {"type": "object", "additionalProperties": {"type": "string"}},
    "total": _USED, "spare": _USED, "used": _USED, "offered": _USED,
    "active": {"type": "boolean"}, "connected": {"type": "boolean"},
    "last_seen": {"type": "number"}}}
_AMOUNT = {"type": "object", "required": ["cpus", "mem"], "properties": {
    "cpus": {"type": "number"}, "mem": {"type": "number", "description": "MiB"}}}
AGENT_ELASTICITY = {
    "type": "object", "description": "An agent and elasticity's split of its node",
    "required": ["id", "hostname", "incumbent", "secondary_used", "secondary_allocated",
                 "taken_back", "revocable"],
    "properties": {
        "id": {"type": "string"}, "hostname": {"type": "string"},
        "active": {"type": "boolean"}, "connected": {"type": "boolean"},
        "total": _USED, "spare": _USED,
        "requested": {**_USED, "description": "what its live tasks were launched with"},
        "incumbent": {**_AMOUNT, "description": "the node's own load"},
        "secondary_used": {**_AMOUNT, "description": "what berth's containers use"},
        "secondary_allocated": {**_AMOUNT,
                                "description": "what berth's containers may use now"},
        "taken_back": {**_AMOUNT, "description": "requested less allocated"},
        "revocable": {**_AMOUNT, "description": "taken back from elastic tasks, offered "
                                                "as revocable to elastic work only"}}}
_FRAMEWORK = {"type": "object", "properties": {
    "id": {"type": "string"}, "name": {"type": "string"}, "user": {"type": "string"},
    "active": {"type": "boolean"}, "suppressed": {"type": "boolean"},
    "removed": {"type": "boolean"},
    "capabilities": {"type": "array", "items": {"type": "string"}},
    "offers": {"type": "integer"}, "allocated": _USED}}
_TASK = {"type": "object", "properties": {
    "id": {"type": "string"}, "name": {"type": "string"}, "framework_id": {"type": "string"},
    "agent_id": {"type": "string"}, "hostname": _NULLABLE,
    "state": {"type": "string", "enum": [s.value for s in TaskState]},
    "mesos_state": {"type": "string"}, "reason": _NULLABLE, "message": _NULLABLE,
    "container_id": _NULLABLE, "exit_code": {"type": ["integer", "null"]},
    "healthy": {"type": ["boolean", "null"], "description": "its health check's last "
                "verdict (Mesos's TaskStatus.healthy); null: none"},
    "image": {"type": "string"}, "resources": _USED,
    "limits": {"type": ["object", "null"], "description": "cpus and MiB its container may "
               "use now (elasticity), when its agent reported them"},
    "created_at": {"type": "number"}, "updated_at": {"type": "number"}}}
STATE = {"type": "object",
         "required": ["version", "agents", "frameworks", "tasks", "outstanding_offers"],
         "properties": {
             "version": {"type": "string"},
             "agents": {"type": "array", "items": _AGENT},
             "frameworks": {"type": "array", "items": _FRAMEWORK},
             "tasks": {"type": "array", "items": _TASK},
             "outstanding_offers": {"type": "integer"}}}
HEALTH = {"type": "object", "required": ["status", "agents", "frameworks", "store"],
          "properties": {
              "status": {"const": "ok"}, "agents": {"type": "integer"},
              "frameworks": {"type": "integer"}, "uptime_seconds": {"type": "number"},
              "store": {"type": "object", "properties": {
                  "writable": {"type": "boolean"}, "error": _NULLABLE}}}}
