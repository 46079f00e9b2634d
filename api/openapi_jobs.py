"""The `/v1/jobs` part of the framework's OpenAPI document (api/jobs_app.py's routes).

The job schema comes from the JobSpec model itself, with a description for each field
added here (`FIELDS`, `POLICY_FIELDS`); a test checks none is missing.
"""

from __future__ import annotations

from typing import Any

from api.jobs_app import MAX_WAIT_SECONDS
from api.openapi_autoscale import AUTOSCALE_STATUS, describe_autoscale
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
from api.openapi_schedules import SCHEDULE_FIELDS, SCHEDULE_STATUS
from api.openapi_specs import ID, task_wire_form
from offers.job import MAX_INSTANCES, JobSpec

REF = "#/components/schemas/{model}"
STATUS = {"$ref": "#/components/schemas/JobStatus"}

FIELDS = {
    "name": "unique; the characters of a task id (spaces dropped, then "
            "[A-Za-z0-9][A-Za-z0-9_.-]*, at most 128)",
    "type": "batch: done when `completions` instances exited 0; service: `count` "
            "instances kept running; system: one instance on every eligible node; "
            "parallel: a `master` plus `count` workers, done when the master exits 0; "
            "array: `count` units scaled as one, done when all exited 0 (none: idle "
            "until scaled)",
    "priority": "-1,000,000 .. 1,000,000, default 0: placed higher first, then older "
                "first, across jobs and tasks",
    "namespace": "whose job it is (a DNS label); default: the request's `namespace`, "
                 "else the caller's only namespace, else `default`",
    "task": "the one template: a Charmander task JSON without `sla`; its `id` defaults "
            "to the job's name",
    "tasks": "several templates instead of `task`, each with its own `count`",
    "master": "parallel jobs only: the master's template (its workers are `task`)",
    "count": "instances wanted (service, array; the workers of a parallel job); "
             "default 1",
    "completions": "batch jobs only: instances that must exit 0, each with its own "
                   "BERTH_JOB_INDEX (0 .. completions-1); default 1",
    "parallelism": "batch jobs only: at most this many at once (default: all)",
    "restart": "application failures (exit code not 0, OOM-killed)",
    "relaunch": "infrastructure failures (agent lost, container gone, Docker refused, "
                "the start-up timeout)",
    "startup_timeout": "seconds from launch to RUNNING; past it the instance is killed "
                       "and relaunched elsewhere (an infrastructure failure)",
    "max_runtime": "seconds an instance may run; past it it is killed and ends FAILED "
                   "(`deadline exceeded`), not restarted",
    "constraints": "Marathon's [field, OPERATOR, value?] on any agent attribute or "
                   "hostname (UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER), on every "
                   "template beside its own; UNIQUE, MAX_PER and GROUP_BY count the job",
    "labels": "names and values (strings) a surface keeps with the job, e.g. "
              "`juliarun.type` for a job submitted through JuliaRun's API",
    "schedule": "makes the job a template that runs on a schedule (its runs are jobs of "
                "their own); see Schedule",
    "client": "the client whose global parameters (PUT /v1/clients/{client}/parameters, "
              "in the job's namespace) each run gets as environment variables and as "
              "${KEY} in its arguments; the job's own `env` wins",
    "autoscale": "service and array jobs of one template: the count kept between `min` "
                 "and `max` by a tree of metric combinators (`rule`) or ConPaaS's "
                 "`on_autoscaling` preset; see AutoscalePolicy",
}
POLICY_FIELDS = {
    "RestartPolicy": {
        "attempts": "restarts allowed within `interval` (null: no limit); when spent the "
                    "instance ends FAILED and is not started again: a batch or array job "
                    "fails, a parallel job if it was the master, a service when every "
                    "instance has given up",
        "interval": "seconds over which `attempts` are counted",
        "delay": "seconds before the first restart",
        "backoff": "the delay is multiplied by this per failure in a row",
        "max_delay": "the delay grows to this at most",
        "when": "always (an exit 0 is started again too, after `delay`; not a batch "
                "instance's or a parallel master's) or on-failure; default: always for "
                "service and system jobs, on-failure for the others",
    },
    "RelaunchPolicy": {
        "attempts": "relaunches allowed (null, the default: no limit)",
        "avoid": "seconds the node it failed on is avoided",
        "errors": "launches in a row that ended ERROR before the instance gives up "
                  "(null: never)",
    },
    "Template": {"count": "with `tasks`: this template's instances (required unless the "
                          "job is a system job)"},
}

