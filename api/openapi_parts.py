"""Building blocks of berth's OpenAPI documents (the framework's, api/openapi.py, and the
master's, api/openapi_master.py), so every route is described the same way: berth's error
body, and the refusals every route can give added where they apply (api.auth's 401 with
its challenge and 403, api.json_body's 403 and 415, aiohttp's 413)."""

from __future__ import annotations

from typing import Any

from api.auth import CHALLENGE, UI_CHALLENGE, UI_HEADER
from api.log_params import MAX_TAIL

ERROR = {"$ref": "#/components/schemas/Error"}
ANSWER = {"$ref": "#/components/schemas/Answer"}
TEXT = {"text/plain": {"schema": {"type": "string"}}}
OPENAPI_VERSION = "3.1.0"

# HTTP Basic (a berth user) and Bearer (a berth token); with no users configured a caller
# on loopback is trusted without either, hence the empty requirement first.
SECURITY_SCHEMES = {
    "basic": {"type": "http", "scheme": "basic",
              "description": "a berth user and its password (`berth user add`)"},
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "a berth API token (`berth token create`)"},
}
SECURITY = [{}, {"basic": []}, {"bearer": []}]
_NAMESPACE = {"type": "string", "maxLength": 256}


def json_answer(schema: dict, description: str, headers: dict | None = None) -> dict:
    answer = {"description": description,
              "content": {"application/json": {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


def bad(description: str = "bad input, naming the field") -> dict:
    return json_answer(ERROR, description)


def unauthorized() -> dict:
    """api.auth.unauthorized: the reason in berth's error body, and the challenge."""
    return json_answer(ERROR, "not authenticated (users exist and no valid credentials "
                              "were given, or a credential was given and is not valid)",
                       headers={"WWW-Authenticate": {
                           "description": f"`{CHALLENGE}`; `{UI_CHALLENGE}` when the "
                                          f"request has `{UI_HEADER}: 1` (the web UI: "
                                          "no browser password dialog)",
                           "schema": {"type": "string", "enum": [CHALLENGE, UI_CHALLENGE]}}})


def unavailable(description: str) -> dict:
    return json_answer(ERROR, description, headers={"Retry-After": {
        "description": "seconds to wait before trying again", "required": False,
        "schema": {"type": "string"}}})


def operation(summary: str, responses: dict, *, body: dict | None = None,
              params: list | None = None, body_required: bool = True,
              open_route: bool = False) -> dict:
    """One operation. Unless `open_route` (a liveness probe the gate lets through) it may
    answer 401 and names the namespace it acts in; every one may answer 403 (another
    site's page; a caller without the scope or namespace); a body-carrying one also 413
    and 415 (a body not sent as JSON)."""
    responses = dict(responses)
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    params = list(params or [])
    if open_route:
        op["security"] = []
        responses.setdefault("403", bad("refused: sent by another site's page"))
    else:
        responses["401"] = unauthorized()
        responses.setdefault("403", bad("refused: sent by another site's page, or the "
                                        "caller lacks the scope or namespace this needs"))
        params += [{"$ref": "#/components/parameters/namespace"},
                   {"$ref": "#/components/parameters/jrunns"}]
    if body is not None:
        responses.setdefault("413", bad("body too large"))
        responses["415"] = bad("the body is not declared application/json")
        op["requestBody"] = {"required": body_required, "content": {"application/json": {
            "schema": body}}}
    if params:
        op["parameters"] = params
    return op


def document(title: str, description: str, paths: dict, schemas: dict) -> dict[str, Any]:
    """The whole document around `paths` and their `schemas`."""
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": "1.0.0", "description": description},
        "security": SECURITY,
        "paths": paths,
        "components": {
            "securitySchemes": SECURITY_SCHEMES,
            "parameters": {
                "namespace": query_param("namespace", "the namespace the request acts in "
                                         "(default: default); the caller must be allowed "
                                         "in it", _NAMESPACE),
                "jrunns": query_param("jrunns", "JuliaRun's name for `namespace`",
                                      _NAMESPACE)},
            "schemas": {**schemas, **_COMMON},
        },
    }


_COMMON = {
    "Answer": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "integer"}, "message": {"type": "string"}}},
    "Error": {"type": "object", "required": ["code", "message", "errors"],
              "properties": {"code": {"type": "integer"},
                             "message": {"type": "string"},
                             "errors": {"type": "array", "items": {
                                 "type": "object", "properties": {
                                     "field": {"type": "string"},
                                     "problem": {"type": "string"}}}}}},
}


def path_param(name: str, description: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema or {"type": "string"}}


def query_param(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}


def log_params() -> list[dict]:
    """The query of every logs route (api/log_params.py)."""
    return [query_param("stream", "stdout (default) or stderr",
                        {"type": "string", "enum": ["stdout", "stderr"]}),
            query_param("tail", "only the last N lines of the stream (or all)",
                        {"type": "integer", "minimum": 0, "maximum": MAX_TAIL}),
            query_param("follow", "keep streaming until the container ends",
                        {"type": "boolean"})]


def json_schema_bounds(node: Any) -> Any:
    """pydantic writes the bounds of some annotated fields as `ge`/`le`/`gt`/`lt`, which
    JSON Schema does not know: name them as it does (`minimum`...), in place."""
    names = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum",
             "lt": "exclusiveMaximum"}
    if isinstance(node, dict):
        if node.get("type") in ("integer", "number"):
            for short, long in names.items():
                if short in node:
                    node[long] = node.pop(short)
        for value in node.values():
            json_schema_bounds(value)
    elif isinstance(node, list):
        for value in node:
            json_schema_bounds(value)
    return node
