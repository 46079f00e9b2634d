"""The task farming part of the framework's OpenAPI document (api/farms_app.py's routes,
docs/farming.md)."""

from __future__ import annotations

from typing import Any

from api.openapi_parts import bad, json_answer, operation, path_param, query_param

_SPREAD = {"type": "object", "properties": {
    "mean": {"type": "number"}, "low": {"type": "number"}, "high": {"type": "number"}}}
_COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}
_FARM = {"type": "object", "required": ["id", "phase"], "properties": {
    "id": {"type": "string"},
    "phase": {"type": "string",
              "enum": ["created", "sampling", "sampled", "running", "done", "failed"]},
    "image": {"type": "string"}, "namespace": {"type": "string"},
    "demo": {"type": "boolean"}, "reason": {"type": ["string", "null"]},
    "tasks": {"type": "integer"}, "sampled": {"type": "integer"},
    "slots": {"type": "integer", "description": "tasks at a time on one node"},
    "nodetypes": {"type": "object", "additionalProperties": {
        "type": "object", "properties": {"price": {"type": "number"},
                                         "nodes": {"type": "integer"}}}},
    "samples": {"type": "object", "additionalProperties": {
        "type": "object", "properties": {
            "count": {"type": "integer"}, "mean": {"type": ["number", "null"]},
            "runtimes": {"type": "array", "items": {"type": "number"},
                         "description": "seconds, each with its launch overhead"},
            "startup": {"type": "number", "description": "seconds to the first launch"}}}},
    "pool": _COUNTS, "shares": _COUNTS,
    "sampling": {"type": ["object", "null"], "description": "while sampling",
                 "properties": {"done": {"type": "integer"}, "total": {"type": "integer"}}},
    "progress": {"type": "object", "properties": {
        "done": {"type": "integer"}, "left": {"type": "integer"},
        "total": {"type": "integer"}}},
    "spent": {"type": "number", "description": "money spent so far (price x node-hours)"},
    "forecast": {"type": ["object", "null"], "description": "the chosen schedule's"},
    "expected": {"type": ["object", "null"],
                 "description": "makespan, remaining seconds and cost expected now"},
    "sample_seconds": {"type": ["number", "null"]},
    "run_seconds": {"type": ["number", "null"]},
    "htc": {"type": "object", "description": "the target throughput (tasks/hour) and "
                                             "the pool selected for it",
            "properties": {"target": {"type": ["number", "null"]},
                           "configuration": _COUNTS}},
    "bags": {"type": "array", "description": "bags added (HTC), each with its pool, "
                                             "shares, phase and tasks done",
             "items": {"type": "object"}}}}
_SCHEDULE = {"type": "object", "properties": {
    "index": {"type": "integer"}, "pool": _COUNTS, "shares": _COUNTS,
    "makespan": _SPREAD, "cost": _SPREAD, "pareto": {"type": "boolean"}}}
_CONFIGURATION = {"type": "object", "properties": {
    "pool": _COUNTS, "throughput": {"type": "number", "description": "tasks per hour"},
    "cost": {"type": "number", "description": "money per hour"},
    "pareto": {"type": "boolean"}}}
_THROUGHPUT = {"type": "object", "properties": {
    "farm": {"type": "string"},
    "function": {"type": "array", "items": _CONFIGURATION,
                 "description": "throughput = f(cost): every pool, cheapest first"},
    "max_throughput": {"type": "number"},
    "target": {"type": ["number", "null"], "description": "the one selected"},
    "configuration": {"type": ["object", "null"], "description": "the selected pool"},
    "for_target": {"type": "object", "description": "with ?target=: the cheapest pool "
                                                   "reaching it"}}}
_CREATE = {"type": "object", "required": ["image", "bag"], "properties": {
    "image": {"type": "string"},
    "bag": {"type": "string", "description": "one shell command a line"},
    "slots": {"type": "integer", "minimum": 1, "default": 1},
    "cpus": {"type": "number", "default": 0.1}, "mem": {"type": "number", "default": 32},
    "seed": {"type": "integer", "default": 0}, "namespace": {"type": "string"}}}


