"""The master's HTTP surface: the Mesos v1 scheduler API, the agent link, /state, /health,
and its OpenAPI document (api/openapi_master.py).

Thin: each request or agent message becomes an event handed to the master's driver
(master/driver.py), which persists what the core decides and then sends it; a decision
the store could not take (StoreUnwritable) is answered 503.
`start_master(...)` runs it on an existing asyncio loop so `berth up` can share one.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import WSMsgType, web

from access.policy import LOCAL, Scope
from access.store import AccessStore
from api.agent_messages import agent_message, registration
from api.audit import NOTE, AuditTrail
from api.auth import (
    OPEN_PATHS,
    PRINCIPAL,
    AccessGate,
    ExposureRefused,
    Gate,
    chain,
    check_exposure,
)
from api.http_errors import error_response, json_errors_with
from api.json_body import BadBody, read_json, request_json, same_origin_json
from api.master_exec import ExecRelay
from api.master_logs import LogRelay
from api.master_metrics import MasterCollector, metrics_handler
from api.master_state import agents_document, state_document
from api.mesos_task_info import id_value, launch_from_task_info
from api.openapi_master import master_openapi_document
from api.registry_address import address_for
from api.serving import ServerLimits, local_url, serve_app
from master import commands as C
from master import events as E
from master.core import DEFAULT_MAX_FRAMEWORKS, Master
from master.driver import CLOSE, AgentConn, MasterService, StoreUnwritable
from master.store import MasterStore
from offers.problems import FieldProblem, SpecError
from offers.protocol import mesos as mj
from offers.protocol import mesos_calls

log = structlog.get_logger("berth.master")

JSON = "application/json"
# Open even once users exist: what a client checks before it has credentials.
MASTER_OPEN_PATHS = OPEN_PATHS | {"/version", "/openapi.json"}


def _store_unwritable(exc: StoreUnwritable) -> web.Response:
    return error_response(503, str(exc))


def _spec_error(exc: SpecError, prefix: str = "") -> web.Response:
    problems = [FieldProblem(f"{prefix}{p.field}" if p.field else prefix.rstrip("."),
                             p.problem) for p in exc.problems]
    return error_response(400, f"invalid call: {exc}" if not prefix else
                          "invalid call: " + "; ".join(str(p) for p in problems), problems)


class MasterApi:
    """The master's HTTP handlers: parse, hand the event to the driver, answer."""

    def __init__(self, driver: MasterService, registry: str | None = None):
        self.driver = driver
        self.registry = registry  # berth's registry, `host:port` (api/registry_address.py)
        self.core = driver.core
        self.metrics = MasterCollector(driver.core)
        driver.observers.append(self.metrics.count)
        core = driver.core
        self.logs = LogRelay(driver.agent_link,  # GET /v1/tasks/{id}/logs (api/master_logs.py)
                             lambda task_id: getattr(core.task(task_id), "agent_id", None))
        self.exec = ExecRelay(driver.agent_link,  # POST /v1/tasks/{id}/exec (api/master_exec.py)
                              lambda task_id: getattr(core.task(task_id), "agent_id", None))

    # -- HTTP: plain views -------------------------------------------------------------------

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": mj.VERSION, "build": "berth"})

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(master_openapi_document())

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({
            "status": "ok",
            "agents": len(self.core.live_agents()),
            "frameworks": sum(1 for f in self.core.frameworks.values() if f.active),
            "uptime_seconds": round(time.time() - self.driver.started_at, 3),
            "store": {"writable": self.driver.store_error is None,
                      "error": self.driver.store_error}})

    async def state(self, request: web.Request) -> web.Response:
        return web.json_response(state_document(self.core, self.driver.connected_agents()))

    async def agents(self, request: web.Request) -> web.Response:
        """`GET /v1/agents`: per agent, elasticity's split of its node (api/master_state.py)."""
        return web.json_response(agents_document(self.core, self.driver.connected_agents()))

    async def metering(self, request: web.Request) -> web.Response:
        """`GET /v1/metering?since=T` (or `?after=ID`): metered usage samples and node
        measurements newer than T (stored after row ID), oldest first."""
        try:
            since = float(request.query.get("since", "0"))
            limit = int(request.query.get("limit", "10000"))
            after = int(request.query["after"]) if "after" in request.query else None
        except ValueError:
            return error_response(400, "since, after and limit must be numbers",
                                  [FieldProblem("since", "must be a number of seconds"),
                                   FieldProblem("after", "must be a whole number"),
                                   FieldProblem("limit", "must be a whole number")])
        if not 1 <= limit <= 100_000:
            return error_response(400, "limit out of range",
                                  [FieldProblem("limit", "must be within 1-100000")])
        return web.json_response(await self.driver.metering_since(since, limit, after))

    # -- HTTP: the scheduler API -------------------------------------------------------------

    async def scheduler(self, request: web.Request) -> web.StreamResponse:
        ctype = request.headers.get("Content-Type", JSON).split(";")[0].strip()
        if "protobuf" in ctype:
            return error_response(415, f"Content-Type {ctype!r} is not supported; berth "
                                       "speaks the JSON form of the API (application/json)")
        try:
            data = await request_json(request)
        except BadBody as exc:
            return exc.response()
        try:
            call = mesos_calls.parse_call(data)
        except SpecError as exc:
            return _spec_error(exc)
        if call.type == "SUBSCRIBE":
            return await self._subscribe(request, call)
        fid = call.framework_id.value if call.framework_id else None
        foreign = self._not_owner(request, fid)
        if foreign is not None:
            return foreign
        refusal = self.core.check_call(fid, request.headers.get("Mesos-Stream-Id"))
        if refusal is not None:
            status, message = refusal
            return error_response(status, message, [FieldProblem(message.split(":")[0], message)]
                                  if status == 400 and ":" in message else [])
        try:
            event = self._event_of(call, fid)
        except SpecError as exc:
            return _spec_error(exc)
        if call.type == "TEARDOWN":
            request[NOTE] = f"TEARDOWN framework {fid}"
        try:
            await self.driver.submit(event)
        except StoreUnwritable as exc:
            return _store_unwritable(exc)
        return web.Response(status=202)

    def _not_owner(self, request: web.Request, fid: str | None) -> web.Response | None:
        """A 403 when the framework `fid` was subscribed by another principal and the
        caller is not an admin: no taking over its stream, no TEARDOWN of it."""
        who = request.get(PRINCIPAL, LOCAL)
        framework = self.core.frameworks.get(fid) if fid else None
        if framework is None or who.scope >= Scope.ADMIN:
            return None
        owner = framework.info.get("principal") if isinstance(framework.info, dict) else None
        if owner is not None and owner != who.name:
            return error_response(403, f"forbidden: framework {fid} belongs to principal "
                                       f"{owner!r}, not {who.name!r}")
        return None

    def _event_of(self, call: mesos_calls.Call, fid: str) -> object:
        kind = call.type
        if kind == "ACCEPT":
            launches: list[E.TaskLaunch | E.RefusedLaunch] = []
            for i, op in enumerate(call.accept.operations):
                for j, info in enumerate(op.launch.task_infos):
                    where = f"accept.operations[{i}].launch.task_infos[{j}]"
                    try:
                        launches.append(launch_from_task_info(info, fid, where))
                    except SpecError as exc:
                        # Refused alone, with an update naming why; the rest still launch.
                        # Only a task info without an id cannot be answered, so fails the call.
                        task_id = id_value(info, "task_id")
                        if task_id is None:
                            raise
                        launches.append(E.RefusedLaunch(task_id, id_value(info, "agent_id"),
                                                        str(exc)))
            filters = call.accept.filters
            return E.Accept(fid, tuple(o.value for o in call.accept.offer_ids), tuple(launches),
                            filters.refuse_seconds if filters else None)
        if kind == "DECLINE":
            filters = call.decline.filters
            return E.Decline(fid, tuple(o.value for o in call.decline.offer_ids),
                             filters.refuse_seconds if filters else None)
        if kind == "KILL":
            agent = call.kill.agent_id
            return E.Kill(fid, call.kill.task_id.value, agent.value if agent else None)
        if kind == "ACKNOWLEDGE":
            ack = call.acknowledge
            return E.Acknowledge(fid, ack.agent_id.value if ack.agent_id else None,
                                 ack.task_id.value, ack.uuid)
        if kind == "RECONCILE":
            tasks = call.reconcile.tasks if call.reconcile else []
            return E.Reconcile(fid, tuple((t.task_id.value, t.agent_id.value if t.agent_id
                                           else None) for t in tasks))
        return {"REVIVE": E.Revive, "SUPPRESS": E.Suppress, "TEARDOWN": E.Teardown}[kind](fid)

    async def _subscribe(self, request: web.Request, call: mesos_calls.Call) -> web.StreamResponse:
        info = call.subscribe.framework_info
        fid = info.id.value if info.id else (call.framework_id.value if call.framework_id
                                             else None)
        refusal = self.core.check_subscribe(fid)
        if refusal is not None:
            return error_response(*refusal)
        who = request.get(PRINCIPAL, LOCAL)
        if info.principal is not None and who is not LOCAL and info.principal != who.name:
            return error_response(403, f"framework_info.principal {info.principal!r} is not "
                                       f"the authenticated principal {who.name!r}")
        foreign = self._not_owner(request, fid)
        if foreign is not None:
            return foreign
        stream = self.driver.open_stream()
        roles = tuple(info.roles) or ((info.role,) if info.role else ("*",))
        capabilities = frozenset(str(c.get("type")) for c in info.capabilities
                                 if isinstance(c, dict))
        # Capabilities kept as their types only: what berth reads, never a client's tree.
        echoed = {**info.model_dump(mode="json", exclude_none=True),
                  "capabilities": [{"type": c} for c in sorted(capabilities)]}
        if who is not LOCAL:  # whose framework this is, kept with it (and across restarts)
            echoed["principal"] = who.name
        try:  # recorded before the stream opens, so a refusal can still be a status code
            cmds = await self.driver.submit(E.Subscribe(
                stream.stream_id, fid, name=info.name, user=info.user, roles=roles,
                capabilities=capabilities, info=echoed))
        except StoreUnwritable as exc:
            self.driver.drop_stream(stream)
            return _store_unwritable(exc)
        if not any(isinstance(c, C.SendSubscribed) for c in cmds):
            self.driver.drop_stream(stream)
            refusal = self.core.check_subscribe(fid) or (409, "subscription refused")
            return error_response(*refusal)
        trail = request.app.get(MASTER_AUDIT)
        if trail is not None:
            trail.note_request(request, 200, f"SUBSCRIBE {info.name or 'framework'} "
                                             f"{stream.framework_id}")
        response = web.StreamResponse(status=200, headers={
            "Content-Type": JSON, "Mesos-Stream-Id": stream.stream_id,
            "Cache-Control": "no-cache"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        heartbeat = self.core.framework_heartbeat_seconds
        log.info("framework_subscribed", framework_id=stream.framework_id,
                 stream_id=stream.stream_id, name=info.name)
        try:
            next_heartbeat = time.monotonic() + heartbeat
            while True:
                try:
                    async with asyncio.timeout(
                            min(1.0, max(next_heartbeat - time.monotonic(), 0.0))):
                        item = await stream.queue.get()
                except TimeoutError:
                    if request.transport is None or request.transport.is_closing():
                        break
                    if time.monotonic() < next_heartbeat:
                        continue
                    item = mj.HEARTBEAT_EVENT
                    next_heartbeat = time.monotonic() + heartbeat
                if item is CLOSE:
                    break
                await response.write(mj.encode_record(item))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            await self.driver.stream_ended(stream)
        with contextlib.suppress(Exception):
            await response.write_eof()
        return response

    # -- the agent link (docs/agent-protocol.md) ---------------------------------------------

    async def agent_register(self, request: web.Request) -> web.Response:
        try:
            data = await request_json(request)
        except BadBody as exc:
            return exc.response()
        try:
            event = registration(data)
        except SpecError as exc:
            return error_response(400, f"invalid registration: {exc}", exc.problems)
        try:
            cmds = await self.driver.submit(event)
        except StoreUnwritable as exc:
            return _store_unwritable(exc)
        answer = next(c for c in cmds if isinstance(c, C.AgentAccepted | C.AgentRejected))
        if isinstance(answer, C.AgentRejected):  # another live agent holds the hostname
            problem = FieldProblem(answer.field or "", answer.reason)
            return error_response(409, f"registration refused: {problem.field}: "
                                  f"{problem.problem}", [problem])
        request[NOTE] = f"agent {answer.agent_id} registered as {event.hostname}"
        self.driver.agent_registered(answer.agent_id)
        log.info("agent_registered", agent_id=answer.agent_id, hostname=event.hostname,
                 keep=len(answer.keep), kill=len(answer.kill))
        return web.json_response({"agent_id": answer.agent_id,
                                  "heartbeat_seconds": answer.heartbeat_seconds,
                                  "keep": list(answer.keep), "kill": list(answer.kill),
                                  "registry": address_for(self.registry, request.url.host)})

    async def agent_stream(self, request: web.Request) -> web.StreamResponse:
        agent_id = request.query.get("agent_id", "")
        agent = self.core.agents.get(agent_id)
        if agent is None or agent.lost:
            return error_response(404 if agent is None else 409,
                                  f"agent {agent_id!r} must register first"
                                  if agent is None else f"agent {agent_id} was declared lost; "
                                  "register again", [FieldProblem("agent_id", "not registered")])
        ws = web.WebSocketResponse(max_msg_size=16 * 1024 * 1024, timeout=2.0)
        await ws.prepare(request)
        conn = self.driver.agent_connected(agent_id, ws)
        writer = asyncio.create_task(self._agent_writer(conn))
        log.info("agent_connected", agent_id=agent_id)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    if msg.type == WSMsgType.ERROR:
                        break
                    continue
                try:
                    data = read_json(msg.data.encode())
                    if self.logs.receive(conn, data) or self.exec.receive(conn, data):
                        continue
                    event = agent_message(agent_id, data)
                except ValueError as exc:  # SpecError is one
                    await ws.send_json({"type": "ERROR", "message": str(exc)})
                    continue
                if event is None:
                    continue
                try:
                    await self.driver.submit(event)
                except StoreUnwritable as exc:
                    if isinstance(event, E.AgentStatus):
                        # Not recorded, so not to be forgotten: the agent registers again
                        # (answered 503 until the store can be written) and says it anew.
                        await ws.close(code=4002, message=str(exc).encode()[:120])
                        break
                    # Metering samples are lossy by nature: these are dropped.
        finally:
            writer.cancel()
            self.logs.link_closed(conn)
            self.exec.link_closed(conn)
            self.driver.agent_disconnected(agent_id, conn)
            log.info("agent_disconnected", agent_id=agent_id)
        return ws

    async def _agent_writer(self, conn: AgentConn) -> None:
        with contextlib.suppress(ConnectionResetError, asyncio.CancelledError, RuntimeError):
            while True:
                message = await conn.queue.get()
                await conn.ws.send_json(message)


MASTER = web.AppKey("master", MasterService)
MASTER_LOGS = web.AppKey("master_logs", LogRelay)
MASTER_AUDIT = web.AppKey("master_audit", AuditTrail)


def build_master_app(driver: MasterService, gate: Gate | None = None,
                     trail: AuditTrail | None = None,
                     registry: str | None = None) -> web.Application:
    """The master's HTTP surface; `gate` (api.auth) decides who may call it, `trail`
    (api.audit) notes subscriptions, teardowns, registrations and refusals; `registry`
    is told to agents at registration."""
    service = MasterApi(driver, registry)
    middlewares = [json_errors_with(chain(same_origin_json(), gate))]
    if trail is not None:
        middlewares.insert(0, trail.middleware)
    app = web.Application(client_max_size=16 * 1024 * 1024, middlewares=middlewares)
    app.router.add_get("/version", service.version)
    app.router.add_get("/health", service.health)
    app.router.add_get("/openapi.json", service.openapi)
    app.router.add_get("/state", service.state)
    app.router.add_get("/metrics", metrics_handler(service.metrics))
    app.router.add_get("/v1/metering", service.metering)
    app.router.add_get("/v1/agents", service.agents)
    app.router.add_get("/v1/tasks/{task_id}/logs", service.logs.handle)
    app.router.add_post("/v1/tasks/{task_id}/exec", service.exec.handle)
    app.router.add_post("/api/v1/scheduler", service.scheduler)
    app.router.add_post("/agent/v1/register", service.agent_register)
    app.router.add_get("/agent/v1/stream", service.agent_stream)
    app[MASTER] = driver
    app[MASTER_LOGS] = service.logs
    if trail is not None:
        app[MASTER_AUDIT] = trail
    return app


@dataclass
class RunningMaster:
    """A master serving on a loop: `url` to reach it, `stop()` to end it."""

    service: MasterService
    runner: web.AppRunner
    host: str
    port: int
    access: AccessGate | None = None
    tls: bool = False
    trail: AuditTrail | None = None

    @property
    def url(self) -> str:
        return local_url(self.host, self.port, self.tls)

    @property
    def logs(self) -> LogRelay:
        """The relay of `GET /v1/tasks/{id}/logs` (its open requests)."""
        return self.runner.app[MASTER_LOGS]

    async def stop(self) -> None:
        await self.service.stop()
        await self.runner.cleanup()
        if self.trail is not None:
            await self.trail.stop()
        if self.access is not None:
            await self.access.stop()


async def start_master(host: str = "127.0.0.1", port: int = 5050, *, db_url: str | None,
                       offer_timeout: float = 60.0, agent_timeout: float = 15.0,
                       clock: Callable[[], float] = time.time,
                       tick_seconds: float = 0.25, limits: ServerLimits | None = None,
                       max_frameworks: int | None = DEFAULT_MAX_FRAMEWORKS,
                       insecure: bool = False, internal_credential: str | None = None,
                       tls: ssl.SSLContext | None = None, registry: str | None = None,
                       **core_options: Any) -> RunningMaster:
    """Open the store (migrating it), restore the core from it, serve. Port 0 picks one.

    With users in the database (`berth user add`), agents and frameworks authenticate:
    agents with an admin-scope token (or `internal_credential`, the bearer secret of the
    roles `berth up` runs beside it), frameworks as a user or with a token. Without users,
    a non-loopback `host` needs `insecure`. `registry` (`host:port`) is berth's registry,
    told to every agent at registration (a wildcard host as the address it reached us at)."""
    loop = asyncio.get_running_loop()
    access = None
    if db_url:
        access = AccessGate(await asyncio.to_thread(AccessStore, db_url), clock,
                            admin_prefixes=("/agent/",), internal=internal_credential,
                            open_paths=MASTER_OPEN_PATHS)
    try:
        check_exposure("master", host, authenticated=access is not None and access.enabled,
                       insecure=insecure, needs="add a user first (berth user add NAME --admin)")
    except ExposureRefused:
        if access is not None:
            await access.stop()
        raise
    store = await loop.run_in_executor(None, MasterStore, db_url) if db_url else None
    snapshot = await loop.run_in_executor(None, store.load) if store else None
    core = Master(clock, offer_timeout=offer_timeout, agent_timeout=agent_timeout,
                  snapshot=snapshot, max_frameworks=max_frameworks, **core_options)
    service = MasterService(core, store, tick_seconds=tick_seconds)
    trail = None if access is None else AuditTrail(access.store.engine, "master",
                                                   every_write=False, clock=clock)
    app = build_master_app(service, access.gate if access is not None else None, trail,
                           registry)
    runner, bound = await serve_app(app, host, port, limits=limits, ssl_context=tls,
                                    shutdown_timeout=2.0)
    service.master_info = mj.master_info(str(uuid.uuid4()), socket.gethostname(), bound)
    await service.start()
    if access is not None:
        await access.start()
        await trail.start()
    log.info("master_started", host=host, port=bound, db=db_url and db_url.split("@")[-1],
             agents=len(core.agents), tasks=len(core.tasks),
             authentication="required" if access is not None and access.enabled
             else "none (local callers trusted)")
    return RunningMaster(service, runner, host, bound, access, tls is not None, trail)
