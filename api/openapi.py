"""The OpenAPI 3.1 description of the framework's REST API (served at `/openapi.json`).

Every route the app registers is here (tests/test_openapi.py holds the two together):
the task routes (api/openapi_tasks.py), the job routes (api/openapi_jobs.py), Jisto's
(api/openapi_jisto.py) and the rest
below, each with every status it can answer, the refusals of api.auth and api.json_body
included (api/openapi_parts.py). Once users exist every route but `/admin/ping` needs
HTTP Basic or a Bearer token; without users a loopback caller needs neither.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from api.openapi_autoscale import autoscale_paths
from api.openapi_farms import farm_paths
from api.openapi_generic import generic_paths
from api.openapi_images import image_paths
from api.openapi_jisto import jisto_paths
from api.openapi_jobs import job_paths, job_schemas
from api.openapi_juliarun import juliarun_paths, juliarun_schemas
from api.openapi_metrics import metrics_paths
from api.openapi_namespaces import namespace_paths
from api.openapi_parts import TEXT, bad, document, json_answer, operation, query_param
from api.openapi_schedules import schedule_paths
from api.openapi_specs import wire_forms
from api.openapi_tasks import task_paths, task_schemas
from api.openapi_ui import ui_paths

_AUDIT_ENTRY = {"type": "object", "properties": {
    "at": {"type": "number"}, "principal": {"type": "string"},
    "remote": {"type": "string"}, "surface": {"type": "string"},
    "action": {"type": "string", "description": "method and path, never the query"},
    "status": {"type": "integer"}, "detail": {"type": "string"}}}
_SAMPLES = {"type": "object", "required": ["samples"], "properties": {
    "samples": {"type": "array", "items": {
        "type": "object", "required": ["task_id", "cpus", "mem"],
        "properties": {"task_id": {"type": "string"},
                       "cpus": {"type": "number", "minimum": 0},
                       "mem": {"type": "number", "minimum": 0}}}}}}

_USAGE_ROW = {"type": "object", "properties": {
    "submission_id": {"type": "string"}, "peak_cpus": {"type": "number"},
    "peak_mem": {"type": "number"}}}
_KIND_ROW = {"type": "object", "properties": {
    "dockerimage": {"type": "string"},
    "arguments": {"type": "array", "items": {"type": "string"}},
    "cpus": {"type": "number"}, "mem": {"type": "number"}, "disk": {"type": "number"},
    "peak_cpus": {"type": "number"}, "peak_mem": {"type": "number"}}}


def _other_paths() -> dict[str, Any]:
    def listing(key: str, summary: str, item: dict) -> dict:
        return {"get": operation(summary, {"200": json_answer(
            {"type": "object", "required": [key], "properties": {
                key: {"type": "array", "items": item}}}, key)})}

    return {
        "/admin/ping": {"get": operation("Health check", {"200": {
            "description": "pong", "content": TEXT}}, open_route=True)},
        "/v1/agents": listing("agents", "Agents seen in offers and updates, with task counts",
                              {"type": "object", "properties": {
                                  "id": {"type": "string"}, "hostname": {"type": "string"},
                                  "tasks": {"type": "integer"}}}),
        "/v1/offers": listing("offers", "The most recent offers received, newest first",
                              {"type": "object"}),
        "/v1/usage": {
            "get": operation(
                "Peak metered usage per task (what reshuffle sizes by) and per kind of task "
                "(image, arguments, requested shape: what intelligence sizes new tasks by)",
                {"200": json_answer({"type": "object", "required": ["usage", "kinds"],
                                     "properties": {
                                         "usage": {"type": "array", "items": _USAGE_ROW},
                                         "kinds": {"type": "array", "items": _KIND_ROW}}},
                                    "usage")}),
            "post": operation("Push metering samples {samples: [{task_id, cpus, mem}]}",
                              {"202": json_answer({"$ref": "#/components/schemas/Answer"},
                                                  "recorded"), "400": bad()},
                              body=_SAMPLES),
        },
        "/v1/audit": {"get": operation(
            "The audit log, newest first (admins only)",
            {"200": json_answer({"type": "object", "required": ["entries"], "properties": {
                "entries": {"type": "array", "items": _AUDIT_ENTRY}}}, "entries"),
             "400": bad("since or limit not understood, or limit out of 1-1000")},
            params=[query_param("since", "only entries after this time (seconds since "
                                         "the epoch)", {"type": "number"}),
                    query_param("user", "only this principal's", {"type": "string"}),
                    query_param("limit", "at most this many (default 100)",
                                {"type": "integer", "minimum": 1, "maximum": 1000})])},
        "/openapi.json": {"get": operation("This document", {"200": json_answer(
            {"type": "object"}, "OpenAPI 3.1")})},
        "/metrics": {"get": operation("Prometheus metrics", {"200": {
            "description": "text exposition format", "content": TEXT}})},
    }


@cache
def openapi_document() -> dict[str, Any]:
    return document(
        "berth Charmander framework",
        "Charmander's REST API for task scheduling, plus berth's /v1/ (tasks, jobs, "
        "agents, offers, usage, metrics, rusage, namespaces, audit, schedules, client "
        "parameters), Jisto's "
        "(/v1/job, /v1/task, /v1/jobsource, /upload, /pullImage, /deleteImage; berth's "
        "/v1/images) and JuliaRun's HTTP API over berth's jobs "
        "(answers in JuliaWebAPI's {code, data}).",
        {**task_paths(), **job_paths(), **autoscale_paths(), **schedule_paths(),
         **jisto_paths(), **image_paths(), **namespace_paths(), **metrics_paths(),
         **_other_paths(), **juliarun_paths(), **generic_paths(), **ui_paths(),
         **farm_paths()},
        {**wire_forms({**task_schemas(), **job_schemas()}), **juliarun_schemas()})