_SUMMARY = {
    "name": {"type": "string"},
    "type": {"type": "string", "enum": ["batch", "service", "system", "parallel",
                                        "array"]},
    "phase": {"type": "string", "enum": ["pending", "running", "complete", "failed",
                                         "stopped", "scheduled"],
              "description": "scheduled: a template with a schedule (its runs are jobs)"},
    "reason": {"type": ["string", "null"], "description": "why the phase, e.g. "
               "'index 3: exit code 3 (restarted 3 times within 1800 s)'"},
    "priority": {"type": "integer"},
    "desired": {"type": "integer", "description": "instances wanted now (a parallel job's "
                "master counted; a system job: its nodes plus one waiting for a new node)"},
    "running": {"type": "integer"}, "pending": {"type": "integer"},
    "healthy": {"type": "integer", "description": "running instances whose health check "
                "passed last (see the template's `health_check`)"},
    "unhealthy": {"type": "integer", "description": "running instances whose health check "
                  "failed last; killed after `max_failures` in a row, then restarted by "
                  "the `restart` policy (reason `unhealthy: ...`)"},
    "succeeded": {"type": "integer", "description": "slots that exited 0 for good"},
    "failed": {"type": "integer", "description": "instances that ended FAILED or ERROR"},
    "restarts": {"type": "integer", "description": "instances started again after a "
                 "failure, over the job's life"},
    "created_at": {"type": "number"},
    "charmander": {"type": "boolean", "description": "a Charmander task's job"},
    "next_firing": {"description": "a scheduled job only"},
    "last_firing": {"description": "a scheduled job only"},
}
_INSTANCE = {"type": "object", "properties": {
    "id": {"type": "string"},
    "state": {"type": "string"},
    "reason": {"type": ["string", "null"]},
    "host": {"type": ["string", "null"]},
    "agent_id": {"type": ["string", "null"]},
    "exit_code": {"type": ["integer", "null"]},
    "healthy": {"type": ["boolean", "null"], "description": "its health check's last "
                "verdict while it runs; null: no check, or none has counted yet"},
    "index": {"type": ["integer", "null"], "description": "its BERTH_JOB_INDEX"},
    "role": {"type": ["string", "null"], "enum": ["master", None]},
    "created_at": {"type": "number"}, "updated_at": {"type": "number"}}}
_STATUS = {"type": "object", "description": "JobSummary plus these", "properties": {
    **_SUMMARY,
    "states": {"type": "object", "additionalProperties": {"type": "integer"},
               "description": "instances by task state"},
    "pending_instances": {"type": "array", "items": {"type": "object", "properties": {
        "id": {"type": "string"}, "reason": {"type": "string"}}}},
    "steps": {"type": "array", "items": {"type": "integer"},
              "description": "counts a stepped scale has still to reach"},
    "instances": {"type": "array", "items": {"$ref": "#/components/schemas/JobInstance"}},
    "spec": {"$ref": "#/components/schemas/JobSpec",
             "description": "the job JSON, defaults filled in, env values as \"***\""},
    "schedule": SCHEDULE_STATUS,
    "autoscale": AUTOSCALE_STATUS}}


def job_schemas() -> dict[str, Any]:
    """The components: JobSpec and the models it uses, JobSummary, JobStatus, JobInstance."""
    spec = json_schema_bounds(JobSpec.model_json_schema(ref_template=REF))
    defs = spec.pop("$defs", {})
    spec["properties"]["name"] = dict(ID)
    spec["oneOf"] = [  # `task` or `tasks`, not both
        {"required": ["task"], "properties": {"task": {"type": "object"}}},
        {"required": ["tasks"], "properties": {"tasks": {"type": "array"}}}]
    task_wire_form(defs["Template"], id_optional=True)
    for name, text in FIELDS.items():
        spec["properties"][name]["description"] = text
    for name, text in SCHEDULE_FIELDS.items():
        defs["Schedule"]["properties"][name]["description"] = text
    describe_autoscale(defs)
    for model, fields in POLICY_FIELDS.items():
        for name, text in fields.items():
            defs[model]["properties"][name]["description"] = text
    return {**defs, "JobSpec": spec,
            "JobSummary": {"type": "object", "properties": _SUMMARY},
            "JobStatus": _STATUS, "JobInstance": _INSTANCE}


