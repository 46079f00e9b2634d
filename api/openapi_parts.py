"""Building blocks of the framework's OpenAPI document (api/openapi.py, api/openapi_jobs.py),
so every route is described the same way: berth's error body, 403 and 415 added where
they apply."""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}
ANSWER = {"$ref": "#/components/schemas/Answer"}
TEXT = {"text/plain": {"schema": {"type": "string"}}}


def json_answer(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def bad(description: str = "bad input, naming the field") -> dict:
    return json_answer(ERROR, description)


def operation(summary: str, responses: dict, *, body: dict | None = None,
              params: list | None = None, body_required: bool = True) -> dict:
    """One operation; a body-carrying one also answers 415 to a body not sent as JSON."""
    responses = {**responses, "403": bad("refused: sent by another site's page")}
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        responses["415"] = bad("the body is not declared application/json")
        op["requestBody"] = {"required": body_required, "content": {"application/json": {
            "schema": body}}}
    if params:
        op["parameters"] = params
    return op


def path_param(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string"}}


def query_param(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}


def log_params() -> list[dict]:
    """The query of every logs route (api/log_params.py)."""
    return [query_param("stream", "stdout (default) or stderr",
                        {"type": "string", "enum": ["stdout", "stderr"]}),
            query_param("tail", "only the last N lines of the stream",
                        {"type": "integer", "minimum": 0}),
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
