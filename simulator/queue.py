"""The discrete-event queue: what happens next, in time order, ties broken by kind then order.

Ties matter: at one instant, completions free capacity before submissions are queued, and
both happen before the offer cycle that may use them. `Kind` order is that tie-break.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
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
    ELASTIC = 10  # the agents' elasticity period on some nodes (`--elastic`)
    AUTOSCALE = 11  # the framework's autoscaler ticks (autoscaled jobs in the workload)


class EventQueue:
    """A heap of `(time, kind, seq, payload)`; `seq` keeps equal events in insertion order.

    Events of the `in_order` kind, pushed a fixed delay after the current time and so never
    earlier than the last one of their kind, wait in a first-in first-out line beside the
    heap: the same order as in the heap, without its sifting. One pushed out of order goes
    to the heap; `pop` takes the earlier of the two heads.
    """

    __slots__ = ("_heap", "_line", "_line_kind", "_seq")

    def __init__(self, in_order: Kind | None = None) -> None:
        self._heap: list[tuple[float, int, int, Any]] = []
        self._line: deque[tuple[float, int, int, Any]] = deque()
        self._line_kind = None if in_order is None else int(in_order)
        self._seq = itertools.count()

    def push(self, when: float, kind: Kind, payload: Any = None) -> None:
        entry = (when, int(kind), next(self._seq), payload)
        line = self._line
        if entry[1] == self._line_kind and (not line or when >= line[-1][0]):
            line.append(entry)
        else:
            heapq.heappush(self._heap, entry)

    def pop(self) -> tuple[float, int, Any]:
        heap, line = self._heap, self._line
        if line and (not heap or line[0] < heap[0]):
            when, kind, _, payload = line.popleft()
        else:
            when, kind, _, payload = heapq.heappop(heap)
        return when, kind, payload  # kind as a plain int: compares equal to Kind

    def peek(self) -> tuple[float, int]:
        """(time, kind) of the next event; (inf, 0) when empty."""
        heap, line = self._heap, self._line
        if line and (not heap or line[0] < heap[0]):
            head = line[0]
        elif heap:
            head = heap[0]
        else:
            return float("inf"), 0
        return head[0], head[1]

    def __len__(self) -> int:
        return len(self._heap) + len(self._line)
