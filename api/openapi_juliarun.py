"""JuliaRun's HTTP API in the framework's OpenAPI document (api/juliarun_app.py's
routes): each route as GET and as POST, its answer in JuliaWebAPI's `{code, data}`."""

from __future__ import annotations

from typing import Any

from api.juliarun_app import DEFAULT_COUNT, JOB_TYPES, METHODS, ROUTES
from api.openapi_parts import json_answer, operation, path_param, query_param

REFUSAL = {"$ref": "#/components/schemas/JuliaRunError"}
_STRING = {"type": "string"}
_BOOL = {"type": "boolean"}
_INT = {"type": "integer", "minimum": 0}

# (summary, what `data` holds, its schema, parameters besides `name`, refusals)
_ROUTES: dict[str, tuple[str, str, dict, list[dict], dict[str, str]]] = {
    "get_system_status": (
        "Whether the framework is up and subscribed to its master", "a Bool", _BOOL, [],
        {}),
    "reconfigure": (
        "Read the configuration file again (admins); running jobs are not touched",
        "true", _BOOL, [],
        {"422": "the file does not load (it is named and why); the old configuration "
                "stays in force"}),
    "get_all_job_info": (
        "Every visible JuliaRun job: type, status, scale and endpoint",
        "{jobname: {type, status, scale, endpoint}}", {"type": "object"}, [], {}),
    "list_jobs": (
        "Every visible JuliaRun job with its type", "{jobname: {type}}",
        {"type": "object"}, [], {}),
    "submit_job": (
        "Submit a job of that type; its parameters are the type's constructor's (cpu, "
        "memory, image, shell, start_script, run_volume, additional_volumes, pkg_bundle, "
        "nworkers, worker_*, ports as name:container:service,..., external, envvars, "
        "passwd...); an unknown one is refused by name",
        "null", {"type": "null"}, [],
        {"400": "an unknown job type or parameter, or a bad value, named",
         "409": "a job of that name exists"}),
    "get_job_status": (
        "The job's status", "[completed, workers succeeded, workers, created, notebook]",
        {"type": "array", "prefixItems": [_BOOL, _INT, _INT, _BOOL, _BOOL]}, [], {}),
    "get_job_scale": (
        "The job's scale (0 for a job of one process)", "[running, requested]",
        {"type": "array", "items": _INT}, [], {}),
    "set_job_scale": (
        "Scale the job's workers to `parallelism`", "true", _BOOL,
        [query_param("parallelism", "the number of workers", _INT)],
        {"409": "the job type has no workers, or the job has ended"}),
    "get_job_endpoint": (
        "Where the job's running process listens", "[hosts, {port name: port}]",
        {"type": "array"}, [], {}),
    "tail_job": (
        "The last log lines of the job's processes (master first)",
        "the lines, joined with new lines", _STRING,
        [query_param("stream", "stdout or stderr (default: both)",
                     {"type": "string", "enum": ["stdout", "stderr"]}),
         query_param("count", f"how many lines (default {DEFAULT_COUNT}; 0: all)", _INT)],
        {"502": "the master could not be reached for the logs",
         "503": "the framework runs without a master"}),
    "delete_job": (
        "Remove the job; one that has not ended needs force=true", "true", _BOOL,
        [query_param("force", "remove a job that has not ended (default false)", _BOOL)],
        {"409": "the job has not ended and force is not true"}),
}


def _operation(name: str, path: str, method: str) -> dict[str, Any]:
    summary, data, schema, params, refusals = _ROUTES[name]
    responses: dict[str, Any] = {"200": json_answer(
        {"type": "object", "required": ["code", "data"], "properties": {
            "code": {"const": 0}, "data": schema}}, f"code 0; data: {data}")}
    params = list(params)
    if "{jobtype}" in path:
        params = [path_param("jobtype", "the JuliaRun job type",
                             {"type": "string", "enum": list(JOB_TYPES)}),
                  query_param("name", "the job's name", _STRING), *params]
        responses["400"] = json_answer(REFUSAL, "an unknown job type, or a missing or "
                                                "bad parameter, named")
        if name != "submit_job":
            responses["404"] = json_answer(REFUSAL, "no job of that type and name the "
                                                    "caller may see")
    for status, text in refusals.items():
        responses[status] = json_answer(REFUSAL, text)
    params.append(query_param("jruntok", "JuliaRun's token parameter: a berth API token "
                                         "(as a Bearer token would be)", _STRING))
    op = operation(summary, responses, params=params,
                   body=_BODY if method == "POST" else None, body_required=False)
    if method == "POST":
        op["responses"].setdefault("400", json_answer(REFUSAL, "the body is not a JSON "
                                                               "object of parameters"))
    return op


_BODY = {"type": "object", "description": "the parameters, as in the query",
         "additionalProperties": {"type": ["string", "number", "boolean"]}}


def juliarun_paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, name, _ in ROUTES:
        paths[path] = {m.lower(): _operation(name, path, m) for m in METHODS}
    return paths


def juliarun_schemas() -> dict[str, Any]:
    return {
        "JuliaRunError": {
            "type": "object", "required": ["code", "data"],
            "description": "JuliaWebAPI's error: `code` is the HTTP status, `data` the "
                           "reason; `errors` names each bad parameter",
            "properties": {"code": {"type": "integer", "minimum": 400},
                           "data": _STRING,
                           "errors": {"type": "array", "items": {
                               "type": "object", "properties": {
                                   "field": _STRING, "problem": _STRING}}}}},
    }
