"""A driver-side I/O helper: a task's container output, read from the master's
`GET /v1/tasks/{task_id}/logs` (api/master_logs.py), for the framework's own routes.

Not part of the scheduler core (which never does I/O): the HTTP handlers call it and
pass the bytes on as they come.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from urllib.parse import quote

import aiohttp


class MasterLogsError(Exception):
    """The master would not give the log: its status code, message and field problems
    (berth's error format), or 502 when it could not be reached or broke off."""

    def __init__(self, status: int, message: str, errors: list | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or []


async def task_logs(session_or_url: aiohttp.ClientSession | str, task_id: str,
                    stream: str = "stdout", tail: int | None = None,
                    follow: bool = False, headers: dict[str, str] | None = None,
                    ssl_option: ssl.SSLContext | bool = True) -> AsyncIterator[bytes]:
    """Yield `b""` once the master has opened the log (a status 200), then the task's
    output as it comes; with `follow`, until the container ends.

    `session_or_url`: the master's URL, or a session made with `base_url=` it. Raises
    MasterLogsError before the first chunk if the master refuses, after it if the
    stream breaks off."""
    params = {"stream": stream, "follow": "true" if follow else "false"}
    if tail is not None:
        params["tail"] = str(tail)
    path = f"/v1/tasks/{quote(task_id, safe='')}/logs"
    timeout = aiohttp.ClientTimeout(total=None, connect=10, sock_connect=10)
    own = isinstance(session_or_url, str)
    if isinstance(session_or_url, str):
        session = aiohttp.ClientSession(timeout=timeout, headers=headers,
                                        connector=aiohttp.TCPConnector(ssl=ssl_option))
        url = session_or_url.rstrip("/") + path
    else:
        session, url = session_or_url, path
    try:
        try:
            async with session.get(url, params=params, timeout=timeout) as resp:
                if resp.status != 200:
                    raise _refusal(resp.status, await resp.text())
                yield b""
                async for chunk in resp.content.iter_any():
                    if chunk:
                        yield chunk
        except aiohttp.ClientPayloadError as exc:
            raise MasterLogsError(502, f"the master's log stream broke off: {exc}") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise MasterLogsError(502, f"cannot read logs from the master: "
                                       f"{exc or type(exc).__name__}") from None
    finally:
        if own:
            await session.close()


def _refusal(status: int, text: str) -> MasterLogsError:
    try:
        body = json.loads(text)
        return MasterLogsError(status, str(body.get("message") or text), body.get("errors"))
    except (ValueError, AttributeError):
        return MasterLogsError(status, text.strip() or f"the master answered {status}")
