"""Putting an aiohttp app on a port: the part every role's server shares.

Every berth server (master, framework, agent) goes through `serve_app`, which makes it
impossible to starve from outside:

- **Timeouts.** Headers must arrive within `header_timeout` of the connection (or of a
  following request's first byte), a body within `body_timeout` of its headers (else a
  `408`), and an idle keep-alive connection is closed after `keepalive_timeout`. aiohttp
  has only the last of these; the others are kept by `_GuardedHandler`.
- **A connection limit per listener.** At `max_connections`, a new connection first
  closes the oldest *idle* one (no request in progress: silent, half-sent headers, or
  between keep-alive requests); if every connection is busy it is answered `503` in
  berth's error format, with `Retry-After`, and closed. Open connections, not requests,
  are what exhaust descriptors, so that is what is counted.

Limits are per listener on purpose: `berth up` runs three servers in one process, and as
long as the sum of their limits stays below the descriptor limit (raised to the hard
limit at start by `raise_descriptor_limit`), flooding one leaves the others answering.
"""

from __future__ import annotations

import asyncio
import json
import resource
import ssl
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

log = structlog.get_logger("berth.serving")

# Refused connections are answered and closed at once, but a flood of them still holds
# descriptors for a moment: beyond this many at a time they are dropped unanswered.
MAX_REFUSING = 16
# A refused client gets this long to send its request before the 503 goes out anyway.
REFUSAL_WAIT = 0.5
# Descriptors the process needs besides its listeners' connections (database, Docker,
# its own clients, logs): what `check_descriptor_budget` keeps aside.
RESERVED_DESCRIPTORS = 128


@dataclass(frozen=True)
class ServerLimits:
    """What one listener tolerates. Seconds, and open connections."""

    header_timeout: float = 10.0
    body_timeout: float = 60.0
    keepalive_timeout: float = 75.0
    max_connections: int = 256

    def __post_init__(self) -> None:
        for name in ("header_timeout", "body_timeout", "keepalive_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be more than 0 seconds")
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")


DEFAULT_LIMITS = ServerLimits()


def raise_descriptor_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; the soft limit now.

    The common soft default (1,024) is what a flood of idle connections exhausts first;
    the hard limit is what the administrator actually allows.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:  # e.g. an unlimited hard limit on macOS
            log.warning("descriptor_limit_not_raised", soft=soft, hard=hard, error=str(exc))
            return soft
        log.info("descriptor_limit_raised", before=soft, now=hard)
        return hard
    log.info("descriptor_limit", soft=soft)
    return soft


