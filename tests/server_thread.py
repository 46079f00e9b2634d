"""Servers on an asyncio loop of their own thread, for tests that call them synchronously
(schemathesis sends its requests with `requests`, blocking, so the servers cannot share
the test's loop)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")
START_SECONDS = 60.0  # a failure bound, not a performance expectation


class ServerThread:
    """A loop running on a daemon thread; `run(coro)` waits for a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="servers",
                                        daemon=True)
        self._thread.start()

    def run(self, coro: Awaitable[T], timeout: float = START_SECONDS) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self, *stoppable: Any) -> None:
        """Stop each server (its `stop()` coroutine), then the loop."""
        for server in stoppable:
            self.run(server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(START_SECONDS)
        self.loop.close()
