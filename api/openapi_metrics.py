"""The metrics part of the framework's OpenAPI document (api/metrics_app.py's routes)."""

from __future__ import annotations

from typing import Any

from api.openapi_parts import bad, json_answer, operation, query_param, unavailable
from persistence.metric_input import AGGREGATIONS, GROUPINGS, MAX_BATCH

_NAME = {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,200}$"}
_TAGS = {"type": "object", "maxProperties": 16, "additionalProperties": {"type": "string"},
         "description": "node, job, instance, namespace and any others; an `instance` the "
                        "framework runs gets its job, namespace and node filled in"}
_SAMPLE = {"type": "object", "properties": {
    "resource": {**_NAME, "description": "the metric's name"},
    "value": {"type": "number", "description": "finite"},
    "metrics": {"type": "object", "additionalProperties": {"type": "number"},
                "description": "several name -> value at once (instead of resource, value)"},
    "at": {"type": "number", "description": "seconds since the epoch (default now; at "
                                            "most 300 s ahead)"},
    "tags": _TAGS}}
_TIME = {"type": "string", "description": "seconds since the epoch, now, or -<n>[smhd]"}
_GROUP = {"type": "object", "additionalProperties": {"type": ["string", "null"]}}
_SERIES = {"type": "object", "properties": {
    "group": _GROUP, "value": {"type": ["number", "null"]},
    "points": {"type": "array", "description": "[bucket start, value] per step",
               "items": {"type": "array", "minItems": 2, "maxItems": 2,
                         "items": {"type": ["number", "null"]}}}}}
_USAGE = {"type": "object", "properties": {
    "job": {"type": "string"}, "namespace": {"type": "string"},
    "cpu_seconds": {"type": "number"}, "mem_mib_hours": {"type": "number"}}}


def metrics_paths() -> dict[str, Any]:
    window = [query_param("from", "window start (default: 10 minutes before to; an hour "
                                  "for rusage)", _TIME),
              query_param("to", "window end (default now)", _TIME)]
    return {
        "/v1/metrics": {
            "post": operation(
                "Record custom metrics (JuliaRun's record_metrics): one sample or a list",
                {"201": json_answer({"type": "object", "properties": {
                    "code": {"type": "integer"}, "message": {"type": "string"},
                    "stored": {"type": "integer"}}}, "stored"),
                 "400": bad("a name outside [A-Za-z0-9_.:-], a value not finite, a time in "
                            "the far future, bad tags, or a tag that contradicts the "
                            "instance's; nothing was stored"),
                 "503": unavailable("the metrics store cannot be written; nothing stored")},
                body={"oneOf": [_SAMPLE, {"type": "array", "items": _SAMPLE,
                                          "maxItems": MAX_BATCH}]}),
            "get": operation(
                "Aggregate a metric over a window (JuliaRun's get_metrics); without name, "
                "the metric names there are",
                {"200": json_answer({"type": "object", "properties": {
                    "names": {"type": "array", "items": {"type": "string"}},
                    "name": {"type": "string"}, "agg": {"type": "string"},
                    "from": {"type": "number"}, "to": {"type": "number"},
                    "group_by": {"type": ["string", "null"]},
                    "step": {"type": ["number", "null"]},
                    "series": {"type": "array", "items": _SERIES}}}, "series"),
                 "400": bad("an unknown agg or group_by, a bad name, time or step")},
                params=[query_param("name", "the metric (cpu, mem, cpu_limit, mem_limit, "
                                            "node_cpu_used, ... or a custom one)", _NAME),
                        *window,
                        query_param("agg", "how samples combine", {"enum": list(AGGREGATIONS)}),
                        query_param("group_by", "one result per value of this tag",
                                    {"enum": list(GROUPINGS)}),
                        query_param("step", "one point per step ( <n>[smhd] )",
                                    {"type": "string"}),
                        *(query_param(t, f"only series tagged with this {t}",
                                      {"type": "string"}) for t in ("node", "job",
                                                                    "instance"))])},
        "/v1/rusage": {"get": operation(
            "Task resource usage over a window (JuliaRun's get_rusage): cpu-seconds and "
            "MiB-hours per job or namespace",
            {"200": json_answer({"type": "object", "properties": {
                "from": {"type": "number"}, "to": {"type": "number"},
                "group_by": {"type": "string"},
                "usage": {"type": "array", "items": _USAGE}}}, "usage"),
             "400": bad("a bad time, or group_by not job or namespace")},
            params=[*window, query_param("group_by", "job or namespace (default)",
                                         {"enum": ["job", "namespace"]})])},
    }
