"""The `/v1/namespaces` routes in the framework's OpenAPI document (api/namespaces_app.py)."""

from __future__ import annotations

from typing import Any

from api.openapi_parts import bad, json_answer, operation, path_param

_NUMBER = {"type": "number", "minimum": 0}
_WHOLE = {"type": "integer", "minimum": 0}
QUOTA = {"type": "object", "additionalProperties": False, "properties": {
    "cpus": _NUMBER, "mem": _NUMBER, "instances": _WHOLE, "jobs": _WHOLE}}
STATUS = {"type": "object", "required": ["name", "use", "quota", "credits", "burn_per_hour",
                                         "out_of_credits"], "properties": {
    "name": {"type": "string"},
    "use": {"type": "object", "properties": {"cpus": {"type": "number"},
                                              "mem": {"type": "number"},
                                              "instances": {"type": "integer"},
                                              "jobs": {"type": "integer"}}},
    "quota": {"anyOf": [QUOTA, {"type": "null"}]},
    "credits": {"type": ["number", "null"], "description": "the balance; null: no budget"},
    "burn_per_hour": {"type": "number", "description": "credits per hour at this moment"},
    "out_of_credits": {"type": "boolean"}}}
_NAME = path_param("name", "a namespace (a DNS label)")


def namespace_paths() -> dict[str, Any]:
    status = json_answer(STATUS, "the namespace's use, quota, balance and burn rate")
    return {
        "/v1/namespaces": {"get": operation(
            "The caller's namespaces (all for admins) with a quota, a budget or work",
            {"200": json_answer({"type": "object", "required": ["namespaces"],
                                 "properties": {"namespaces": {"type": "array",
                                                               "items": STATUS}}},
                                "namespaces")})},
        "/v1/namespaces/{name}": {
            "get": operation("One namespace of the caller's",
                             {"200": status, "404": bad("not a namespace of the caller's")},
                             params=[_NAME]),
            "put": operation("Set the quota (admins): a limit left out is none",
                             {"200": status, "400": bad("a limit below zero or not a number, "
                                                        "an unknown field, a bad name")},
                             params=[_NAME], body=QUOTA),
        },
        "/v1/namespaces/{name}/credits": {"post": operation(
            "Grant credits (admins)",
            {"200": status, "400": bad("amount is not a number > 0, or a bad name")},
            params=[_NAME], body={"type": "object", "required": ["amount"], "properties": {
                "amount": {"type": "number", "exclusiveMinimum": 0}}})},
    }
