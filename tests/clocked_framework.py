"""A real framework on a real SQLite store with its clock injected and its tick driven by
the test (no master): what the schedule and autoscaler tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from api.framework_server import RunningFramework, start_framework


async def framework_starter(tmp_path, clock, **options: Any
                            ) -> AsyncIterator[Callable[..., Awaitable[RunningFramework]]]:
    """Yield `starter(**more)`, which starts a framework on the same store (a restart is a
    second call after `fw.stop()`); whatever still runs is stopped afterwards."""
    running: list[RunningFramework] = []

    async def starter(**more: Any) -> RunningFramework:
        fw = await start_framework(None, "127.0.0.1", 0, db_url=f"sqlite:///{tmp_path}/f.db",
                                   clock=clock, tick_seconds=3600.0, **{**options, **more})
        stop = fw.stop

        async def stop_once():
            running.remove(fw)
            await stop()

        fw.stop = stop_once
        running.append(fw)
        return fw

    yield starter
    for fw in list(running):
        await fw.stop()


@pytest.fixture
async def http():
    async with aiohttp.ClientSession(headers={"Content-Type": "application/json"}) as s:
        yield s


async def call(http, fw, method, path, body=None):
    async with http.request(method, fw.url + path, json=body) as resp:
        return resp.status, await resp.json()


async def tick_at(fw, clock, when: float) -> None:
    clock.now = when
    await fw.service.tick()
