"""The agent's own small HTTP surface (:5051): `GET /health` and `GET /state`.

For operators and for `berth up`'s checks; commands never come this way (they come down the
agent's websocket to the master, which works behind NAT).
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web


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

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/state", state)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app
