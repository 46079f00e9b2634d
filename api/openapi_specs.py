"""What the task and job parsers accept beyond what pydantic writes in their JSON Schema.

The models check some fields in validators (an id usable as a container name, an image
name without white space, the smallest sizes Docker runs, absolute volume paths, no NUL
bytes) and read constraints as Marathon's lists, not as the object they are parsed into.
Said here in JSON Schema, the documents describe what is accepted (a client, or a fuzzer,
generating from them gets past validation), and what a status echoes back (constraints
are written out as lists again).
"""

from __future__ import annotations

from typing import Any

from offers.constraints import Operator
from offers.task import (
    ID_PATTERN,
    MAX_CPUS,
    MAX_DISK_MIB,
    MAX_ID_LENGTH,
    MAX_MEM_MIB,
    MIN_CPUS,
    MIN_DISK_MIB,
    MIN_MEM_MIB,
)

ID = {"type": "string", "pattern": ID_PATTERN.pattern, "minLength": 1,
      "maxLength": MAX_ID_LENGTH}
NO_NUL = "^[^\\u0000]*$"
_PATH = {"type": "string", "pattern": "^/[^:\\u0000]*$",
         "description": "absolute, without ':' or NUL"}
_COUNT = {"anyOf": [{"type": "integer", "minimum": 1},
                    {"type": "string", "pattern": "^0*[1-9][0-9]*$"}]}
_FIELD = {"type": "string", "pattern": "\\S", "description": "an agent attribute or hostname"}

# [field, OPERATOR, value?]: what offers.constraints.parse_constraint accepts per operator.
CONSTRAINT = {"description": "Marathon's [field, OPERATOR, value?] (offers/constraints.py)",
              "oneOf": [
    {"type": "array", "minItems": 2, "maxItems": 2,
     "prefixItems": [_FIELD, {"const": Operator.UNIQUE.value}]},
    {"type": "array", "minItems": 3, "maxItems": 3,
     "prefixItems": [_FIELD, {"enum": [Operator.CLUSTER.value, Operator.LIKE.value,
                                       Operator.UNLIKE.value]},
                     {"type": "string", "description": "CLUSTER's value; LIKE's and "
                                                       "UNLIKE's regular expression"}]},
    {"type": "array", "minItems": 2, "maxItems": 3,
     "prefixItems": [_FIELD, {"const": Operator.GROUP_BY.value}, _COUNT]},
    {"type": "array", "minItems": 3, "maxItems": 3,
     "prefixItems": [_FIELD, {"const": Operator.MAX_PER.value}, _COUNT]}]}

_TASK_FIELDS: dict[str, dict[str, Any]] = {
    # str.isspace() also counts \x1c-\x1f and \x85, which JSON Schema's \s does not.
    "dockerimage": {"pattern": "^[^\\s\\u001c-\\u001f\\u0085\\u0000]+$"},
    "mem": {"minimum": MIN_MEM_MIB, "maximum": MAX_MEM_MIB},
    "cpus": {"minimum": MIN_CPUS, "maximum": MAX_CPUS},
    "arguments": {"items": {"type": "string", "pattern": NO_NUL}},
    "env": {"propertyNames": {"pattern": "^[^=\\u0000]+$"},
            "additionalProperties": {"type": "string", "pattern": NO_NUL}},
}
_DISK = {"anyOf": [{"type": "number", "const": 0},
                   {"type": "number", "minimum": MIN_DISK_MIB, "maximum": MAX_DISK_MIB}],
         "default": 0.0, "description": "MiB: 0 (none asked for) or at least 1"}
_NUMERIC = " (Charmander's numbers as strings, e.g. \"50\", are accepted too)"


def task_wire_form(schema: dict[str, Any], *, id_optional: bool = False) -> dict[str, Any]:
    """A TaskSpec (or job Template) schema with the validators' rules, in place."""
    props = schema["properties"]
    props["id"] = {"anyOf": [ID, {"type": "null"}], "default": None} if id_optional \
        else {**ID, "description": "spaces are dropped first"}
    for name, rules in _TASK_FIELDS.items():
        props[name] = {key: value for key, value in props[name].items()
                       if key not in ("exclusiveMinimum",)} | rules
    props["disk"] = _DISK
    props["health_check"]["description"] = (
        "Marathon-style: one of `http`, `tcp`, `command`, run by the agent every "
        "`interval`; see HealthCheck")
    for name in ("mem", "cpus"):
        props[name]["description"] = ("MiB" if name == "mem" else "cores") + _NUMERIC
    nodetype = props["nodetype"]["anyOf"][0]
    nodetype["pattern"] = NO_NUL
    if id_optional:  # a job's template: the job's type says what the sla would
        props["sla"] = {"type": "null", "default": None,
                        "description": "not in a job: its `type` says it"}
    return schema


HEALTH_CHECK_FIELDS = {
    "HealthCheck": {
        "http": "an HTTP GET from the agent to the container's address",
        "tcp": "a TCP connect from the agent to the container's address",
        "command": "an argv run inside the container (Docker exec), e.g. "
                   "[\"sh\", \"-c\", \"test -f /tmp/ready\"]; exit 0 is healthy",
        "grace": "seconds after the start during which failures do not count (unless it "
                 "was healthy once)",
        "interval": "seconds between checks (the first comes one interval after the "
                    "start)",
        "timeout": "seconds a check may take; at most `interval`",
        "max_failures": "counted failures in a row that kill the instance; it ends FAILED "
                        "with reason `unhealthy: ...` and its job's `restart` policy "
                        "starts it again",
    },
    "HttpCheck": {
        "path": "the URL path asked for",
        "status": "the status that is healthy (default: any 2xx or 3xx)",
        "port": "the container's port (with host networking, the host's)",
        "port_index": "the index of one of the task's `ports` (its container_port); "
                      "default 0 when neither is given",
    },
    "TcpCheck": {
        "port": "the container's port (with host networking, the host's)",
        "port_index": "the index of one of the task's `ports` (its container_port); "
                      "default 0 when neither is given",
    },
}


def wire_forms(schemas: dict[str, Any]) -> dict[str, Any]:
    """The shared models of tasks and jobs: constraints as lists, volumes' paths, what
    each health-check field means."""
    for model, fields in HEALTH_CHECK_FIELDS.items():
        for name, text in fields.items():
            schemas[model]["properties"][name]["description"] = text
    schemas["Constraint"] = CONSTRAINT
    volume = schemas["Volume"]["properties"]
    volume["host_path"] = volume["container_path"] = _PATH
    volume["mode"] = {"type": "string", "enum": ["ro", "rw"], "default": "rw"}
    return schemas
