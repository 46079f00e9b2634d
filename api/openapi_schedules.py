"""The Elastic Job Master's part of the framework's OpenAPI document (api/schedules_app.py's
routes, and what a scheduled job adds to the job schemas of api/openapi_jobs.py)."""

from __future__ import annotations

from typing import Any

from api.openapi_parts import bad, json_answer, operation, path_param, unavailable
from framework.client_parameters import MAX_PARAMETERS

SCHEDULE_FIELDS = {
    "cron": "one cron expression or a list (minute hour day-of-month month "
            "day-of-week), or @daily, @weekly, @monthly (at `at`); each firing starts a "
            "run: a job named <name>-<YYYYMMDDTHHMM>Z (the firing's minute in UTC) made "
            "from this template, which never runs itself",
    "at": "HH:MM: the time of day of @daily, @weekly (Sunday), @monthly (the 1st); "
          "default 00:00",
    "time_zone": "an IANA time zone the expressions are read in (default UTC); a "
                 "wall-clock time repeated at a fall-back fires once, one skipped by a "
                 "spring-forward fires at the first minute after the gap",
    "concurrency": "allow (runs may overlap, the default), forbid (a firing while a run "
                   "is active is skipped), replace (the active runs are stopped first)",
    "catch_up": "firings missed while berth was down: none (skipped unless within "
                "`starting_deadline`), latest (the default: the newest of them runs), "
                "all (each runs, the newest `catch_up_limit`)",
    "catch_up_limit": "catch_up all: at most this many missed firings run",
    "starting_deadline": "seconds after its time a firing may still start (catch_up none)",
    "successful_runs_history": "complete runs kept (default 3); older ones are deleted",
    "failed_runs_history": "failed or stopped runs kept (default 1); older ones are "
                           "deleted",
}

_INSTANT = {"type": ["object", "null"], "properties": {
    "at": {"type": "number", "description": "seconds since the epoch"},
    "utc": {"type": "string", "description": "ISO 8601"}}}
SCHEDULE_STATUS = {"type": "object", "description": "a scheduled job only: its schedule "
                   "(the fields as given, defaults filled in), plus these", "properties": {
    "expressions": {"type": "array", "items": {"type": "string"},
                    "description": "the cron expressions, shorthands written out"},
    "next_firing": _INSTANT, "last_firing": _INSTANT,
    "runs": {"type": "array", "description": "the runs kept, oldest first", "items": {
        "type": "object", "properties": {
            "name": {"type": "string"}, "firing": _INSTANT,
            "manual": {"type": "boolean", "description": "started by a launch"},
            "phase": {"type": "string"}, "reason": {"type": ["string", "null"]}}}}}}
_PARAMETERS = {"type": "object", "maxProperties": MAX_PARAMETERS,
               "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
               "additionalProperties": {"type": "string"}}
_CLIENT_DOC = {"type": "object", "properties": {
    "client": {"type": "string"}, "namespace": {"type": "string"},
    "parameters": _PARAMETERS}}


def schedule_paths() -> dict[str, Any]:
    name = path_param("name", "the scheduled job's name")
    client = path_param("client", "the client's name ([A-Za-z0-9][A-Za-z0-9_.-]*)")
    store = unavailable("the state store cannot be written (Retry-After); nothing was "
                        "changed")
    status = {"$ref": "#/components/schemas/JobStatus"}
    return {
        "/v1/jobs/{name}/launch": {"post": operation(
            "Start a run of a scheduled job now (manual launch): a job named "
            "<name>-<YYYYMMDDTHHMMSS>Z-manual (-2, -3... for more in one second); "
            "concurrency and the last firing are not touched",
            {"201": json_answer(status, "the run's status (Location: /v1/jobs/<run>)"),
             "404": bad("no job of that name"),
             "409": bad("the job has no schedule"),
             "503": store},
            body={"type": "object", "description": "ignored: send {} or nothing"},
            body_required=False, params=[name])},
        "/v1/clients/{client}/parameters": {
            "put": operation(
                "Replace a client's global parameters (in the request's namespace): every "
                "job with `client` gets them as environment variables (its own `env` "
                "wins) and as ${KEY} in its arguments, from its next run on",
                {"200": json_answer(_CLIENT_DOC, "the parameters, on disk"),
                 "400": bad("a name that is not an environment variable name, a value "
                            "that is not a string (each named), a bad client or "
                            "namespace; nothing is stored"),
                 "503": store},
                body=_PARAMETERS, params=[client]),
            "get": operation(
                "A client's global parameters (in the request's namespace)",
                {"200": json_answer(_CLIENT_DOC, "the parameters"),
                 "400": bad("a bad client or namespace name"),
                 "404": bad("the client has no parameters in that namespace")},
                params=[client]),
        },
    }
