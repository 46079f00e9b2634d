"""A Mesos v1 scheduler HTTP client: SUBSCRIBE, read the RecordIO stream, make calls.

It knows the wire (via `offers.protocol.mesos`), not the scheduling: every event is handed to
`on_event` as decoded JSON, in order, and `call` sends one call with the stream id. After a
disconnect (or a master that stops sending heartbeats) it subscribes again with the
framework id it was given, backing off between attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import structlog

from offers.protocol import mesos as mj

log = structlog.get_logger("berth.framework.mesos")

SCHEDULER_PATH = "/api/v1/scheduler"


class NotSubscribed(RuntimeError):
    """A call was made while no subscription is open; it is dropped (offers die with it)."""


class MesosSchedulerClient:
    """One framework's link to a master. `run()` until `stop()`."""

    def __init__(self, master_url: str, on_event: Callable[[dict], Awaitable[None]], *,
                 name: str = "charmander", user: str = "root",
                 framework_id: str | None = None, min_backoff: float = 0.2,
                 max_backoff: float = 10.0, headers: dict[str, str] | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        """`headers`: sent with every call (the master's `Authorization`); `ssl_context`:
        whom to trust over https (default: the system's CAs)."""
        self.master_url = master_url.rstrip("/")
        self.headers = headers or {}
        self.ssl = ssl_context if ssl_context is not None else True
        self.on_event = on_event
        self.name = name
        self.user = user
        self.framework_id = framework_id
        self.stream_id: str | None = None
        self.heartbeat_seconds = 15.0
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.connected = asyncio.Event()
        self.subscriptions = 0
        self._session: aiohttp.ClientSession | None = None
        self._stopping = False
        self._stop_requested = asyncio.Event()  # cuts a backoff short

    @property
    def url(self) -> str:
        return self.master_url + SCHEDULER_PATH

    async def run(self) -> None:
        """Subscribe, read events, and subscribe again after any disconnect."""
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, connect=10), headers=self.headers,
            connector=aiohttp.TCPConnector(ssl=self.ssl))
        backoff = self.min_backoff
        try:
            while not self._stopping:
                try:
                    await self._subscribe_and_read()
                    backoff = self.min_backoff
                except (TimeoutError, aiohttp.ClientError, ConnectionError, ValueError) as exc:
                    log.warning("master_link_down", master=self.master_url, error=str(exc),
                                retry_in=round(backoff, 2))
                finally:
                    self.connected.clear()
                    self.stream_id = None
                if self._stopping:
                    break
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(backoff):
                        await self._stop_requested.wait()
                backoff = min(backoff * 2, self.max_backoff)
        finally:
            await self._session.close()

    async def _subscribe_and_read(self) -> None:
        body = mj.subscribe_call(self.name, self.user, framework_id=self.framework_id)
        async with self._session.post(self.url, json=body,
                                      headers={"Accept": "application/json"}) as resp:
            if resp.status != 200:
                text = (await resp.text())[:500]
                if resp.status in (400, 403, 404) and self.framework_id:
                    # The master forgot us (removed framework): start afresh.
                    log.warning("resubscribe_refused", status=resp.status, body=text)
                    self.framework_id = None
                raise aiohttp.ClientResponseError(resp.request_info, (), status=resp.status,
                                                  message=text)
            self.stream_id = resp.headers.get("Mesos-Stream-Id")
            decoder = mj.RecordIODecoder()
            while True:
                timeout = max(self.heartbeat_seconds * 5, 5.0)
                async with asyncio.timeout(timeout):
                    chunk = await resp.content.readany()
                if not chunk:
                    raise ConnectionError("the master closed the event stream")
                for event in decoder.feed(chunk):
                    if event.get("type") == "SUBSCRIBED":
                        sub = event["subscribed"]
                        self.framework_id = sub["framework_id"]["value"]
                        self.heartbeat_seconds = float(
                            sub.get("heartbeat_interval_seconds") or 15.0)
                        self.subscriptions += 1
                        self.connected.set()
                    await self.on_event(event)

    async def call(self, body: dict[str, Any]) -> None:
        """Send one call; the master answers 202 and reports failures as events."""
        if self.stream_id is None or self._session is None:
            raise NotSubscribed(f"{body.get('type')} dropped: not subscribed")
        headers = {"Mesos-Stream-Id": self.stream_id}
        async with self._session.post(self.url, json=body, headers=headers) as resp:
            if resp.status >= 300:
                text = (await resp.text())[:500]
                log.warning("call_refused", call=body.get("type"), status=resp.status,
                            body=text)

    async def stop(self, teardown: bool = False) -> None:
        self._stopping = True
        self._stop_requested.set()
        if teardown and self.framework_id and self.stream_id:
            with contextlib.suppress(Exception):
                await self.call(mj.teardown_call(self.framework_id))
