"""The OpenAPI paths of the Generic service (api/generic_app.py, docs/generic-service.md):
a service job's code versions, lifecycle scripts and volumes."""

from __future__ import annotations

from typing import Any

from api.openapi_parts import bad, json_answer, operation, path_param, query_param
from offers.script_exec import MAX_ARCHIVE_BYTES

_VERSION = {"type": "object", "required": ["id"], "properties": {
    "id": {"type": "string", "description": "the version id (`code-` and 6 characters)"},
    "codeVersionId": {"type": "string", "description": "the same, as ConPaaS names it"},
    "filename": {"type": "string"}, "description": {"type": "string"},
    "created_at": {"type": "number"},
    "current": {"type": "boolean", "description": "the active version"},
    "size": {"type": "integer", "description": "the archive's bytes"},
    "files": {"type": "array", "items": {"type": "string"}}}}
_SCRIPT = {"type": "object", "properties": {
    "state": {"type": "string", "enum": ["never run", "running", "exited"]},
    "exit_code": {"type": ["integer", "null"]}, "stdout": {"type": "string"},
    "stderr": {"type": "string"}, "error": {"type": ["string", "null"]},
    "version": {"type": ["string", "null"]},
    "parameters": {"type": "array", "items": {"type": "string"}},
    "started_at": {"type": ["number", "null"]}, "ended_at": {"type": ["number", "null"]}}}
_INSTANCE = {"type": "object", "properties": {
    "instance": {"type": "string", "description": "the instance's task id"},
    "role": {"type": "string", "enum": ["master", "node"]},
    "address": {"type": ["string", "null"]},
    "scripts": {"type": "object", "description": "init, notify, run, interrupt, cleanup",
                "additionalProperties": _SCRIPT},
    "log": {"type": "string", "description": "what ran there and how it ended"}}}
_INSTANCES = {"type": "object", "required": ["instances"], "properties": {
    "instances": {"type": "array", "items": _INSTANCE},
    "interrupting": {"type": "boolean", "description": "an interrupt was asked for and "
                     "scripts still run: the next interrupt kills them (the UI's Kill)"}}}

_VOLUME = {"type": "object", "properties": {
    "name": {"type": "string"}, "vol_name": {"type": "string"},
    "size": {"type": "integer", "description": "MB, as asked (advisory)"},
    "instance": {"type": ["string", "null"], "description": "the instance that mounts it "
                 "now (its slot's; a restart gives it a new id)"},
    "attached_to": {"type": "string", "description": "the instance it was created for"},
    "mount": {"type": "string"}, "docker_volume": {"type": "string"},
    "created_at": {"type": "number"}}}
_UNKNOWN = "no such job (or one the caller may not see), or no such version"
_NOT_SERVICE = "not a service job"