def farm_paths() -> dict[str, Any]:
    farm_id = path_param("id", "the farm's id")
    missing = bad("no such farm")
    return {
        "/v1/farms": {
            "post": operation(
                "Create a farm of a bag of tasks; its node types are the agents' "
                "`nodetype` attributes, each with a `price` per node-hour",
                {"201": json_answer(_FARM, "the farm"),
                 "400": bad("an empty or over-long line (bag:LINE), no image, a node type "
                            "without a price (nodetypes.NAME.price), no node type"),
                 "413": bad("the body is larger than 8 MiB"),
                 "502": bad("the master's agents cannot be read")},
                body=_CREATE),
            "get": operation("The farms", {"200": json_answer(
                {"type": "object", "properties": {"farms": {
                    "type": "array", "items": {"type": "object"}}}}, "farms")})},
        "/v1/farms/{id}": {"get": operation(
            "A farm's phase, progress, money spent and forecast",
            {"200": json_answer(_FARM, "the farm"), "404": missing}, params=[farm_id]),
            "delete": operation(
            "Stop the farm, delete its jobs and forget it (ConPaaS's `terminate`)",
            {"200": json_answer({"type": "object", "properties": {
                "deleted": {"type": "string"}}}, "the farm's id"), "404": missing},
            params=[farm_id])},
        "/v1/farms/{id}/stop": {"post": operation(
            "Stop what the farm runs, whatever its tasks do: its sampling, run or bags "
            "in progress end `stopped`, paid until now (ConPaaS's `stop`)",
            {"200": json_answer(_FARM, "the farm"), "404": missing},
            body_required=False, params=[farm_id])},
        "/v1/farms/{id}/sample": {"post": operation(
            "Run a sample of the bag (31 tasks or all) on every node type, as batch jobs",
            {"202": json_answer(_FARM, "sampling"), "400": bad("a bad size"),
             "404": missing, "409": bad("not just created")},
            body={"type": "object", "properties": {"size": {"type": "integer"}}},
            body_required=False, params=[farm_id])},
        "/v1/farms/{id}/schedules": {"get": operation(
            "The cost/makespan schedules of the rest of the bag, from the samples, "
            "cheapest first, with their spread and the Pareto front",
            {"200": json_answer({"type": "object", "properties": {
                "farm": {"type": "string"}, "tasks": {"type": "integer"},
                "schedules": {"type": "array", "items": _SCHEDULE}}}, "the schedules"),
             "400": bad("bad replications"), "404": missing,
             "409": bad("no samples yet")},
            params=[farm_id, query_param("replications", "simulated executions per pool",
                                         {"type": "integer", "minimum": 10})])},
        "/v1/farms/{id}/run": {"post": operation(
            "Run the rest of the bag on a schedule: by index, the fastest within a budget, "
            "the cheapest within a deadline (upper bounds), or on the HTC configuration "
            "`select` chose (ConPaaS's `submit`)",
            {"202": json_answer(_FARM, "running"),
             "400": bad("not exactly one of schedule, budget, deadline, configuration; "
                        "no such index"),
             "404": missing,
             "409": bad("not sampled, run already, or no configuration selected"),
             "422": bad("no schedule meets the budget or deadline: the message names "
                        "the cheapest and the fastest")},
            body={"type": "object", "properties": {
                "schedule": {"type": "integer"}, "budget": {"type": "number"},
                "deadline": {"type": "number", "description": "seconds"},
                "configuration": {"type": "boolean",
                                  "description": "run on the selected configuration"}}},
            params=[farm_id])},
        "/v1/farms/{id}/throughput": {"get": operation(
            "HTC: throughput = f(cost) from the samples (re-estimated as runs and bags "
            "finish); with a target, the cheapest pool reaching it",
            {"200": json_answer(_THROUGHPUT, "the function"),
             "400": bad("a bad target"), "404": missing, "409": bad("no samples yet"),
             "422": bad("no pool reaches the target: the message names the most there "
                        "is")},
            params=[farm_id, query_param("target", "tasks per hour",
                                         {"type": "number", "minimum": 0})])},
        "/v1/farms/{id}/select": {"post": operation(
            "HTC: make the cheapest pool reaching a target throughput, or a pool given "
            "by hand, the farm's configuration (added bags and `submit` run on it)",
            {"200": json_answer(_FARM, "the farm, its `htc` configuration and `selected`"),
             "400": bad("not exactly one of target and pool; a bad target; a pool naming "
                        "an unknown node type or more nodes than it has"),
             "404": missing, "409": bad("not sampled yet"),
             "422": bad("no pool reaches the target: the message names the most there "
                        "is")},
            body={"type": "object", "properties": {
                "target": {"type": "number", "description": "tasks per hour"},
                "pool": {"type": "object", "description": "node type -> nodes",
                         "additionalProperties": {"type": "integer", "minimum": 0}}}},
            params=[farm_id])},
        "/v1/farms/{id}/bags": {"post": operation(
            "HTC: add a bag, submitted at once on the current configuration",
            {"202": json_answer(_FARM, "the farm, its `bags` and the `added` number"),
             "400": bad("an empty or over-long line (bag:LINE), no bag"),
             "404": missing, "409": bad("no configuration selected yet"),
             "413": bad("the body is larger than 8 MiB")},
            body={"type": "object", "required": ["bag"], "properties": {
                "bag": {"type": "string", "description": "one shell command a line"}}},
            params=[farm_id])},
    }
