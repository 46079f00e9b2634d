"""The web UI at `/ui/`: static files from api/ui/ (no build step), read once at start and
served gzip-compressed when the browser takes it. They are open (the pages hold no data:
every datum comes from the authenticated /v1 API), with a Content-Security-Policy that
allows only this origin's scripts, so a token kept by the page is not readable by
injected script. (axe-core, tests/vendor/, is for the browser tests: never served.)
"""

from __future__ import annotations

import gzip
import mimetypes
from pathlib import Path

from aiohttp import web

from api.http_errors import error_response

ROOT = Path(__file__).with_name("ui")
PREFIX = "/ui/"
POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
         ".html": "text/html", ".svg": "image/svg+xml", ".json": "application/json"}


def ui_files(root: Path = ROOT) -> dict[str, tuple[bytes, bytes, str]]:
    """Relative path -> (bytes, gzipped bytes, content type) of every served file."""
    files: dict[str, tuple[bytes, bytes, str]] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or rel.endswith((".md", ".txt")):
            continue
        raw = path.read_bytes()
        kind = TYPES.get(path.suffix) or mimetypes.guess_type(rel)[0] or \
            "application/octet-stream"
        files[rel] = (raw, gzip.compress(raw, 9, mtime=0), kind)
    return files


class UiHandlers:
    def __init__(self, root: Path = ROOT) -> None:
        self.files = ui_files(root)

    async def index(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(PREFIX)

    async def file(self, request: web.Request) -> web.StreamResponse:
        rel = request.match_info["path"] or "index.html"
        found = self.files.get(rel)
        if found is None:
            return error_response(404, f"no UI file {rel[:80]!r}")
        raw, packed, kind = found
        headers = {"Content-Security-Policy": POLICY, "X-Content-Type-Options": "nosniff",
                   "Referrer-Policy": "no-referrer", "Vary": "Accept-Encoding",
                   "Cache-Control": "no-cache"}
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            headers["Content-Encoding"] = "gzip"
            raw = packed
        charset = "utf-8" if kind.startswith("text/") or kind.endswith("json") else None
        return web.Response(body=raw, content_type=kind, charset=charset, headers=headers)


def add_ui_routes(app: web.Application) -> None:
    handlers = UiHandlers()
    app.router.add_get("/ui", handlers.index)
    app.router.add_get("/ui/{path:.*}", handlers.file)
