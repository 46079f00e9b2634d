"""The OpenAPI description of the web UI's routes (api/ui_app.py) and what it reads
beyond the rest of /v1: the event stream and the caller's session (api/events_app.py)."""

from __future__ import annotations

from typing import Any

from api.openapi_parts import bad, json_answer, operation, path_param, query_param

_HTML = {"text/html": {"schema": {"type": "string"}}}
_FILES = {"text/html": {"schema": {"type": "string"}},
          "text/javascript": {"schema": {"type": "string"}},
          "text/css": {"schema": {"type": "string"}},
          "image/svg+xml": {"schema": {"type": "string"}}}
_STREAM = (
    "Server-Sent Events, one per change: `task` (an instance: id, submission_id, name, "
    "namespace, state, reason, host, agent_id, exit_code, cpus, mem, updated_at), `job` "
    "(a row of GET /v1/jobs), `offer` (id, agent_id, hostname, cpus, mem, disk, "
    "received_at, new_agent), `metrics` ({points: [{node, instance, name, t, value}]}: "
    "the nodes' measurements and task limits as stored). Each has an `id:`. Without a "
    "Last-Event-ID the framework still keeps, the first event is `reset` ({last_id}): load the state "
    "from the REST API, then apply what follows. A `: heartbeat` comment comes every 15 s; "
    "a reader that falls behind gets `dropped` and the stream ends (reconnect with the "
    "last id). A caller limited to namespaces sees only theirs.")


def ui_paths() -> dict[str, Any]:
    return {
        "/ui": {"get": operation("The web UI: redirects to /ui/", {"302": {
            "description": "to /ui/"}}, open_route=True)},
        "/ui/{path}": {"get": operation(
            "The web UI's static files (docs/ui.md); open: every datum comes from /v1",
            {"200": {"description": "the file (gzip when accepted)", "content": _FILES},
             "404": bad("no such file")}, open_route=True,
            params=[path_param("path", "a file under the UI, empty for index.html")])},
        "/v1/events": {"get": operation(
            "The framework's changes as Server-Sent Events (docs/ui.md)",
            {"200": {"description": _STREAM, "content": {
                "text/event-stream": {"schema": {"type": "string"}}}}},
            params=[query_param("last_event_id", "resume after this event id (as the "
                                "Last-Event-ID header, for readers that cannot set it)",
                                {"type": "string"}),
                    {"name": "Last-Event-ID", "in": "header", "required": False,
                     "description": "resume after this event id", "schema": {
                         "type": "string"}}])},
        "/v1/session": {"get": operation("Who the caller is: what the UI offers", {
            "200": json_answer({"type": "object", "required": ["user", "role", "scope"],
                                "properties": {
                "user": {"type": "string"}, "role": {"type": "string"},
                "scope": {"type": "string", "enum": ["read", "write", "admin"]},
                "namespaces": {"type": ["array", "null"], "items": {"type": "string"},
                               "description": "null: every namespace"},
                "token_id": {"type": ["string", "null"]}}}, "the caller")})},
    }
