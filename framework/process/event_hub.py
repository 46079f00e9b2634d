"""Changes fanned out to the framework's event-stream readers (`GET /v1/events`).

The driver publishes as it changes state; each reader has its own bounded queue, so a slow
browser never blocks the scheduler: a reader whose queue is full is dropped (it reconnects
and resumes from the last event it saw, or starts over from a snapshot). The last
`keep` events stay in a ring so a reconnect within them misses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Change:
    """One published change: `id` strictly increasing, `kind` the SSE event name,
    `namespace` whose it is (None: anyone's, e.g. a node's measurements)."""

    id: int
    kind: str
    data: dict[str, Any]
    namespace: str | None = None


@dataclass(eq=False)
class Reader:
    queue: asyncio.Queue[Change | None]  # None: the stream ends (the framework stops)
    dropped: bool = False


class EventHub:
    def __init__(self, keep: int = 2000, queue_size: int = 1000) -> None:
        self._ids = itertools.count(1)
        self.last_id = 0
        self._ring: deque[Change] = deque(maxlen=keep)
        self.queue_size = queue_size
        self.readers: set[Reader] = set()
        self.dropped_readers = 0

    def publish(self, kind: str, data: dict[str, Any], namespace: str | None = None
                ) -> Change:
        """Record a change and offer it to every reader; never waits."""
        change = Change(next(self._ids), kind, data, namespace)
        self.last_id = change.id
        self._ring.append(change)
        for reader in list(self.readers):
            try:
                reader.queue.put_nowait(change)
            except asyncio.QueueFull:
                self.drop(reader)
        return change

    def drop(self, reader: Reader) -> None:
        reader.dropped = True
        self.readers.discard(reader)
        self.dropped_readers += 1

    def subscribe(self, after: int | None = None) -> tuple[Reader, list[Change] | None]:
        """A new reader, and the changes it missed since `after` (None when `after` is not
        given or is older than the ring keeps: the reader must start from a snapshot)."""
        reader = Reader(asyncio.Queue(self.queue_size))
        self.readers.add(reader)
        if after is None or after > self.last_id:
            return reader, None
        oldest = self._ring[0].id if self._ring else self.last_id + 1
        if after + 1 < oldest and after < self.last_id:
            return reader, None
        return reader, [c for c in self._ring if c.id > after]

    def unsubscribe(self, reader: Reader) -> None:
        self.readers.discard(reader)

    def close(self) -> None:
        """End every reader's stream (the server is stopping: it must not wait for them)."""
        for reader in list(self.readers):
            reader.dropped = True
            with contextlib.suppress(asyncio.QueueFull):
                reader.queue.put_nowait(None)
        self.readers.clear()
