"""The images part of the framework's OpenAPI document (api/images_app.py's routes):
Jisto's upload, pullImage and deleteImage (seed 000, sections 5.1-5.3) and berth's image
list and build logs."""

from __future__ import annotations

from typing import Any

from api.openapi_parts import TEXT, bad, json_answer, operation, path_param, unavailable
from offers.image_template import MAX_TEMPLATE

_IMAGE = {"type": "object", "required": ["name", "state"], "properties": {
    "name": {"type": "string", "description": "path:tag"},
    "state": {"type": "string", "enum": ["building", "ready", "failed"]},
    "origin": {"type": "string", "enum": ["template", "pull"]},
    "size": {"type": ["integer", "null"], "description": "bytes, once built"},
    "created": {"type": "number", "description": "seconds since the epoch"},
    "updated": {"type": "number"},
    "reason": {"type": ["string", "null"], "description": "why it failed"},
    "log": {"type": "string", "description": "the path of its build log"}}}


def image_paths() -> dict[str, Any]:
    name = path_param("name", "the image's name, `%3A` for the tag's colon (hello-world"
                              "%3Alatest)")
    store = unavailable("the state store cannot be written (Retry-After)")
    upload = operation(
        "Upload an image template (Jisto's upload): a tar.gz with config.json (name, "
        "installsource, installdestination, workingdir, buildfile, runfile), the build and "
        "run scripts and the application's files. Answers at once: the image is "
        "`building`, then `ready` (built, pushed to berth's registry) or `failed`",
        {"200": json_answer(_IMAGE, "the image, building"),
         "400": bad("not multipart, contentType not `images`, files[] missing, not gzip, "
                    "an entry whose path escapes the archive (`../`, absolute, links out), "
                    "no config.json, a field missing, a file it names absent, an image "
                    "name Docker would refuse: each named"),
         "409": bad("that image is being built already"),
         "413": bad(f"the archive is larger than the limit ({MAX_TEMPLATE} bytes unless "
                    "configured)"),
         "503": store},
        body={"type": "object"})
    upload["requestBody"] = {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": ["files[]"], "properties": {
            "contentType": {"type": "string", "const": "images"},
            "files[]": {"type": "string", "format": "binary",
                        "description": "the image template, a tar.gz"}}}}}}
    upload["responses"]["415"] = bad("the body is not multipart/form-data")
    return {
        "/upload": {"post": upload},
        "/pullImage/{name}": {"post": operation(
            "Pull an image from the upstream registry (Docker Hub unless configured) into "
            "berth's; answers once the upstream answered, the pull goes on (`building`)",
            {"200": json_answer(_IMAGE, "the image, being pulled"),
             "400": bad("an image name Docker would refuse (field imageName)"),
             "409": bad("that image is being pulled or built already"),
             "502": bad("the upstream registry cannot be reached (named)"),
             "503": store},
            body={"type": "object", "description": "none needed"}, body_required=False,
            params=[name])},
        "/deleteImage/{name}": {"post": operation(
            "Delete an image from berth's registry, this host's engine and the list",
            {"200": json_answer({"type": "object", "properties": {
                "name": {"type": "string"}, "deleted": {"type": "boolean"}}}, "deleted"),
             "400": bad("an image name Docker would refuse (field imageName)"),
             "404": bad("no such image"),
             "409": bad("the image is being built"),
             "502": bad("berth's registry cannot be reached"),
             "503": store},
            body={"type": "object", "description": "none needed"}, body_required=False,
            params=[name])},
        "/v1/images": {"get": operation("berth's images, oldest first", {
            "200": json_answer({"type": "object", "required": ["images"], "properties": {
                "images": {"type": "array", "items": _IMAGE}}}, "images")})},
        "/v1/images/{name}/log": {"get": operation(
            "An image's build (or pull) log",
            {"200": {"description": "the log", "content": TEXT},
             "404": bad("no such image")}, params=[name])},
    }
