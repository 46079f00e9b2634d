"""The audit trail of an HTTP surface: who changed what, from where, with what outcome.

A middleware notes every write (and, on the master, only the calls its handlers mark as
worth it: SUBSCRIBE, TEARDOWN, agent registrations, plus every refused one: the master's
ACCEPTs and DECLINEs are its traffic, not events), including those refused with 401 or
403. Notes are kept in memory and appended in batches by a background task, so a request
never waits for the audit's disk write; what is older than the retention is pruned
hourly. Paths only, never query strings: a `jruntok` must not land in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import structlog
from aiohttp import web
from sqlalchemy.engine import Engine

from access import audit
from access.audit import DEFAULT_RETENTION, AuditEntry
from api.auth import PRINCIPAL
from api.http_errors import error_response
from offers.problems import FieldProblem

log = structlog.get_logger("berth.audit")

NOTE = web.RequestKey("audit_note", str)  # a handler's word on what the call did
RECORDED = web.RequestKey("audit_recorded", bool)  # noted already (a long-lived stream)
_READS = frozenset({"GET", "HEAD", "OPTIONS"})
_REFUSED = frozenset({401, 403})


class AuditTrail:
    def __init__(self, engine: Engine, surface: str, *, every_write: bool = True,
                 clock: Callable[[], float] = time.time,
                 retention: float = DEFAULT_RETENTION, flush_seconds: float = 0.5,
                 write_prefixes: tuple[str, ...] = ()) -> None:
        self.engine = engine
        # Paths that act even when called with GET (JuliaRun's API): noted as writes.
        self.write_prefixes = write_prefixes
        self.surface = surface
        self.every_write = every_write
        self.clock = clock
        self.retention = retention
        self.flush_seconds = flush_seconds
        self._pending: list[AuditEntry] = []
        self._task: asyncio.Task | None = None
        self._pruned_at = 0.0

    @web.middleware
    async def middleware(self, request: web.Request, handler) -> web.StreamResponse:
        response = await handler(request)
        status = response.status
        note = request.get(NOTE)
        writes = request.method not in _READS or (
            self.write_prefixes and request.path.startswith(self.write_prefixes))
        if writes and not request.get(RECORDED) \
                and (self.every_write or note or status in _REFUSED):
            self.note_request(request, status, note or "")
        return response

    def note_request(self, request: web.Request, status: int, note: str) -> None:
        """Note a call now (a handler whose answer is a stream that may last for days)."""
        who = request.get(PRINCIPAL)
        self._pending.append(AuditEntry(
            self.clock(), who.name if who is not None else "anonymous", request.remote or "",
            self.surface, f"{request.method} {request.path}", status, note))
        request[RECORDED] = True

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._flush_loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def flush(self) -> None:
        batch, self._pending = self._pending, []
        try:
            await asyncio.to_thread(audit.append, self.engine, batch)
        except Exception as exc:  # the database is away: keep them for the next try
            self._pending[:0] = batch
            log.warning("audit_write_failed", entries=len(batch), error=str(exc))
        now = self.clock()
        if now - self._pruned_at > 3600:
            self._pruned_at = now
            with contextlib.suppress(Exception):
                await asyncio.to_thread(audit.prune, self.engine, now - self.retention)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            if self._pending or self.clock() - self._pruned_at > 3600:
                await self.flush()

    async def handle_read(self, request: web.Request) -> web.Response:
        """`GET /v1/audit?since=T&user=NAME&limit=N` (admins): newest first."""
        query = request.query
        try:
            since = float(query.get("since", "0"))
            limit = int(query.get("limit", "100"))
        except ValueError:
            return error_response(400, "since and limit must be numbers",
                                  [FieldProblem("since", "a number of seconds"),
                                   FieldProblem("limit", "a whole number")])
        if not 1 <= limit <= 1000:
            return error_response(400, "limit out of range",
                                  [FieldProblem("limit", "must be within 1-1000")])
        await self.flush()
        entries = await asyncio.to_thread(audit.read, self.engine, since=since,
                                          principal=query.get("user"), limit=limit)
        return web.json_response({"entries": [e.__dict__ for e in entries]})
