"""The agent's own small HTTP surface (:5051): `GET /health` and `GET /state`, and
`start_agent`, which runs an agent with that server inside an existing asyncio loop.

For operators and for `berth up`'s checks; commands never come this way (they come down the
agent's websocket to the master, which works behind NAT).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, replace
from typing import Any, Protocol

import docker
from aiohttp import web

from api.auth import check_exposure
from api.http_errors import json_errors_with
from api.json_body import same_origin_json
from api.serving import ServerLimits, serve_app
from executor.agent import Agent, AgentConfig
from executor.container_spec import ContainerPolicy, VolumePolicy
from executor.docker_backend import DockerBackend
from executor.measure import PsutilSampler


class AgentView(Protocol):
    def health(self) -> dict[str, Any]: ...
    def state(self) -> dict[str, Any]: ...


def agent_app(agent: AgentView) -> web.Application:
    async def health(request: web.Request) -> web.Response:
        return web.json_response(agent.health())

    async def state(request: web.Request) -> web.Response:
        return web.json_response(agent.state())

    async def not_found(request: web.Request) -> web.Response:
        return web.json_response(
            {"code": 404, "message": f"no such endpoint: {request.method} {request.path}; "
                                     "this agent answers GET /health and GET /state",
             "errors": []}, status=404)

    app = web.Application(middlewares=[json_errors_with(same_origin_json())])
    app.router.add_get("/health", health)
    app.router.add_get("/state", state)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app


@dataclass
class AgentService:
    """A running agent and its HTTP server; `await stop()` ends both (containers stay)."""

    agent: Agent
    runner: web.AppRunner
    task: asyncio.Task
    port: int

    async def stop(self) -> None:
        await self.agent.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.runner.cleanup()


async def start_agent(config: AgentConfig, *, host: str = "127.0.0.1", port: int = 5051,
                      allowed_volumes: tuple[str, ...] = (), allow_privileged: bool = False,
                      container_policy: ContainerPolicy | None = None,
                      docker_client: docker.DockerClient | None = None,
                      limits: ServerLimits | None = None,
                      insecure: bool = False, tls: ssl.SSLContext | None = None
                      ) -> AgentService:
    """Start an agent in the running loop: its HTTP server on host:port (0 = any free
    port), then its session with the master in a background task. The endpoint it
    registers defaults to http://<hostname>:<bound port>. `container_policy` is the
    operator's limits on every container (hardened defaults when None). Its `/state`
    is not authenticated yet, so a non-loopback `host` needs `insecure`."""
    check_exposure("agent", host, authenticated=False, insecure=insecure,
                   needs="its /state does not authenticate callers yet")
    backend = DockerBackend(
        policy=VolumePolicy(allowed=tuple(allowed_volumes), allow_privileged=allow_privileged),
        container_policy=container_policy, client=docker_client or docker.from_env(),
        gc_delay=config.container_gc_seconds)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    agent = Agent(config, backend, PsutilSampler(str(config.data_dir)))
    runner, bound = await serve_app(agent_app(agent), host, port, limits=limits,
                                    ssl_context=tls)
    if not config.endpoint:
        agent.config = replace(config, endpoint=f"http://{config.hostname}:{bound}")
    task = asyncio.create_task(agent.run(), name="berth-agent")
    return AgentService(agent=agent, runner=runner, task=task, port=bound)
