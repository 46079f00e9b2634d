"""The framework's metrics: what the agents metered (carried by the master's
`GET /v1/metering`) and what callers post, written into the metrics store, tagged with
the node, job, instance and namespace the framework knows them by; and the store's
periodic downsampling.

Metric names: a task's `cpus` and `mem` are stored as `cpu` (cores) and `mem` (MiB), every
other numeric field of a task sample (`cpu_limit`, `mem_limit`, `response_time`...) under
its own name; a node's fields (`node_cpu_used`...) under theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import Any

import structlog

from persistence.metric_input import NAME, Sample
from persistence.metrics import MetricsStore

log = structlog.get_logger("berth.framework")

TASK_KEYS = {"task_id", "t", "cpus", "mem", "agent_id", "hostname"}
NODE_KEYS = {"t", "agent_id", "hostname"}


def metering_samples(payload: dict[str, Any], tags_of: Callable[[str], dict[str, str]]
                     ) -> list[Sample]:
    """The samples of one `GET /v1/metering` answer; `tags_of(task_id)`: the job,
    instance and namespace tags of a task instance. Odd entries are passed over."""
    out: list[Sample] = []
    for s in payload.get("samples") or ():
        with contextlib.suppress(KeyError, TypeError, ValueError):
            tags = {**tags_of(str(s["task_id"])), **_node(s)}
            t = float(s["t"])
            out.append(Sample("cpu", float(s["cpus"]), t, tags))
            out.append(Sample("mem", float(s["mem"]), t, tags))
            out += [Sample(k, float(v), t, tags) for k, v in _numbers(s, TASK_KEYS)]
    for n in payload.get("node") or ():
        with contextlib.suppress(KeyError, TypeError, ValueError):
            t = float(n["t"])
            out += [Sample(k, float(v), t, _node(n)) for k, v in _numbers(n, NODE_KEYS)]
    return out


def _node(entry: dict[str, Any]) -> dict[str, str]:
    node = entry.get("hostname") or entry.get("agent_id")
    return {"node": str(node)} if node else {}


def _numbers(entry: dict[str, Any], skip: set[str]) -> Iterable[tuple[str, float]]:
    for key, value in entry.items():
        if key not in skip and not isinstance(value, bool) and isinstance(value, int | float) \
                and NAME.match(key):
            yield key, value


class MetricsFeed:
    """Writes samples to the store on a worker thread (in order, one batch at a time) and
    compacts it every `compact_seconds`."""

    def __init__(self, store: MetricsStore, clock: Callable[[], float],
                 compact_seconds: float = 60.0) -> None:
        self.store = store
        self.clock = clock
        self.compact_seconds = compact_seconds
        self._lock = asyncio.Lock()

    async def record(self, samples: list[Sample]) -> int:
        if not samples:
            return 0
        async with self._lock:
            return await asyncio.to_thread(self.store.record, samples)

    async def run(self) -> None:
        """Compact now and then, until cancelled."""
        while True:
            await asyncio.sleep(self.compact_seconds)
            try:
                async with self._lock:
                    done = await asyncio.to_thread(self.store.compact, self.clock())
                log.debug("metrics_compacted", **done)
            except Exception as exc:  # the database is away: next time
                log.warning("metrics_compaction_failed", error=str(exc))
