"""The discrete-event queue: what happens next, in time order, ties broken by kind then order.

Ties matter: at one instant, completions free capacity before submissions are queued, and
both happen before the offer cycle that may use them. `Kind` order is that tie-break.
"""

from __future__ import annotations

import heapq
import itertools
from enum import IntEnum
from typing import Any


class Kind(IntEnum):
    FINISH = 0  # a task's duration ran out
    AGENT_DOWN = 1
    AGENT_UP = 2
    LOAD = 3  # incumbent load on the nodes changes
    SUBMIT = 4
    USAGE = 5  # a metering sample reaches the framework
    RESHUFFLE = 6
    OFFER_CYCLE = 7
    MEASURE = 8  # a reshuffle's effect is measured
    SAMPLE = 9  # one row of the per-interval report


class EventQueue:
    """A heap of `(time, kind, seq, payload)`; `seq` keeps equal events in insertion order."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, int, Any]] = []
        self._seq = itertools.count()

    def push(self, when: float, kind: Kind, payload: Any = None) -> None:
        heapq.heappush(self._heap, (when, int(kind), next(self._seq), payload))

    def pop(self) -> tuple[float, int, Any]:
        when, kind, _, payload = heapq.heappop(self._heap)
        return when, kind, payload  # kind as a plain int: compares equal to Kind

    def peek(self) -> tuple[float, int]:
        """(time, kind) of the next event; (inf, 0) when empty."""
        if not self._heap:
            return float("inf"), 0
        head = self._heap[0]
        return head[0], head[1]

    def __len__(self) -> int:
        return len(self._heap)