def check_descriptor_budget(*limits: ServerLimits) -> None:
    """Warn when the listeners' limits together could exhaust the descriptor limit (then
    one flooded listener could still make the others unreachable)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = sum(lim.max_connections + MAX_REFUSING for lim in limits) + RESERVED_DESCRIPTORS
    if soft != resource.RLIM_INFINITY and needed > soft:
        log.warning("descriptor_budget_exceeded", descriptor_limit=soft, needed=needed,
                    hint="lower --max-connections or raise the hard RLIMIT_NOFILE")


async def serve_app(app: web.Application, host: str, port: int, *,
                    limits: ServerLimits | None = None, ssl_context: ssl.SSLContext | None = None,
                    **runner_options: Any) -> tuple[web.AppRunner, int]:
    """Start serving `app` under `limits` (over TLS with `ssl_context`); returns the runner
    (to clean up) and the bound port, which is the real one when `port` is 0. A port that
    cannot be bound raises OSError."""
    limits = limits or DEFAULT_LIMITS
    runner = _GuardedRunner(app, limits, access_log=None, handle_signals=False,
                            keepalive_timeout=limits.keepalive_timeout, **runner_options)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
    except OSError:  # the port is taken: release what setup() made before saying so
        await runner.cleanup()
        raise
    return runner, runner.addresses[0][1] if runner.addresses else port


def local_url(host: str, port: int, tls: bool = False) -> str:
    """An address a process on this machine can reach the server at."""
    scheme = "https" if tls else "http"
    return f"{scheme}://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"


# -- the machinery ------------------------------------------------------------------------


class _GuardedRunner(web.AppRunner):
    """An AppRunner whose server hands out guarded connections."""

    def __init__(self, app: web.Application, limits: ServerLimits, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._limits = limits

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        return _GuardedServer(plain.request_handler, limits=self._limits,
                              request_factory=plain.request_factory,
                              handler_cancellation=plain.handler_cancellation,
                              **plain._kwargs)


class _GuardedServer(web.Server):
    """aiohttp's Server (the listener's protocol factory) with the connection limit."""

    def __init__(self, handler: Any, *, limits: ServerLimits, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.limits = limits
        self.open: dict[_GuardedHandler, None] = {}  # oldest first
        self.refusing = 0
        self.refused = 0
        self.evicted = 0
        # One sweep per listener checks every connection's deadlines, instead of a timer
        # per request: a POST whose body follows its headers costs no timer at all.
        self._sweep_every = min(1.0, limits.header_timeout / 4, limits.body_timeout / 4)
        self._sweeper: asyncio.TimerHandle | None = None

    def __call__(self) -> asyncio.Protocol:
        if self._sweeper is None:
            self._sweeper = self._loop.call_later(self._sweep_every, self._sweep)
        if len(self.open) >= self.limits.max_connections and not self._evict_idle():
            self.refused += 1
            if self.refused == 1 or self.refused % 1000 == 0:
                log.warning("connection_limit_reached", limit=self.limits.max_connections,
                            refused=self.refused)
            return _Refusal(self)
        handler = _GuardedHandler(self, loop=self._loop, **self._kwargs)
        self.open[handler] = None
        return handler

    def _sweep(self) -> None:
        """Enforce the header and body deadlines; runs while connections are open."""
        now = self._loop.time()
        for handler in list(self.open):
            handler.check_deadlines(now)
        self._sweeper = (self._loop.call_later(self._sweep_every, self._sweep)
                         if self.open else None)

    def _evict_idle(self) -> bool:
        """Close the oldest connection with no request in progress; False if none."""
        for handler in self.open:
            if handler.idle:
                del self.open[handler]
                handler.force_close()
                self.evicted += 1
                return True
        return False

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None
                        ) -> None:
        self.open.pop(handler, None)  # type: ignore[call-overload]
        super().connection_lost(handler, exc)


class _GuardedHandler(RequestHandler):
    """aiohttp's per-connection protocol with a header and a body deadline.

    A request is *in progress* from its headers until its response is finished; bytes that
    arrive while none is are the headers of the next one, and start the header clock.
    """

    def __init__(self, manager: _GuardedServer, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._limits = manager.limits
        self._headers_since: float | None = None  # idle, and bytes of headers came at
        self._body: Any = None  # the request body still being received ...
        self._body_since = 0.0  # ... since its headers came

    @property
    def idle(self) -> bool:
        """No request in progress or queued (closing it loses nothing a client was
        promised). aiohttp's own flags: no per-response bookkeeping of ours."""
        return not (self._request_in_progress or self._messages or self._upgraded)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._headers_since = self._loop.time()

    def data_received(self, data: bytes) -> None:
        requests = self._request_count
        super().data_received(data)
        if self._request_count != requests:  # headers complete: a request began
            self._headers_since = None
            if self._messages:
                payload = self._messages[-1][1]
                if not payload.is_eof():
                    self._body, self._body_since = payload, self._loop.time()
        elif self._body is not None:
            if self._body.is_eof():
                self._body = None
        elif self._headers_since is None and self.idle:
            self._headers_since = self._loop.time()

    def check_deadlines(self, now: float) -> None:
        """Close a connection whose headers, or a request whose body, is overdue."""
        if self.transport is None:
            return
        if self._body is not None:
            if self._body.is_eof():
                self._body = None
            elif now - self._body_since >= self._limits.body_timeout:
                self._body_expired()
        if self._headers_since is not None and now - self._headers_since \
                >= self._limits.header_timeout:
            self._headers_since = None
            if self.idle:
                log.info("connection_closed", why="headers not received in time",
                         timeout=self._limits.header_timeout, peer=_peer(self.transport))
                self.force_close()

    def _body_expired(self) -> None:
        payload, self._body = self._body, None
        log.info("request_timed_out", why="body not received in time",
                 timeout=self._limits.body_timeout, peer=_peer(self.transport))
        # The handler reading the body gets a 408 (in berth's format, from the error
        # middleware); the connection ends after that answer, or shortly after if no
        # handler is reading.
        payload.set_exception(web.HTTPRequestTimeout(
            reason=f"the request body was not received within "
                   f"{self._limits.body_timeout:g} s"))
        self._lingering_time = 0.0
        self.close()
        self._loop.call_later(max(self._limits.header_timeout, 1.0), self.force_close)


class _Refusal(asyncio.Protocol):
    """Answers one connection over the limit with a 503 and closes it.

    It waits briefly for the request (answering before it arrives would make the kernel
    reset the connection on close, losing the answer), then answers anyway.
    """

    def __init__(self, server: _GuardedServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.server.refusing >= MAX_REFUSING:
            transport.abort()  # type: ignore[attr-defined]
            return
        self.server.refusing += 1
        self.timer = asyncio.get_running_loop().call_later(REFUSAL_WAIT, self._answer)

    def data_received(self, data: bytes) -> None:
        self._answer()

    def eof_received(self) -> bool:
        self._answer()
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        self._done()

    def _answer(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(_service_unavailable(self.server.limits.max_connections))
        self.transport.close()
        self._done()

    def _done(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
            self.server.refusing -= 1


def _service_unavailable(limit: int) -> bytes:
    body = json.dumps({"code": 503, "message": f"this server is at its limit of {limit} "
                                               "connections; retry shortly",
                       "errors": []}).encode()
    return (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; "
            b"charset=utf-8\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