def generic_paths() -> dict[str, Any]:
    name = path_param("name", "the service job's name")
    version = path_param("version", "a code version id")
    upload = operation(
        "Upload a code version: tar, tar.gz, tar.bz2 or zip expanding in the current "
        "directory (init.sh, notify.sh, run.sh, interrupt.sh, cleanup.sh and the "
        "application's files); not active until enabled",
        {"201": json_answer(_VERSION, "the new version"),
         "400": bad("not one of the four formats, an entry whose path escapes the archive "
                    "(`../`, absolute, a link out, a device), a form field missing or "
                    "unknown: named (`file`)"),
         "404": bad(_UNKNOWN), "409": bad(_NOT_SERVICE),
         "413": bad(f"the archive is larger than {MAX_ARCHIVE_BYTES} bytes")},
        body={"type": "object"}, params=[name, query_param(
            "filename", "the archive's name when it is the body", {"type": "string"})])
    upload["requestBody"] = {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                           "properties": {
            "file": {"type": "string", "format": "binary"},
            "description": {"type": "string"}}}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
    upload["responses"]["415"] = bad("neither multipart/form-data nor an archive type")
    return {
        "/v1/jobs/{name}/code": {
            "post": upload,
            "get": operation("The job's code versions, newest first, the active one "
                             "`current` (as cpsclient's list_uploads)",
                             {"200": json_answer({"type": "object", "properties": {
                                 "codeVersions": {"type": "array", "items": _VERSION}}},
                                 "the versions"),
                              "404": bad(_UNKNOWN), "409": bad(_NOT_SERVICE)},
                             params=[name])},
        "/v1/jobs/{name}/code/{version}": {
            "get": operation("Download a code version's archive as uploaded",
                             {"200": {"description": "the archive", "content": {
                                 "application/octet-stream": {"schema": {
                                     "type": "string", "format": "binary"}}}},
                              "404": bad(_UNKNOWN), "409": bad(_NOT_SERVICE)},
                             params=[name, version]),
            "delete": operation("Delete a code version (never the active one)",
                                {"200": json_answer({"type": "object"}, "deleted"),
                                 "404": bad(_UNKNOWN),
                                 "409": bad("the active version, or " + _NOT_SERVICE)},
                                params=[name, version])},
        "/v1/jobs/{name}/code/{version}/active": {
            "put": operation("Enable a code version: delivered to every instance, init.sh "
                             "run there (once per instance and version)",
                             {"200": json_answer(_VERSION, "now active"),
                              "404": bad(_UNKNOWN),
                              "409": bad("a script of the current version runs, or "
                                         + _NOT_SERVICE)},
                             params=[name, version])},
        "/v1/jobs/{name}/scripts": {
            "get": operation("Each instance's role, address, log and lifecycle scripts: "
                             "never run, running, or exited with its code, stdout and "
                             "stderr (as get_script_status)",
                             {"200": json_answer(_INSTANCES, "per instance"),
                              "404": bad(_UNKNOWN + ", or no such instance (`instance`)"),
                              "409": bad(_NOT_SERVICE)},
                             params=[name, query_param("instance", "only this instance",
                                                       {"type": "string"})])},
        "/v1/jobs/{name}/scripts/{script}": {
            "post": operation(
                "Run run.sh, interrupt.sh or cleanup.sh on every instance with parameters "
                "($1...); a second interrupt kills every running script",
                {"202": json_answer(_INSTANCES, "started"),
                 "400": bad("`parameters` not a list of strings"),
                 "404": bad(_UNKNOWN + ", or a script other than run, interrupt, cleanup"),
                 "409": bad("run or cleanup while a script runs, interrupt while none "
                            "does, no active version, no instance yet, or " + _NOT_SERVICE)},
                body={"type": "object", "properties": {"parameters": {
                    "type": "array", "items": {"type": "string"}}}}, body_required=False,
                params=[name, path_param("script", "run, interrupt or cleanup")])},
        "/v1/jobs/{name}/volumes": {
            "get": operation("The job's volumes",
                             {"200": json_answer({"type": "object", "properties": {
                                 "volumes": {"type": "array", "items": _VOLUME}}},
                                 "the volumes"),
                              "404": bad(_UNKNOWN), "409": bad(_NOT_SERVICE)},
                             params=[name]),
            "post": operation(
                "Create a named Docker volume and attach it to an instance, mounted at "
                "/media/{volume}: the instance is restarted with it (only while no script "
                "runs)",
                {"201": json_answer(_VOLUME, "created"),
                 "400": bad("name, size or instance missing or invalid, named"),
                 "404": bad(_UNKNOWN + ", or no such running instance"),
                 "409": bad("a script runs, the name is taken, or " + _NOT_SERVICE)},
                body={"type": "object", "required": ["name", "size", "instance"],
                      "properties": {"name": {"type": "string"},
                                     "size": {"type": "integer", "minimum": 1},
                                     "instance": {"type": "string"}}},
                params=[name])},
        "/v1/jobs/{name}/volumes/{volume}": {
            "delete": operation("Detach and delete a volume: its instance is restarted "
                                "without it",
                                {"200": json_answer({"type": "object"}, "deleted"),
                                 "404": bad(_UNKNOWN + ", or no such volume"),
                                 "409": bad("a script runs, or " + _NOT_SERVICE)},
                                params=[name, path_param("volume", "the volume's name")])},
    }
