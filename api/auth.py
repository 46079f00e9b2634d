"""Authentication and authorization at the door of every HTTP surface.

`AccessGate.gate` runs first on each request (through `http_errors.json_errors_with`): it
authenticates the caller (`access.authenticate`: HTTP Basic, a Bearer token, or JuliaRun's
`jruntok` query parameter), answers `401` with `WWW-Authenticate` when that fails and
`403` naming what is missing when the caller may not do this, and otherwise leaves the
`Principal` on the request (`request[PRINCIPAL]`) for the handlers. Nothing is acted on
before the gate lets a request through.

Reads (GET, HEAD) need scope `read`, anything else `write`; paths under an admin prefix
`admin`. `/health` and the seed's `/admin/ping` stay open for probes (a server may open
more: the master's `/version` and its OpenAPI document). Users and tokens
change while the server runs (`berth user|token`): a poll of the store's generation, once
a second on a worker thread, swaps in a new snapshot, so a revoked token is refused (and a
new one accepted) within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections.abc import Callable, Iterable

import structlog
from aiohttp import web

from access.authenticate import Authenticator, Refused
from access.policy import Principal, Scope
from access.store import AccessSnapshot, AccessStore
from api.http_errors import error_response

log = structlog.get_logger("berth.auth")

Gate = Callable[[web.Request], web.StreamResponse | None]
CHALLENGE = 'Basic realm="berth", Bearer realm="berth"'
# The web UI's requests say so (header UI_HEADER: 1): they are challenged for a token only,
# since a Basic challenge makes the browser open its own password dialog over the page.
UI_HEADER = "X-Berth-UI"
UI_CHALLENGE = 'Bearer realm="berth"'
OPEN_PATHS = frozenset({"/health", "/admin/ping"})  # liveness: they tell nothing
_READS = frozenset({"GET", "HEAD", "OPTIONS"})
PRINCIPAL = web.RequestKey("principal", Principal)


def chain(*gates: Gate | None) -> Gate:
    """Gates run in order; the first refusal is the answer."""
    todo = [g for g in gates if g is not None]

    def gate(request: web.Request) -> web.StreamResponse | None:
        for one in todo:
            refusal = one(request)
            if refusal is not None:
                return refusal
        return None

    return gate


def unauthorized(reason: str, ui: bool = False) -> web.Response:
    response = error_response(401, f"not authenticated: {reason}")
    response.headers["WWW-Authenticate"] = UI_CHALLENGE if ui else CHALLENGE
    return response


class AccessGate:
    """The door of one server; `start()` the poll, `stop()` it with the server."""

    def __init__(self, store: AccessStore, clock: Callable[[], float] = time.time,
                 admin_prefixes: Iterable[str] = (), poll_seconds: float = 1.0,
                 internal: str | None = None, open_paths: Iterable[str] = OPEN_PATHS,
                 write_prefixes: Iterable[str] = (), open_prefixes: Iterable[str] = ()
                 ) -> None:
        """`open_prefixes`: paths under which anyone may read (the UI's static files)."""
        self.store = store
        self.open_paths = frozenset(open_paths)
        self.open_prefixes = tuple(open_prefixes)
        self.authenticator = Authenticator(store.snapshot(), clock, internal=internal)
        self.admin_prefixes = tuple(admin_prefixes)
        # Paths that act even when called with GET (JuliaRun's API): `write` scope.
        self.write_prefixes = tuple(write_prefixes)
        self.poll_seconds = poll_seconds
        self._poller: asyncio.Task | None = None
        # Told every new snapshot (the framework's quotas and budgets follow them).
        self.on_reload: list[Callable[[AccessSnapshot], None]] = []

    @property
    def enabled(self) -> bool:
        return self.authenticator.enabled

    def gate(self, request: web.Request) -> web.Response | None:
        if request.path in self.open_paths or (
                self.open_prefixes and request.method in ("GET", "HEAD")
                and request.path.startswith(self.open_prefixes)):
            return None
        who = self.authenticator.authenticate(request.headers.get("Authorization"),
                                              request.query.get("jruntok"))
        if isinstance(who, Refused):
            return unauthorized(who.reason, request.headers.get(UI_HEADER) == "1")
        missing = who.missing(self.scope_of(request), self.namespace_of(request))
        if missing is not None:
            return error_response(403, f"forbidden: {missing}")
        request[PRINCIPAL] = who
        return None

    def scope_of(self, request: web.Request) -> Scope:
        if self.admin_prefixes and request.path.startswith(self.admin_prefixes):
            return Scope.ADMIN
        if request.method in _READS and not (
                self.write_prefixes and request.path.startswith(self.write_prefixes)):
            return Scope.READ
        return Scope.WRITE

    @staticmethod
    def namespace_of(request: web.Request) -> str | None:
        """The namespace a request names (`namespace` or JuliaRun's `jrunns`), checked at
        the door; the handlers check the namespaces of what they touch (api.namespaces)."""
        query = request.query
        return query.get("namespace") or query.get("jrunns")

    async def start(self) -> None:
        self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        await asyncio.to_thread(self.store.close)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                generation = await asyncio.to_thread(self.store.generation)
                if generation != self.authenticator.snapshot.generation:
                    self.authenticator.snapshot = await asyncio.to_thread(self.store.snapshot)
                    log.info("access_reloaded", generation=generation,
                             users=len(self.authenticator.snapshot.users))
                    for listener in self.on_reload:
                        listener(self.authenticator.snapshot)
            except Exception as exc:  # the database is away: keep the last snapshot
                log.warning("access_reload_failed", error=str(exc))


# -- where a server may listen ----------------------------------------------------------------


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ExposureRefused(Exception):
    """A server asked to listen beyond loopback without what that needs."""


def check_exposure(role: str, host: str, *, authenticated: bool, insecure: bool,
                   needs: str) -> None:
    """Refuse to listen on a non-loopback `host` unless callers must authenticate there
    (`authenticated`) or the operator said `--insecure`, which is then logged loudly at
    every start. `needs` says what would make it authenticated."""
    if is_loopback(host) or authenticated:
        return
    if not insecure:
        raise ExposureRefused(
            f"the {role} would listen on {host} with no authentication: {needs}, listen on "
            "127.0.0.1, or pass --insecure to accept that anyone who reaches it may use it")
    log.warning("insecure_listener", role=role, host=host,
                risk="anyone who reaches this address can use it without credentials")
