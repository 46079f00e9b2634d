"""The OpenAPI 3.1 description of the framework's REST API (served at `/openapi.json`).

The task and job schemas come from the TaskSpec and JobSpec models themselves, so the
document cannot drift from what `POST /client/task` and `POST /v1/jobs` accept (the job
routes are in api/openapi_jobs.py). Every route may answer 403 to a request from another
site's page, and every body-carrying one 415 to a body not sent as JSON (api.json_body).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from api.openapi_jobs import job_paths, job_schemas
from api.openapi_parts import (
    ANSWER,
    bad,
    json_answer,
    json_schema_bounds,
    log_params,
    operation,
    path_param,
)
from offers.task import TaskSpec

_TASKS = {"type": "array", "items": {"$ref": "#/components/schemas/TaskInstance"}}


@cache
def openapi_document() -> dict[str, Any]:
    task_schema = json_schema_bounds(
        TaskSpec.model_json_schema(ref_template="#/components/schemas/{model}"))
    defs = task_schema.pop("$defs", {})
    submit = operation("Queue a task (Charmander task JSON); 202 once it is on disk",
                 {"202": json_answer(ANSWER, "accepted: {code: 202, message: 'Run task: <id>'}; "
                               "a retry with the same Idempotency-Key gets the same answer"),
                  "400": bad("bad input, naming the field (body: malformed, nested deeper "
                              "than 64 levels, a number longer than 64 characters)"),
                  "413": bad("body too large"),
                  "422": bad("the Idempotency-Key was first used for another request")},
                 body={"$ref": "#/components/schemas/TaskSpec"},
                 params=[{"name": "Idempotency-Key", "in": "header", "required": False,
                          "description": "a fresh unique value per task (e.g. a UUID), the "
                                         "same on retries; remembered 24 h",
                          "schema": {"type": "string", "minLength": 1, "maxLength": 255}}])
    kill = operation("Kill every task whose internal id starts with the prefix",
               {"200": json_answer({"oneOf": [ANSWER, {"type": "array", "items": ANSWER}]},
                             "'Kill task: <internal id>' per task (a list when several)"),
                "404": bad("no live task matches")},
               params=[path_param("prefix", "start of internal ids, e.g. the task's id")])
    reshuffle = operation("Restart running reshuffleable tasks, placed by metered usage",
                    {"202": json_answer(ANSWER, "{code: 202, message: 'Reshuffle tasks'}")})
    paths = {
        "/admin/ping": {"get": operation("Health check", {"200": {
            "description": "pong", "content": {"text/plain": {"schema": {"type": "string"}}}}})},
        "/client/task": {
            "post": submit,
            "put": {**submit, "summary": "Same as POST (what `curl -T file` sends)"},
            "get": operation("Every scheduled, running and recently ended task instance",
                       {"200": json_answer(_TASKS, "task instances")}),
        },
        "/client/task/reshuffle": {"get": reshuffle},
        "/client/task/{prefix}": {"delete": kill},
        "/v1/tasks": {
            "get": operation("Task instances, optionally of one state",
                       {"200": json_answer({"type": "object", "properties": {"tasks": _TASKS}},
                                     "task instances"), "400": bad("unknown state")},
                       params=[{"name": "state", "in": "query", "required": False,
                                "schema": {"type": "string"}}]),
            "post": submit,
        },
        "/v1/tasks/{task_id}": {"get": operation(
            "One task instance, with why it is pending",
            {"200": json_answer({"$ref": "#/components/schemas/TaskInstance"}, "the instance"),
             "404": bad("unknown task")},
            params=[path_param("task_id", "internal id")])},
        "/v1/tasks/{task_id}/logs": {"get": operation(
            "The instance's container output, as text: one stream, the last lines of it, "
            "or followed until the container ends (ended containers are kept an hour)",
            {"200": {"description": "the log", "content": {"text/plain": {
                "schema": {"type": "string"}}}},
             "400": bad("stream, tail or follow not understood"),
             "404": bad("unknown task, or its container is gone"),
             "502": bad("the master or agent failed while reading"),
             "503": bad("the task's agent is not connected to the master")},
            params=[path_param("task_id", "internal id"), *log_params()])},
        "/v1/tasks/{prefix}": {"delete": kill},
        **job_paths(),
        "/v1/reshuffle": {"post": reshuffle},
        "/v1/agents": {"get": operation("Agents seen in offers and updates, with task counts",
                                  {"200": json_answer({"type": "object"}, "agents")})},
        "/v1/offers": {"get": operation("The most recent offers received, newest first",
                                  {"200": json_answer({"type": "object"}, "offers")})},
        "/v1/usage": {
            "get": operation("Peak metered usage per task (what reshuffle sizes by)",
                       {"200": json_answer({"type": "object"}, "usage")}),
            "post": operation("Push metering samples {samples: [{task_id, cpus, mem}]}",
                        {"202": json_answer(ANSWER, "recorded"), "400": bad()},
                        body={"type": "object", "required": ["samples"], "properties": {
                            "samples": {"type": "array", "items": {
                                "type": "object", "required": ["task_id", "cpus", "mem"],
                                "properties": {"task_id": {"type": "string"},
                                               "cpus": {"type": "number", "minimum": 0},
                                               "mem": {"type": "number",
                                                       "minimum": 0}}}}}}),
        },
        "/openapi.json": {"get": operation("This document", {"200": json_answer({"type": "object"},
                                                                    "OpenAPI 3.1")})},
        "/metrics": {"get": operation("Prometheus metrics", {"200": {
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
                 "description": "Charmander's REST API for task scheduling, plus berth's /v1/ (tasks, "
                                "jobs, agents, offers, usage)."},
        "paths": paths,
        "components": {"schemas": {
            **defs,
            **job_schemas(),
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
