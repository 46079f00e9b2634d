"""`berth task submit` retried after a dropped connection creates one task, not two.

A loopback proxy hands the first request to a real framework, lets it answer, and then
drops the client's connection without passing the answer on: exactly what a client sees
when the network fails after the server committed."""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp
import pytest

from tests.test_framework_task_cli import berth, framework

__all__ = ["framework"]  # the fixture


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "stress60mb.json"
    path.write_text(json.dumps({"id": "stress60", "dockerimage": "stress", "mem": "100"}))
    return path


class DroppingProxy:
    """Forwards connections to `port`; the first `drops` of them lose the answer."""

    def __init__(self, port: int, drops: int = 1) -> None:
        self.port = port
        self.drops = drops
        self.requests: list[bytes] = []
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader, writer) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
        drop = self.drops > 0
        self.drops -= 1
        seen = bytearray()

        async def upstream() -> None:
            with contextlib.suppress(ConnectionError):
                while data := await reader.read(65536):
                    seen.extend(data)
                    up_writer.write(data)
                    await up_writer.drain()

        pump = asyncio.create_task(upstream())
        try:
            while data := await up_reader.read(65536):
                if drop:  # the server answered: the client never hears it
                    break
                writer.write(data)
                await writer.drain()
        finally:
            self.requests.append(bytes(seen))
            pump.cancel()
            writer.transport.abort()
            up_writer.close()

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()


async def test_submit_retries_a_dropped_post_once_and_creates_one_task(framework, spec):
    proxy = DroppingProxy(framework.port, drops=1)
    url = await proxy.start()
    try:
        code, out = await berth("submit", str(spec), url=url)
    finally:
        await proxy.stop()
    assert code == 0, out
    async with aiohttp.ClientSession() as http, \
            http.get(f"{framework.url}/client/task") as resp:
        tasks = await resp.json()
    assert len(tasks) == 1, tasks
    assert out.startswith(f"Run task: stress60 ({tasks[0]['internal_id']})")
    assert len(proxy.requests) == 2
    keys = [line for request in proxy.requests for line in request.decode().splitlines()
            if line.lower().startswith("idempotency-key:")]
    assert len(keys) == 2 and keys[0] == keys[1]  # one fresh key, sent again on the retry


async def test_two_submits_send_two_keys(framework, spec):
    for _ in range(2):
        code, out = await berth("submit", str(spec), url=framework.url)
        assert code == 0, out
    async with aiohttp.ClientSession() as http, \
            http.get(f"{framework.url}/client/task") as resp:
        assert len(await resp.json()) == 2


async def test_a_second_drop_is_reported_not_retried_forever(framework, spec):
    proxy = DroppingProxy(framework.port, drops=5)
    url = await proxy.start()
    try:
        code, out = await berth("submit", str(spec), url=url)
    finally:
        await proxy.stop()
    assert code == 1 and "Traceback" not in out and "connection" in out.lower(), out
    assert len(proxy.requests) == 2
