"""The Jisto part of the framework's OpenAPI document (api/jisto_app.py's routes): Jisto's
RESTful API of seed 000, section 5, and its job source upload."""

from __future__ import annotations

from typing import Any

from api.jisto_app import ARCHIVE_FIELDS, JOBSOURCE, MAX_ARCHIVE
from api.openapi_parts import bad, json_answer, operation, path_param, unavailable
from offers.jisto import MAX_NAME, OPERATIONS

_UUID = {"type": "object", "required": ["UUID"], "properties": {
    "UUID": {"type": "string", "format": "uuid"}}}
_TASK = {"type": "object", "properties": {
    "UUID": {"type": "string"}, "Name": {"type": ["string", "null"]},
    "Image": {"type": "string"},
    "Env": {"type": "array", "items": {"type": "string"},
            "description": "the names of its environment variables (values not shown)"},
    "Iterations": {"type": "integer", "minimum": 1}}}
_JOB = {"type": "object", "required": ["UUID", "Name", "State"], "properties": {
    "UUID": {"type": "string"},
    "Name": {"type": "string"},
    "State": {"type": "string", "enum": ["Created", "Pending", "Running", "Finished",
                                         "Failed", "Stopped", "Cancelled"],
              "description": "Created until RunJob; then its berth job's phase"},
    "CreatedOn": {"type": "string", "description": "ISO 8601, UTC"},
    "Nodes": {"type": "integer", "description": "nodes its tasks ran or run on"},
    "TasksFinished": {"type": "integer"},
    "TasksRunning": {"type": "integer"},
    "TasksLeft": {"type": "integer"},
    "Progress": {"type": "integer", "minimum": 0, "maximum": 100,
                 "description": "percent of its runs finished"},
    "Iterations": {"type": "integer", "description": "runs in all (its tasks' sum)"},
    "Namespace": {"type": "string"},
    "Job": {"type": ["string", "null"],
            "description": "the berth job it runs as (/v1/jobs/{name}), once run"},
    "Reason": {"type": ["string", "null"], "description": "why its berth job's phase"},
    "Tasks": {"type": "array", "items": _TASK}}}


def jisto_paths() -> dict[str, Any]:
    uuid = path_param("uuid", "the job's UUID")
    unknown = bad("no job with that UUID (field JobUUID)")
    store = unavailable("the state store cannot be written (Retry-After); nothing was "
                        "changed")
    jobsource = operation(
        "Jisto's job source upload: a tar.gz holding config.json (iterations, jobName, "
        "options: net, privileged, volumes, tcpports, udpports, env) and the image it "
        "runs; creates the job (run it with RunJob)",
        {"200": json_answer({**_UUID, "properties": {
            **_UUID["properties"], "Name": {"type": "string"}}}, "the new job's UUID"),
         "400": bad("not multipart, a field missing or unknown, not a tar.gz, an entry "
                    "whose path escapes the archive (`../`, absolute, links out), no "
                    "config.json, `iterations` not a positive whole number, a bad "
                    "option, an invalid image: each named"),
         "413": bad(f"the archive is larger than {MAX_ARCHIVE} bytes"),
         "503": store},
        body={"type": "object"})
    jobsource["requestBody"] = {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": ["archive", "image"], "properties": {
            "archive": {"type": "string", "format": "binary",
                        "description": "the tar.gz; also accepted as "
                                       + ", ".join(ARCHIVE_FIELDS[1:])},
            "image": {"type": "string", "description": "the image its tasks run"},
            "contentType": {"type": "string", "description": "ignored (Jisto's form)"}}}}}}
    jobsource["responses"]["415"] = bad("the body is not multipart/form-data")
    return {
        "/v1/job": {
            "post": operation(
                "Create a job (Jisto's `job`); it runs once it has a task",
                {"200": json_answer(_UUID, "the job's UUID"),
                 "400": bad(f"Name missing, empty, longer than {MAX_NAME} or not a "
                            "string; an unknown field"),
                 "503": store},
                body={"type": "object", "required": ["Name"], "additionalProperties": False,
                      "properties": {"Name": {"type": "string", "minLength": 1,
                                              "maxLength": MAX_NAME}}}),
            "get": operation("Every Jisto job, as Manage Jobs lists them", {
                "200": json_answer({"type": "object", "required": ["Jobs"], "properties": {
                    "Jobs": {"type": "array", "items": _JOB}}}, "jobs, oldest first")}),
        },
        "/v1/job/{uuid}": {"get": operation(
            "A job (Jisto's GetJob): UUID, Name, State and the Manage Jobs columns",
            {"200": json_answer(_JOB, "the job"), "404": bad("no job with that UUID")},
            params=[uuid])},
        "/v1/job/{uuid}/op/{op}": {"post": operation(
            "Run, stop, cancel or delete a job (Jisto's UpdateJob). RunJob submits its "
            "berth job (again, once a run ended); StopJob and CancelJob stop it; "
            "DeleteJob deletes it, its tasks and its berth job",
            {"200": json_answer(_UUID, "the job's UUID"),
             "400": bad("an unknown operation (field JobOperation)"),
             "404": unknown,
             "409": bad("RunJob of a job without a task, or one running; StopJob or "
                        "CancelJob of a job that has not run"),
             "503": store},
            body={"type": "object", "description": "none needed"}, body_required=False,
            params=[uuid, path_param("op", "the operation", {
                "type": "string", "enum": list(OPERATIONS)})])},
        "/v1/task": {"post": operation(
            "Add a task to a job (Jisto's `task`): one more run of Image; the same image "
            "N times is N iterations, several images a multi-image job",
            {"200": json_answer(_UUID, "the task's UUID"),
             "400": bad("Image or JobUUID missing or invalid, Env not `NAME=value;...`, "
                        "an unknown field"),
             "404": unknown,
             "409": bad("the job runs (stop it first), or it has 100 different images "
                        "and envs already"),
             "503": store},
            body={"type": "object", "required": ["Image", "JobUUID"],
                  "additionalProperties": False, "properties": {
                      "Image": {"type": "string", "minLength": 1},
                      "JobUUID": {"type": "string"},
                      "Env": {"type": "string", "description": "`A=1;B=2`"},
                      "Name": {"type": "string", "description": "a task name, shown only"}}})},
        JOBSOURCE: {"post": jobsource},
    }
