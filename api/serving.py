"""Putting an aiohttp app on a port: the part every role's server shares."""

from __future__ import annotations

from typing import Any

from aiohttp import web


async def serve_app(app: web.Application, host: str, port: int,
                    **runner_options: Any) -> tuple[web.AppRunner, int]:
    """Start serving `app`; returns the runner (to clean up) and the bound port, which is
    the real one when `port` is 0. A port that cannot be bound raises OSError."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False, **runner_options)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError:  # the port is taken: release what setup() made before saying so
        await runner.cleanup()
        raise
    return runner, runner.addresses[0][1] if runner.addresses else port


def local_url(host: str, port: int) -> str:
    """An address a process on this machine can reach the server at."""
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
