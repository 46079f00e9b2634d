"""The OpenAPI 3.1 description of the master's HTTP surface (served open at
`/openapi.json`, api/master_app.py): the Mesos v1 scheduler API, the agent link, the
views (`/state`, `/health`, `/version`, `/metrics`, metering) and task logs.

Every route the app registers is here (tests/test_openapi.py holds the two together),
with every status it can answer. Once the master's database has users, every route but
`/health`, `/version` and this document needs HTTP Basic or a Bearer token, the agent
link an admin-scope one; without users a loopback caller needs neither. The bodies are
in api/openapi_master_bodies.py.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from api.openapi_master_bodies import (
    AGENT_ELASTICITY,
    HEALTH,
    REGISTERED,
    REGISTRATION,
    STATE,
    call_schemas,
)
from api.openapi_parts import (
    TEXT,
    bad,
    document,
    json_answer,
    log_params,
    operation,
    path_param,
    query_param,
)

_EXEC_CALL = {"type": "object", "properties": {
    "argv": {"type": "array", "items": {"type": "string"}, "description": "empty: only "
             "unpack the archive"},
    "workdir": {"type": "string", "default": "/"},
    "env": {"type": "object", "additionalProperties": {"type": "string"}},
    "archive": {"type": ["string", "null"], "description": "base64 of an uncompressed tar"},
    "archive_path": {"type": "string", "default": "/", "description": "an existing folder"},
    "timeout": {"type": ["number", "null"], "description": "seconds to wait at most"}}}
_EXEC_RESULT = {"type": "object", "required": ["exit_code"], "properties": {
    "request_id": {"type": "string"}, "exit_code": {"type": "integer"},
    "stdout": {"type": "string", "description": "its last 64 KiB"},
    "stderr": {"type": "string", "description": "its last 64 KiB"}}}
_SAMPLE = {"type": "object", "description": "a task's usage; any further numeric field "
           "(cpu_limit, mem_limit, ...) is one more measurement of it by name",
           "additionalProperties": {"type": ["number", "string", "null"]}, "properties": {
    "task_id": {"type": "string"}, "t": {"type": "number"}, "cpus": {"type": "number"},
    "mem": {"type": "number"}, "agent_id": {"type": ["string", "null"]},
    "hostname": {"type": ["string", "null"]},
    "response_time": {"type": "number", "minimum": 0, "description": "ms: the mean response "
                      "time of the task's HTTP health checks since its last sample (only "
                      "for a task with an HTTP check that ran)"}}}
_NODE_SAMPLE = {"type": "object", "description": "a node's own measurements at t "
                "(node_cpus, node_cpu_used, node_cpu_incumbent, node_mem..., "
                "node_net_in/out and node_disk_read/write in bytes/s)",
                "additionalProperties": {"type": ["number", "string", "null"]},
                "properties": {"t": {"type": "number"}, "agent_id": {"type": "string"},
                               "hostname": {"type": ["string", "null"]}}}
_STORE = bad("the master's store cannot be written; nothing was done")


def _scheduler() -> dict[str, Any]:
    return operation(
        "A Mesos v1 scheduler call (JSON). SUBSCRIBE answers with the framework's event "
        "stream; every other call 202 once the master has taken it",
        {"200": {"description": "SUBSCRIBE: the event stream, RecordIO-framed JSON events "
                               "(SUBSCRIBED first, then OFFERS, UPDATE, HEARTBEAT...), open "
                               "until the framework goes",
                 "headers": {"Mesos-Stream-Id": {
                     "description": "to send with every later call",
                     "schema": {"type": "string"}}},
                 "content": {"application/json": {"schema": {"type": "string"}}}},
         "202": {"description": "the call was taken"},
         "400": bad("the call is malformed or unsupported (naming the field), no "
                    "framework_id, or a missing or stale Mesos-Stream-Id"),
         "403": bad("refused: another site's page; a framework not subscribed, torn "
                    "down, or of another principal; a framework_info.principal that is "
                    "not the authenticated one"),
         "409": bad("the subscription was refused"),
         "415": bad("protobuf: berth speaks only the JSON form"),
         "503": bad("the store cannot be written, or the master holds its maximum of "
                    "frameworks")},
        body={"$ref": "#/components/schemas/MesosCall"},
        params=[{"name": "Mesos-Stream-Id", "in": "header", "required": False,
                 "description": "the stream SUBSCRIBE answered with",
                 "schema": {"type": "string"}}])


def _paths() -> dict[str, Any]:
    return {
        "/version": {"get": operation("The Mesos API version berth speaks", {
            "200": json_answer({"type": "object", "required": ["version"], "properties": {
                "version": {"type": "string"}, "build": {"type": "string"}}}, "version")},
            open_route=True)},
        "/health": {"get": operation("Liveness, agent and framework counts, the store", {
            "200": json_answer(HEALTH, "health")}, open_route=True)},
        "/openapi.json": {"get": operation("This document", {
            "200": json_answer({"type": "object"}, "OpenAPI 3.1")}, open_route=True)},
        "/state": {"get": operation("Agents, frameworks and tasks as the master holds them",
                                    {"200": json_answer(STATE, "the state")})},
        "/metrics": {"get": operation("Prometheus metrics", {"200": {
            "description": "text exposition format", "content": TEXT}})},
        "/v1/agents": {"get": operation(
            "Per agent: its size, spare, the node's own load (incumbent), what berth's "
            "containers use and may use now, what elasticity took back, and what of it is "
            "offered as revocable",
            {"200": json_answer({"type": "object", "required": ["agents"], "properties": {
                "agents": {"type": "array", "items": AGENT_ELASTICITY}}}, "agents")})},
        "/v1/metering": {"get": operation(
            "Metered usage samples and node measurements newer than `since` (or stored "
            "after row `after`), oldest first",
            {"200": json_answer({"type": "object", "required": ["samples"], "properties": {
                "samples": {"type": "array", "items": _SAMPLE},
                "node": {"type": "array", "items": _NODE_SAMPLE},
                "last": {"type": "integer", "description": "the newest row's id: the "
                         "next poll's `after`"}}}, "samples"),
             "400": bad("since, after or limit not understood, or limit out of 1-100000")},
            params=[query_param("since", "seconds since the epoch (default 0)",
                                {"type": "number"}),
                    query_param("after", "only rows stored after the row of this id "
                                         "(instead of since)", {"type": "integer"}),
                    query_param("limit", "at most this many (default 10000)",
                                {"type": "integer", "minimum": 1, "maximum": 100_000})])},
        "/v1/tasks/{task_id}/logs": {"get": operation(
            "A task's container output, read by its agent, as text",
            {"200": {"description": "the log", "content": TEXT},
             "400": bad("stream, tail or follow not understood"),
             "404": bad("a task the master does not know, or its container is gone"),
             "502": bad("the agent failed while reading"),
             "503": bad("the task's agent is not connected, or busy"),
             "504": bad("the agent did not answer in time")},
            params=[path_param("task_id", "the task's id"), *log_params()])},
        "/v1/tasks/{task_id}/exec": {"post": operation(
            "Run a command inside a task's container through its agent (docker exec; "
            "docs/agent-protocol.md, \"Exec\"): a tar unpacked first, then argv; answers "
            "when the command has ended",
            {"200": json_answer(_EXEC_RESULT, "the command ended"),
             "400": bad("argv, workdir, env, archive, archive_path or timeout not "
                        "understood, naming the field"),
             "404": bad("a task the master does not know, or no running container for it"),
             "502": bad("the engine refused, or the agent's link closed meanwhile"),
             "503": bad("the task's agent is not connected"),
             "504": bad("no answer within `timeout`")},
            body=_EXEC_CALL, params=[path_param("task_id", "the task's id")])},
        "/api/v1/scheduler": {"post": _scheduler()},
        "/agent/v1/register": {"post": operation(
            "Register an agent (admin scope once users exist): its id, the heartbeat, "
            "which of its running tasks to keep and which to kill",
            {"200": json_answer(REGISTERED, "registered"),
             "400": bad("invalid registration, naming the field"), "503": _STORE},
            body={"$ref": "#/components/schemas/AgentRegistration"})},
        "/agent/v1/stream": {"get": operation(
            "The agent's websocket (docs/agent-protocol.md); admin scope once users exist",
            {"101": {"description": "switched to the websocket"},
             "400": bad("not a websocket upgrade request"),
             "404": bad("no agent of that id registered"),
             "409": bad("the agent was declared lost: register again")},
            params=[query_param("agent_id", "the id registration gave",
                                {"type": "string"})])},
    }


@cache
def master_openapi_document() -> dict[str, Any]:
    return document(
        "berth master",
        "The Mesos v1 scheduler API (JSON), berth's agent link, and the master's views.",
        _paths(), {**call_schemas(), "AgentRegistration": REGISTRATION})
