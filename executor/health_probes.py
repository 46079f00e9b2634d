"""Running one health check against a container: an HTTP GET, a TCP connect, or a command
through Docker exec, each within the check's timeout. Every outcome is a CheckResult that
says what was seen; what it means is executor/health.py's."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import aiohttp

from executor.health import CheckResult
from offers.health import HealthCheck

# Runs an argv inside the container: (exit code, the start of its output).
Exec = Callable[[list[str]], Awaitable[tuple[int, str]]]
OUTPUT_SHOWN = 200  # characters of a failed command's output kept in its reason


async def probe(check: HealthCheck, host: str | None, run: Exec,
                session: aiohttp.ClientSession) -> CheckResult:
    """Run `check` once against the container at `host` (None: it has no address)."""
    try:
        async with asyncio.timeout(check.timeout):
            if check.command is not None:
                return await _command(list(check.command), run)
            if host is None:
                return CheckResult(False, "the container has no network address")
            if check.http is not None:
                return await _http(session, host, check)
            return await _tcp(host, check)
    except TimeoutError:
        return CheckResult(False, f"{check.describe()} timed out after {check.timeout:g} s")


async def _http(session: aiohttp.ClientSession, host: str, check: HealthCheck
                ) -> CheckResult:
    http = check.http
    assert http is not None
    url = f"http://{_bracketed(host)}:{http.port}{http.path}"
    started = time.perf_counter()
    try:
        async with session.get(url, allow_redirects=False) as resp:
            await resp.read()
            status = resp.status
    except (aiohttp.ClientError, OSError) as exc:
        return CheckResult(False, f"GET :{http.port}{http.path} failed: {_text(exc)}")
    elapsed = (time.perf_counter() - started) * 1000.0
    ok = status == http.status if http.status is not None else 200 <= status < 400
    wanted = http.status if http.status is not None else "2xx or 3xx"
    detail = f"GET :{http.port}{http.path} answered {status}" + (
        "" if ok else f", not {wanted}")
    return CheckResult(ok, detail, round(elapsed, 3))


async def _tcp(host: str, check: HealthCheck) -> CheckResult:
    assert check.tcp is not None
    port = check.tcp.port
    try:
        _reader, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        return CheckResult(False, f"tcp :{port} did not connect: {_text(exc)}")
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return CheckResult(True, f"tcp :{port} connected")


async def _command(argv: list[str], run: Exec) -> CheckResult:
    try:
        code, output = await run(argv)
    except Exception as exc:  # Docker refused the exec: the check could not run
        return CheckResult(False, f"command {argv[0]} could not run: {_text(exc)}")
    if code == 0:
        return CheckResult(True, f"command {argv[0]} exited 0")
    shown = " ".join(output.split())[:OUTPUT_SHOWN]
    return CheckResult(False, f"command {' '.join(argv)} exited {code}"
                              + (f": {shown}" if shown else ""))


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _text(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
