"""berth's images over HTTP on the framework's port: Jisto's `POST /upload` (an image
template, multipart with `contentType=images` and the tar.gz in `files[]`), `POST
/pullImage/{name}` and `POST /deleteImage/{name}` (seed 000, sections 5.1-5.3; `%3A` in a
name is the tag's colon), and berth's `GET /v1/images` and `GET /v1/images/{name}/log`.

Thin: parse, check (offers.image_template), call `framework.process.image_builder`,
answer. Callers authenticate at the door (api.auth: HTTP Basic against berth's users, or
a token); an upload answers at once, the image `building` until its build ends.
"""

from __future__ import annotations

import asyncio
import urllib.parse

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from api.http_errors import error_response
from framework.driver import FrameworkService
from framework.images import ImageRecord
from framework.process.image_builder import ImageBusy, ImageNotFound, UpstreamUnreachable
from offers.image_template import image_name_problem, normal_name, read_template
from offers.problems import FieldProblem, SpecError

UPLOAD = "/upload"
IMAGE_UPLOADS = (UPLOAD,)  # multipart bodies (api.json_body)
ARCHIVE_FIELD = "files[]"
CONTENT_TYPE = "images"
MAX_FIELD = 4096


class _Refused(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


def _bad(status: int, message: str, field: str, problem: str) -> _Refused:
    return _Refused(error_response(status, message, [FieldProblem(field, problem)]))


def image_view(record: ImageRecord) -> dict:
    return {"name": record.name, "state": record.state.value, "origin": record.origin,
            "size": record.size, "created": record.created_at,
            "updated": record.updated_at, "reason": record.reason,
            "log": f"/v1/images/{urllib.parse.quote(record.name, safe='/:')}/log"}


class ImageHandlers:
    def __init__(self, service: FrameworkService) -> None:
        self.images = service.images

    async def upload(self, request: web.Request) -> web.Response:
        if request.content_type != "multipart/form-data":
            raise _bad(415, "send the image template as multipart/form-data",
                       "Content-Type", f"is {request.content_type!r}; send "
                       "multipart/form-data with contentType=images and files[]")
        archive = await self._read_form(request)
        try:  # decompressing megabytes: off the loop
            template = await asyncio.to_thread(read_template, archive,
                                               self.images.settings.max_template)
        except SpecError as exc:
            return error_response(400, f"invalid image template: {exc}", exc.problems)
        record = await self.images.upload(template)
        return web.json_response(image_view(record))

    async def _read_form(self, request: web.Request) -> bytes:
        limit = self.images.settings.max_template
        archive: bytes | None = None
        try:
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    raise _bad(400, "nested multipart bodies are not accepted", "body",
                               "has a nested multipart part")
                name = part.name or ""
                if name in (ARCHIVE_FIELD, "files"):
                    archive = await _bounded(part, limit, ARCHIVE_FIELD)
                elif name == "contentType":
                    kind = (await _bounded(part, MAX_FIELD, name)).decode(
                        "utf-8", "replace").strip()
                    if kind != CONTENT_TYPE:
                        raise _bad(400, "invalid contentType", "contentType",
                                   f"is {kind!r}; must be {CONTENT_TYPE!r}")
                else:
                    raise _bad(400, f"unknown form field {name!r}", name or "body",
                               "unknown field: send contentType=images and files[]")
        except (ValueError, HttpProcessingError) as exc:
            raise _bad(400, "the body is not valid multipart/form-data", "body",
                       getattr(exc, "message", None) or str(exc)) from None
        if archive is None:
            raise _bad(400, "no image template sent", ARCHIVE_FIELD,
                       "is required: the tar.gz")
        return archive

    async def pull(self, request: web.Request) -> web.Response:
        name = _name(request)
        try:
            record = await self.images.pull(name)
        except UpstreamUnreachable as exc:
            return error_response(502, str(exc), [FieldProblem(
                "imageName", f"cannot be pulled: {exc}")])
        return web.json_response(image_view(record))

    async def delete(self, request: web.Request) -> web.Response:
        name = _name(request)
        try:
            record = await self.images.delete(name)
        except UpstreamUnreachable as exc:
            return error_response(502, str(exc))
        return web.json_response({"name": record.name, "deleted": True})

    async def listing(self, request: web.Request) -> web.Response:
        return web.json_response({"images": [image_view(r) for r in self.images.book.all()]})

    async def build_log(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        record = self.images.book.get(normal_name(name))
        if record is None:
            raise _bad(404, f"no image named {name!r}", "name", "no such image")
        return web.Response(text=record.log, content_type="text/plain")


def _name(request: web.Request) -> str:
    """The image named in the path (aiohttp has decoded `%3A` to the tag's colon)."""
    name = request.match_info["name"]
    problem = image_name_problem(name)
    if problem is not None:
        raise _bad(400, f"invalid image name {name!r}: {problem}", "imageName", problem)
    return name


async def _bounded(part: BodyPartReader, limit: int, field: str) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(256 * 1024):
        data += chunk
        if len(data) > limit:
            raise _bad(413, f"{field} is too large: at most {limit} bytes", field,
                       f"is larger than {limit} bytes")
    return bytes(data)


ROUTES: list[tuple[str, str, str]] = [
    ("POST", UPLOAD, "upload"),
    ("POST", "/pullImage/{name:.+}", "pull"),
    ("POST", "/deleteImage/{name:.+}", "delete"),
    ("GET", "/v1/images", "listing"),
    ("GET", "/v1/images/{name:.+}/log", "build_log"),
]


def _guarded(method):
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            return await method(request)
        except _Refused as exc:
            return exc.response
        except ImageNotFound as exc:
            return error_response(404, str(exc), [FieldProblem("imageName",
                                                               "no such image")])
        except ImageBusy as exc:
            return error_response(409, str(exc), [FieldProblem("imageName", str(exc))])
    return handler


def add_image_routes(app: web.Application, service: FrameworkService) -> None:
    handlers = ImageHandlers(service)
    for method, path, name in ROUTES:
        app.router.add_route(method, path, _guarded(getattr(handlers, name)))
