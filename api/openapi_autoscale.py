"""The autoscaler's part of the framework's OpenAPI document: what `"autoscale"` on a job
means field by field (descriptions added to the schemas pydantic writes for
offers/autoscale.py's models), the decisions route of api/jobs_app.py, and what a job's
status shows of its autoscaler."""

from __future__ import annotations

from typing import Any

from api.openapi_parts import bad, json_answer, operation, path_param

_WINDOW = "seconds of readings, up to now, the aggregation is over"
AUTOSCALE_FIELDS: dict[str, dict[str, str]] = {
    "AutoscalePolicy": {
        "min": "the fewest instances the autoscaler leaves (default 1)",
        "max": "the most instances the autoscaler sets",
        "interval": "seconds between evaluations (default 30; with the preset: its "
                    "adapt_interval)",
        "rule": "the tree that decides: a node whose root yields a count (threshold, "
                "target, or bounded/combine of those)",
        "on_autoscaling": "ConPaaS's preset instead of `rule`",
        "scale_up": "when a scale-up may happen",
        "scale_down": "when a scale-down may happen",
        "max_step": "at most this many instances more or fewer per decision (default: "
                    "no limit)",
    },
    "MetricNode": {
        "node": "metric",
        "name": "a stored metric of the job (tags job and namespace): cpu, mem, "
                "response_time (the HTTP health check's, in ms), or a custom name",
        "window": _WINDOW + " (default 60)",
        "agg": "mean (default), max, min, sum or last",
        "unit": "what the value is counted in, for the decisions' reasons (e.g. ms)",
    },
    "PerInstanceNode": {
        "node": "per_instance",
        "of": "the metric, read for each running instance (tag instance)",
        "combine": "how the instances' values are made one: max (default: the busiest), "
                   "min, mean, sum; instances with no reading are left out",
    },
    "AverageNode": {
        "node": "average",
        "of": "a node yielding a value",
        "window": "seconds back over which it is evaluated",
        "samples": "how many evaluations, evenly spread over the window (default 5); "
                   "those with no reading are left out",
    },
    "CombineNode": {
        "node": "combine",
        "op": "max (default), min, mean or sum",
        "of": "nodes of one kind (all values or all counts); a branch with a missing "
              "metric is left out and forbids a scale-down",
    },
    "ThresholdNode": {
        "node": "threshold",
        "of": "a node yielding a value",
        "low": "below it: `step` instances fewer",
        "high": "above it: `step` instances more",
        "step": "instances added or removed per decision (default 1)",
    },
    "TargetNode": {
        "node": "target",
        "of": "a node yielding a value",
        "value": "the value wanted: count = ceil(count x value read / this) (Kubernetes "
                 "HPA)",
        "tolerance": "the count is kept while the ratio is within this of 1 (default "
                     "0.1)",
    },
    "BoundedNode": {
        "node": "bounded",
        "of": "any node",
        "min": "its value is raised to this at least",
        "max": "its value is lowered to this at most",
    },
    "OnAutoscaling": {
        "response_time_threshold": "milliseconds: one instance more while the mean of "
                                   "response_time over the adapt interval is above, one "
                                   "fewer while below half of it",
        "adapt_interval": "minutes between adaptations (default 5)",
        "strategy": "the size of the instances it adds, from `sizes`: low (the "
                    "smallest), medium_down, medium, medium_up, high (the largest)",
        "sizes": "the instance sizes on offer; a scale-up resizes the job's template to "
                 "the picked one, so instances started from then on (restarts too) have "
                 "it, those running keep theirs; none given: the template's own size",
    },
    "InstanceSize": {"cpus": "cores", "mem": "MiB"},
    "ScaleUp": {
        "cooldown": "seconds after any change before a scale-up (default 0)",
        "stabilization": "the smallest scale-up asked for over these last seconds is "
                         "made (default 0)",
    },
    "ScaleDown": {
        "cooldown": "seconds after any change before a scale-down (default 0)",
        "stabilization": "the smallest scale-down asked for over these last seconds is "
                         "made: nothing while a decision within them asked for as many "
                         "or more (default 300, Kubernetes HPA's)",
    },
}

_INSTANT = {"type": ["object", "null"], "properties": {
    "at": {"type": "number", "description": "seconds since the epoch"},
    "utc": {"type": "string", "description": "ISO 8601"}}}
DECISION = {"type": "object", "properties": {
    "at": _INSTANT,
    "current": {"type": "integer", "description": "the count it had"},
    "desired": {"type": "integer", "description": "the count it set (= current: kept)"},
    "recommended": {"type": ["integer", "null"], "description": "what the tree asked "
                    "for, within min..max, before stabilization, cooldowns and max_step; "
                    "null: a metric was missing"},
    "changed": {"type": "boolean"},
    "reason": {"type": "string", "description": "e.g. 'count 3 -> 5: response_time "
               "mean 2,450 ms over 2,000 ms for 3 intervals'"},
    "inputs": {"type": "object", "additionalProperties": {"type": ["number", "null"]},
               "description": "each reading by what it is, e.g. 'cpu mean 60s'"},
    "size": {"type": ["object", "null"], "description": "the size of the instances a "
             "scale-up adds, when the preset picks one"}}}
AUTOSCALE_STATUS = {"type": ["object", "null"], "description": "an autoscaled job only",
                    "properties": {
    "min": {"type": "integer"}, "max": {"type": "integer"},
    "interval": {"type": "number", "description": "seconds between evaluations"},
    "added_size": {"type": ["object", "null"]},
    "last_decision": {"anyOf": [DECISION, {"type": "null"}]},
    "next_evaluation": _INSTANT}}


def describe_autoscale(defs: dict[str, Any]) -> None:
    """Add each autoscale field's description to the schemas pydantic wrote."""
    for model, fields in AUTOSCALE_FIELDS.items():
        for name, text in fields.items():
            defs[model]["properties"][name]["description"] = text


def autoscale_paths() -> dict[str, Any]:
    return {"/v1/jobs/{name}/autoscale": {"get": operation(
        "The autoscaler's decisions for a job, newest first (the last 100 kept), each "
        "with its inputs and its reason, and the job's policy",
        {"200": json_answer({"type": "object", "properties": {
            "job": {"type": "string"},
            "policy": {"anyOf": [{"$ref": "#/components/schemas/AutoscalePolicy"},
                                 {"type": "null"}],
                       "description": "null: the job is not autoscaled"},
            "status": AUTOSCALE_STATUS,
            "decisions": {"type": "array", "items": DECISION}}}, "the decisions"),
         "404": bad("no job of that name"),
         "409": bad("a scheduled job: a template that does not run itself")},
        params=[path_param("name", "the job's name")])}}
