"""The OpenAPI 3.1 description of the framework's REST API (served at `/openapi.json`).

The task schema comes from the TaskSpec model itself, so the document cannot drift from
what `POST /client/task` accepts. Every route may answer 403 to a request from another
site's page, and every body-carrying one 415 to a body not sent as JSON (api.json_body).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from offers.task import TaskSpec

_ERROR = {"$ref": "#/components/schemas/Error"}
_ANSWER = {"$ref": "#/components/schemas/Answer"}
_TASKS = {"type": "array", "items": {"$ref": "#/components/schemas/TaskInstance"}}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _bad(description: str = "bad input, naming the field") -> dict:
    return _json(_ERROR, description)


def _op(summary: str, responses: dict, *, body: dict | None = None,
        params: list | None = None) -> dict:
    responses = {**responses, "403": _bad("refused: sent by another site's page")}
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        responses["415"] = _bad("the body is not declared application/json")
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": body}}}
    if params:
        op["parameters"] = params
    return op


def _path_param(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string"}}


@cache
def openapi_document() -> dict[str, Any]:
    task_schema = TaskSpec.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = task_schema.pop("$defs", {})
    submit = _op("Queue a task (Charmander task JSON); 202 once it is on disk",
                 {"202": _json(_ANSWER, "accepted: {code: 202, message: 'Run task: <id>'}; "
                               "a retry with the same Idempotency-Key gets the same answer"),
                  "400": _bad("bad input, naming the field (body: malformed, nested deeper "
                              "than 64 levels, a number longer than 64 characters)"),
                  "413": _bad("body too large"),
                  "422": _bad("the Idempotency-Key was first used for another request")},
                 body={"$ref": "#/components/schemas/TaskSpec"},
                 params=[{"name": "Idempotency-Key", "in": "header", "required": False,
                          "description": "a fresh unique value per task (e.g. a UUID), the "
                                         "same on retries; remembered 24 h",
                          "schema": {"type": "string", "minLength": 1, "maxLength": 255}}])
    kill = _op("Kill every task whose internal id starts with the prefix",
               {"200": _json({"oneOf": [_ANSWER, {"type": "array", "items": _ANSWER}]},
                             "'Kill task: <internal id>' per task (a list when several)"),
                "404": _bad("no live task matches")},
               params=[_path_param("prefix", "start of internal ids, e.g. the task's id")])
    reshuffle = _op("Restart running reshuffleable tasks, placed by metered usage",
                    {"202": _json(_ANSWER, "{code: 202, message: 'Reshuffle tasks'}")})
    paths = {
        "/admin/ping": {"get": _op("Health check", {"200": {
            "description": "pong", "content": {"text/plain": {"schema": {"type": "string"}}}}})},
        "/client/task": {
            "post": submit,
            "put": {**submit, "summary": "Same as POST (what `curl -T file` sends)"},
            "get": _op("Every scheduled, running and recently ended task instance",
                       {"200": _json(_TASKS, "task instances")}),
        },
        "/client/task/reshuffle": {"get": reshuffle},
        "/client/task/{prefix}": {"delete": kill},
        "/v1/tasks": {
            "get": _op("Task instances, optionally of one state",
                       {"200": _json({"type": "object", "properties": {"tasks": _TASKS}},
                                     "task instances"), "400": _bad("unknown state")},
                       params=[{"name": "state", "in": "query", "required": False,
                                "schema": {"type": "string"}}]),
            "post": submit,
        },
        "/v1/tasks/{task_id}": {"get": _op(
            "One task instance, with why it is pending",
            {"200": _json({"$ref": "#/components/schemas/TaskInstance"}, "the instance"),
             "404": _bad("unknown task")},
            params=[_path_param("task_id", "internal id")])},
        "/v1/tasks/{task_id}/logs": {"get": _op(
            "The instance's container output, as text: one stream, the last lines of it, "
            "or followed until the container ends (ended containers are kept an hour)",
            {"200": {"description": "the log", "content": {"text/plain": {
                "schema": {"type": "string"}}}},
             "400": _bad("stream, tail or follow not understood"),
             "404": _bad("unknown task, or its container is gone"),
             "502": _bad("the master or agent failed while reading"),
             "503": _bad("the task's agent is not connected to the master")},
            params=[_path_param("task_id", "internal id"),
                    *({"name": name, "in": "query", "required": False, "description": text,
                       "schema": schema} for name, text, schema in (
                        ("stream", "stdout (default) or stderr",
                         {"type": "string", "enum": ["stdout", "stderr"]}),
                        ("tail", "only the last N lines of the stream",
                         {"type": "integer", "minimum": 0}),
                        ("follow", "keep streaming until the container ends",
                         {"type": "boolean"})))])},
        "/v1/tasks/{prefix}": {"delete": kill},
        "/v1/reshuffle": {"post": reshuffle},
        "/v1/agents": {"get": _op("Agents seen in offers and updates, with task counts",
                                  {"200": _json({"type": "object"}, "agents")})},
        "/v1/offers": {"get": _op("The most recent offers received, newest first",
                                  {"200": _json({"type": "object"}, "offers")})},
        "/v1/usage": {
            "get": _op("Peak metered usage per task (what reshuffle sizes by)",
                       {"200": _json({"type": "object"}, "usage")}),
            "post": _op("Push metering samples {samples: [{task_id, cpus, mem}]}",
                        {"202": _json(_ANSWER, "recorded"), "400": _bad()},
                        body={"type": "object", "required": ["samples"], "properties": {
                            "samples": {"type": "array", "items": {
                                "type": "object", "required": ["task_id", "cpus", "mem"],
                                "properties": {"task_id": {"type": "string"},
                                               "cpus": {"type": "number", "minimum": 0},
                                               "mem": {"type": "number",
                                                       "minimum": 0}}}}}}),
        },
        "/openapi.json": {"get": _op("This document", {"200": _json({"type": "object"},
                                                                    "OpenAPI 3.1")})},
        "/metrics": {"get": _op("Prometheus metrics", {"200": {
            "description": "text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}}}})},
    }
    instance = {"type": "object", "description": "The task's spec fields (env values shown "
                "as \"***\": names only) plus these",
                "properties": {
                    "internal_id": {"type": "string"}, "submission_id": {"type": "string"},
                    "state": {"type": "string", "enum": [
                        "PENDING", "STAGING", "STARTING", "RUNNING", "KILLING", "FINISHED",
                        "FAILED", "KILLED", "LOST", "ERROR"]},
                    "reason": {"type": ["string", "null"]},
                    "agent_id": {"type": ["string", "null"]},
                    "hostname": {"type": ["string", "null"]},
                    "container_id": {"type": ["string", "null"]},
                    "container_name": {"type": ["string", "null"]},
                    "created_at": {"type": "number"}, "running": {"type": "boolean"},
                    "InternalID": {"type": "string"}, "SlaveID": {"type": "string"},
                    "ContainerID": {"type": "string"}, "ContainerName": {"type": "string"},
                    "CreatedAt": {"type": "integer"}, "RequestSent": {"type": "boolean"},
                    "Running": {"type": "boolean"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "berth Charmander framework", "version": "1.0.0",
                 "description": "Charmander's REST API for task scheduling, plus /v1/."},
        "paths": paths,
        "components": {"schemas": {
            **defs,
            "TaskSpec": task_schema,
            "TaskInstance": instance,
            "Answer": {"type": "object", "required": ["code", "message"], "properties": {
                "code": {"type": "integer"}, "message": {"type": "string"}}},
            "Error": {"type": "object", "required": ["code", "message", "errors"],
                      "properties": {"code": {"type": "integer"},
                                     "message": {"type": "string"},
                                     "errors": {"type": "array", "items": {
                                         "type": "object", "properties": {
                                             "field": {"type": "string"},
                                             "problem": {"type": "string"}}}}}},
        }},
    }
