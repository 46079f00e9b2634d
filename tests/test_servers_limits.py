"""Servers that cannot be starved: timeouts and per-listener connection limits, over real
sockets on loopback (api/serving.py).

The flood test runs client and server in one process, as `berth up` runs its three
servers: it lowers its own descriptor limit so that, without per-listener limits, the
server runs out of descriptors and stops accepting, and restores the limit afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import socket
import time

import aiohttp
import pytest

from api.framework_server import start_framework
from api.master_app import start_master
from api.serving import ServerLimits, raise_descriptor_limit

FLOOD = 2000
HALF_SENT = b"GET /admin/ping HTTP/1.1\r\nHost: x\r\nX-Slow: "


@contextlib.contextmanager
def descriptor_limit(soft: int):
    """This process's soft RLIMIT_NOFILE set to `soft` for the block, then restored."""
    old_soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < soft:
        pytest.skip(f"the hard descriptor limit {hard} is below {soft}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (old_soft, hard))


async def _framework(tmp_path, limits: ServerLimits | None = None):
    return await start_framework(None, "127.0.0.1", 0,
                                 db_url=f"sqlite:///{tmp_path / 'fw.db'}", limits=limits)


async def _ping(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, \
            session.get(f"{url}/admin/ping") as resp:
        return resp.status, await resp.text()


async def _read_until_closed(reader: asyncio.StreamReader) -> bytes:
    data = b""
    while chunk := await reader.read(65536):
        data += chunk
    return data


async def test_idle_and_half_sent_connections_leave_ping_answering(tmp_path):
    # 2,000 client sockets plus the server's own would need over 4,000 descriptors; the
    # limit below leaves room for the clients and one listener's worth of server sockets.
    with descriptor_limit(FLOOD + 800):
        fw = await _framework(tmp_path)
        port = int(fw.url.rsplit(":", 1)[1])
        socks: list[socket.socket] = []
        try:
            for i in range(FLOOD):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                socks.append(sock)
                sock.connect_ex(("127.0.0.1", port))
                if i % 50 == 0:
                    await asyncio.sleep(0.01)  # the server shares this loop: let it accept
            await asyncio.sleep(0.5)
            for sock in socks[-100:]:  # the newest, still open, start headers and stall
                with contextlib.suppress(OSError):
                    sock.send(HALF_SENT)
            started = time.monotonic()
            status, text = await asyncio.wait_for(_ping(fw.url), timeout=1.0)
            assert (status, text) == (200, "pong")
            assert time.monotonic() - started < 1.0
        finally:
            for sock in socks:
                sock.close()
            await fw.stop()


async def test_half_sent_headers_are_closed_after_the_header_timeout(tmp_path):
    fw = await _framework(tmp_path, ServerLimits(header_timeout=0.3))
    try:
        port = int(fw.url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(HALF_SENT)
        await writer.drain()
        # Closed by the server (EOF), not by this test's bound.
        assert await asyncio.wait_for(_read_until_closed(reader), timeout=10) == b""
        writer.close()
        # A prompt client on the same server is served as usual.
        assert await _ping(fw.url) == (200, "pong")
    finally:
        await fw.stop()


async def test_a_body_sent_too_slowly_is_a_408_then_closed(tmp_path):
    fw = await _framework(tmp_path, ServerLimits(body_timeout=0.3))
    try:
        port = int(fw.url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /client/task HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nContent-Length: 100\r\n\r\n{\"id\": ")
        await writer.drain()
        answer = await asyncio.wait_for(_read_until_closed(reader), timeout=10)
        writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 ")
        assert json.loads(body)["code"] == 408
        async with aiohttp.ClientSession() as session, \
                session.get(f"{fw.url}/client/task") as resp:
            assert await resp.json() == []  # nothing was submitted
    finally:
        await fw.stop()


async def _busy(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection whose request is in progress: headers sent, body still to come."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /client/task HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                 b"\r\nContent-Length: 100\r\n\r\n{")
    await writer.drain()
    return reader, writer


async def test_over_the_connection_limit_a_503_in_berths_format(tmp_path):
    fw = await _framework(tmp_path, ServerLimits(max_connections=3))
    port = int(fw.url.rsplit(":", 1)[1])
    busy = []
    try:
        for _ in range(3):
            busy.append(await _busy(port))
        await asyncio.sleep(0.2)  # let the server parse their headers
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /admin/ping HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(_read_until_closed(reader), timeout=10)
        writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 ")
        assert b"\r\nRetry-After: " in head
        data = json.loads(body)
        assert data["code"] == 503 and "3 connections" in data["message"]
        assert data["errors"] == []
        # Once a busy connection ends, a new client is served again.
        busy.pop()[1].close()
        await asyncio.sleep(0.2)
        assert await _ping(fw.url) == (200, "pong")
    finally:
        for _, w in busy:
            w.close()
        await fw.stop()


async def test_idle_connections_make_room_for_new_ones(tmp_path):
    """At the limit the oldest idle connection is closed; busy ones are kept."""
    fw = await _framework(tmp_path, ServerLimits(max_connections=3))
    port = int(fw.url.rsplit(":", 1)[1])
    try:
        busy = await _busy(port)
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        await asyncio.sleep(0.2)
        assert await _ping(fw.url) == (200, "pong")
        # the oldest idle one was closed to make room
        assert await asyncio.wait_for(_read_until_closed(idle[0][0]), timeout=10) == b""
        # the busy one was not: its request still completes
        busy[1].write(b"}" + b" " * 98)
        await busy[1].drain()
        status_line = await asyncio.wait_for(busy[0].readline(), timeout=10)
        assert status_line.startswith(b"HTTP/1.1 400 ")  # `{}` is not a task, but was read
        for _, w in [busy, *idle]:
            w.close()
    finally:
        await fw.stop()


async def test_a_flooded_listener_leaves_the_others_answering(tmp_path):
    """The master's and the framework's listeners in one process fail independently."""
    limits = ServerLimits(max_connections=4)
    master = await start_master("127.0.0.1", 0, db_url=f"sqlite:///{tmp_path / 'm.db'}",
                                limits=limits)
    fw = await _framework(tmp_path, limits)
    port = int(fw.url.rsplit(":", 1)[1])
    busy = []
    try:
        for _ in range(4):
            busy.append(await _busy(port))
        await asyncio.sleep(0.2)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{fw.url}/admin/ping") as resp:
                assert resp.status == 503
            async with session.get(f"{master.url}/health") as resp:
                assert resp.status == 200
    finally:
        for _, w in busy:
            w.close()
        await fw.stop()
        await master.stop()


def test_descriptor_limit_is_raised_to_the_hard_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard < 256:
        pytest.skip("no finite hard limit to raise to")
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    try:
        assert raise_descriptor_limit() == hard
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
