"""The task routes of the framework's OpenAPI document: Charmander's `/client/task...` and
berth's `/v1/tasks...` (api/charmander_app.py, api/task_logs.py).

The task schema comes from the TaskSpec model itself, with what its validators check
added (api/openapi_specs.py), so the document cannot drift from what `POST /client/task`
accepts.
"""

from __future__ import annotations

from typing import Any

from api.idempotency import MAX_KEY_LENGTH
from api.openapi_parts import (
    ANSWER,
    TEXT,
    bad,
    json_answer,
    json_schema_bounds,
    log_params,
    operation,
    path_param,
    query_param,
    unavailable,
)
from api.openapi_specs import task_wire_form
from offers.states import TaskState
from offers.task import TaskSpec

REF = "#/components/schemas/{model}"
_TASKS = {"type": "array", "items": {"$ref": "#/components/schemas/TaskInstance"}}
_STORE = unavailable("the state store cannot be written (Retry-After); nothing was done")
_LOCATION = {"Location": {"description": "/v1/tasks/<internal id>",
                          "schema": {"type": "string"}}}
_NULLABLE = {"type": ["string", "null"]}
_INSTANCE = {
    "type": "object", "description": "The task's spec fields (env values shown as "
    "\"***\": names only) plus these",
    "properties": {
        "internal_id": {"type": "string"}, "submission_id": {"type": "string"},
        "state": {"type": "string", "enum": [s.value for s in TaskState]},
        "reason": _NULLABLE, "agent_id": _NULLABLE, "hostname": _NULLABLE,
        "container_id": _NULLABLE, "container_name": _NULLABLE,
        "created_at": {"type": "number"}, "running": {"type": "boolean"},
        "by_usage": {"type": "boolean"},
        "launched": {"type": ["object", "null"], "description": "the size it was launched "
                     "with {cpus, mem}, when launched"},
        "pending_reason": {"type": ["string", "null"], "description": "GET /v1/tasks/<id> "
                           "only: why it is not placed yet"},
        "InternalID": {"type": "string"}, "SlaveID": {"type": "string"},
        "ContainerID": {"type": "string"}, "ContainerName": {"type": "string"},
        "CreatedAt": {"type": "integer"}, "RequestSent": {"type": "boolean"},
        "Running": {"type": "boolean"}}}


def task_schemas() -> dict[str, Any]:
    """The components: TaskSpec (and the models it uses) and TaskInstance."""
    spec = json_schema_bounds(TaskSpec.model_json_schema(ref_template=REF))
    defs = spec.pop("$defs", {})
    return {**defs, "TaskSpec": task_wire_form(spec), "TaskInstance": _INSTANCE}


def task_paths() -> dict[str, Any]:
    submit = operation(
        "Queue a task (Charmander task JSON); 202 once it is on disk",
        {"202": json_answer(ANSWER, "accepted: {code: 202, message: 'Run task: <id>'} "
                            "(on /v1/tasks also its internal_id); a retry with the same "
                            "Idempotency-Key gets the same answer", headers=_LOCATION),
         "400": bad("bad input, naming the field (body: malformed, nested deeper than 64 "
                    "levels, a number longer than 64 characters; an unusable "
                    "Idempotency-Key)"),
         "422": bad("the Idempotency-Key was first used for another request"),
         "503": _STORE},
        body={"$ref": "#/components/schemas/TaskSpec"},
        params=[{"name": "Idempotency-Key", "in": "header", "required": False,
                 "description": "a fresh unique value per task (e.g. a UUID), the same on "
                                "retries; remembered 24 h",
                 "schema": {"type": "string", "minLength": 1,
                            "maxLength": MAX_KEY_LENGTH, "pattern": "^[!-~]+$"}}])
    kill = operation(
        "Kill every task whose internal id starts with the prefix",
        {"200": json_answer({"oneOf": [ANSWER, {"type": "array", "items": ANSWER}]},
                            "'Kill task: <internal id>' per task (a list when several)"),
         "404": bad("no live task matches"), "503": _STORE},
        params=[path_param("prefix", "start of internal ids, e.g. the task's id")])
    reshuffle = operation("Restart running reshuffleable tasks, placed by metered usage",
                          {"202": json_answer(ANSWER, "{code: 202, message: 'Reshuffle "
                                                      "tasks'}"), "503": _STORE})
    task_id = path_param("task_id", "internal id")
    return {
        "/client/task": {
            "post": submit,
            "put": {**submit, "summary": "Same as POST (what `curl -T file` sends)"},
            "get": operation("Every scheduled, running and recently ended task instance",
                             {"200": json_answer(_TASKS, "task instances")}),
        },
        "/client/task/reshuffle": {"get": reshuffle},
        "/client/task/{prefix}": {"delete": kill},
        "/v1/tasks": {
            "get": operation(
                "Task instances, optionally of one state",
                {"200": json_answer({"type": "object", "required": ["tasks"],
                                     "properties": {"tasks": _TASKS}}, "task instances"),
                 "400": bad("unknown state")},
                params=[query_param("state", "a task state, any case",
                                    {"type": "string",
                                     "enum": [s.value for s in TaskState]})]),
            "post": submit,
        },
        "/v1/tasks/{task_id}": {"get": operation(
            "One task instance, with why it is pending",
            {"200": json_answer({"$ref": "#/components/schemas/TaskInstance"},
                                "the instance"),
             "404": bad("unknown task")}, params=[task_id]),
            "delete": {**kill, "parameters": [path_param(
                "task_id", "an internal id, or the start of internal ids"),
                *kill["parameters"][1:]]}},
        "/v1/tasks/{task_id}/logs": {"get": operation(
            "The instance's container output, as text: one stream, the last lines of it, "
            "or followed until the container ends (ended containers are kept an hour)",
            {"200": {"description": "the log", "content": TEXT},
             "400": bad("stream, tail or follow not understood"),
             "404": bad("unknown task, or its container is gone"),
             "502": bad("the master or agent failed while reading"),
             "503": bad("no master, or the task's agent is not connected to the master"),
             "504": bad("the agent did not answer in time")},
            params=[task_id, *log_params()])},
        "/v1/reshuffle": {"post": reshuffle},
    }