def job_paths() -> dict[str, Any]:
    name = path_param("name", "the job's name")
    unknown = bad("no job of that name")
    template = bad("a scheduled job: a template that does not run itself; act on its runs")
    store = unavailable("the state store cannot be written (Retry-After); nothing was "
                        "changed")
    scale_body = {"oneOf": [
        {"type": "object", "required": ["count"], "additionalProperties": False,
         "properties": {"count": {"type": "integer", "minimum": 0,
                                  "maximum": MAX_INSTANCES}}},
        {"type": "object", "required": ["steps"], "additionalProperties": False,
         "properties": {"steps": {"type": "array", "minItems": 1, "items": {
             "type": "integer", "minimum": 0, "maximum": MAX_INSTANCES}}}}]}
    return {
        "/v1/jobs": {
            "post": operation(
                "Submit a job; 201 once it is on disk, with its status and Location",
                {"201": json_answer(STATUS, "the job's status (Location: /v1/jobs/<name>)"),
                 "400": bad("invalid job: every bad field named, e.g. `completions`, "
                            "`master`, `restart.delay`, `task.sla`"),
                 "409": bad("a job of that name exists (field `name`)"),
                 "413": bad("body too large"), "503": store},
                body={"$ref": "#/components/schemas/JobSpec"}),
            "get": operation(
                "Every job, short form",
                {"200": json_answer({"type": "object", "properties": {"jobs": {
                    "type": "array", "items": {"$ref": "#/components/schemas/JobSummary"}}}},
                    "jobs, oldest first")},
                params=[query_param("tasks", "true: Charmander tasks too (each is a job)",
                                    {"type": "boolean"})]),
        },
        "/v1/jobs/{name}": {
            "get": operation("A job's status: phase, counts, every instance, the spec",
                             {"200": json_answer(STATUS, "the status"), "404": unknown},
                             params=[name]),
            "delete": operation(
                "Forget a job; refused while it is not complete, failed or stopped "
                "unless force=true (which stops it first)",
                {"200": json_answer(ANSWER, "{code: 200, message: 'deleted job <name>'}"),
                 "400": bad("force is not true or false"), "404": unknown,
                 "409": bad("the job is pending or running"), "503": store},
                params=[name, query_param("force", "delete a job that still runs",
                                          {"type": "boolean", "default": False})]),
        },
        "/v1/jobs/{name}/scale": {"put": operation(
            "Scale a service, array or parallel job (its workers) to `count`, or through "
            "`steps`, each reached once every instance of the one before runs",
            {"200": json_answer(STATUS, "the status (`desired`, `steps` still to come)"),
             "400": bad("neither or both of count and steps, a count below 0 or above "
                        f"{MAX_INSTANCES}, empty steps, an unknown field"),
             "404": unknown,
             "409": bad("a batch or system job, a Charmander task, a job of several "
                        "templates, a job complete, failed or stopped, or a scheduled "
                        "job (a template: act on its runs)"),
             "503": store},
            body=scale_body, params=[name])},
        "/v1/jobs/{name}/stop": {"post": operation(
            "Kill every instance and start none; the job is kept (phase stopped)",
            {"200": json_answer(STATUS, "the status"), "404": unknown,
             "409": template, "503": store},
            body={"type": "object", "description": "ignored: send {} or nothing"},
            body_required=False, params=[name])},
        "/v1/jobs/{name}/wait": {"get": operation(
            "Answer once the job is complete, failed or stopped, or at the timeout",
            {"200": json_answer(STATUS, "the status: check `phase`"),
             "400": bad("timeout is not a number of seconds from 0 to "
                        f"{MAX_WAIT_SECONDS:g}"),
             "404": bad("no job of that name, or it was deleted while waiting"),
             "409": template},
            params=[name, query_param("timeout", "seconds (default 60)", {
                "type": "number", "minimum": 0, "maximum": MAX_WAIT_SECONDS,
                "default": 60})])},
        "/v1/jobs/{name}/logs": {"get": operation(
            "An instance's container output, as text (default: the newest launched)",
            {"200": {"description": "the log", "content": TEXT},
             "400": bad("stream, tail or follow not understood"),
             "404": bad("no such job, `instance` is not one of its instances, none was "
                        "launched yet, or the container is gone"),
             "409": template,
             "502": bad("the master or agent failed while reading"),
             "503": bad("no master, or the instance's agent is not connected"),
             "504": bad("the agent did not answer in time")},
            params=[name, query_param("instance", "an instance id, e.g. web.3",
                                      {"type": "string"}), *log_params()])},
    }
