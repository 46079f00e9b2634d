"""`GET /v1/events`: the framework's changes as Server-Sent Events, and `GET /v1/session`:
who the caller is (what the UI offers and the namespace it shows).

The stream: `retry`, then either the changes after the `Last-Event-ID` the reader sent
(header, or `last_event_id` query parameter) when the framework still keeps them, or
one `reset` event (its id the current one) telling the reader to load the state over the
REST API and then apply what follows. Events: `task`, `job`, `offer`, `metrics` (JSON
data); a comment line every `heartbeat` seconds keeps proxies from closing it. A reader
that falls behind by a full queue gets `dropped` and the stream ends; it reconnects with
its last id. A caller limited to some namespaces sees only their tasks and jobs.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from api.namespaces import principal
from framework.driver import FrameworkService
from framework.process.event_hub import Change

HEARTBEAT = web.AppKey("events_heartbeat", float)
RETRY_MS = 2000


def _frame(change: Change) -> bytes:
    data = json.dumps(change.data, separators=(",", ":"))
    return f"id: {change.id}\nevent: {change.kind}\ndata: {data}\n\n".encode()


def _after(request: web.Request) -> int | None:
    text = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    try:
        return int(text) if text else None
    except ValueError:
        return None


class EventHandlers:
    def __init__(self, service: FrameworkService) -> None:
        self.service = service

    async def stream(self, request: web.Request) -> web.StreamResponse:
        who = principal(request)
        hub = self.service.events
        reader, missed = hub.subscribe(_after(request))
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no"})
        heartbeat = request.app.get(HEARTBEAT, 15.0)
        try:
            await response.prepare(request)
            await response.write(f"retry: {RETRY_MS}\n\n".encode())
            if missed is None:
                await response.write(_frame(Change(hub.last_id, "reset", {
                    "last_id": hub.last_id})))
            else:
                for change in missed:
                    if change.namespace is None or who.sees(change.namespace):
                        await response.write(_frame(change))
            quiet = 0.0
            while not reader.dropped:
                if request.transport is None or request.transport.is_closing():
                    return response  # the reader went away
                try:  # wake every second to notice a reader that went away
                    async with asyncio.timeout(min(1.0, heartbeat)):
                        change = await reader.queue.get()
                except TimeoutError:
                    quiet += min(1.0, heartbeat)
                    if quiet >= heartbeat:
                        await response.write(b": heartbeat\n\n")
                        quiet = 0.0
                    continue
                if change is None or reader.dropped:
                    break
                if change.namespace is None or who.sees(change.namespace):
                    await response.write(_frame(change))
                    quiet = 0.0
            await response.write(b"event: dropped\ndata: {}\n\n")
            await response.write_eof()
        except ConnectionResetError:  # the reader went away
            pass
        finally:
            hub.unsubscribe(reader)
        return response

    async def session(self, request: web.Request) -> web.Response:
        who = principal(request)
        return web.json_response({
            "user": who.name, "role": who.role, "scope": who.scope.name.lower(),
            "namespaces": None if who.namespaces is None else sorted(who.namespaces),
            "token_id": who.token_id})


def add_event_routes(app: web.Application, service: FrameworkService) -> None:
    handlers = EventHandlers(service)
    app.router.add_get("/v1/events", handlers.stream)
    app.router.add_get("/v1/session", handlers.session)

    async def close_streams(_app: web.Application) -> None:
        service.events.close()

    app.on_shutdown.append(close_streams)
