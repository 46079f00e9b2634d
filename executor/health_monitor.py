"""The loops that run health checks on the agent: one per checked task, from the moment it
runs until it ends, one check every `interval` seconds (the first after one interval).
Each result goes through executor/health.py; what follows (a report, a kill) is the
backend's, through `on_result`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import aiohttp
import structlog

from executor.health import CheckResult, HealthState, Step, observe
from executor.health_probes import Exec, probe
from offers.health import HealthCheck

log = structlog.get_logger("executor.health")

Address = Callable[[], Awaitable[str | None]]
OnResult = Callable[[str, CheckResult, Step], None]


class HealthMonitor:
    """Health-check loops by task id."""

    def __init__(self, on_result: OnResult, clock: Callable[[], float]):
        self.on_result = on_result
        self.clock = clock
        self._loops: dict[str, asyncio.Task] = {}

    def start(self, task_id: str, check: HealthCheck, address: Address, run: Exec) -> None:
        if task_id in self._loops:
            return
        loop = asyncio.get_running_loop().create_task(
            self._run(task_id, check, address, run), name=f"health-{task_id}")
        self._loops[task_id] = loop
        loop.add_done_callback(lambda _t: self._loops.pop(task_id, None)
                               if self._loops.get(task_id) is _t else None)

    def stop(self, task_id: str) -> None:
        loop = self._loops.pop(task_id, None)
        if loop is not None and loop is not asyncio.current_task():
            loop.cancel()

    async def close(self) -> None:
        loops = list(self._loops.values())
        self._loops.clear()
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)

    def checking(self, task_id: str) -> bool:
        return task_id in self._loops

    async def _run(self, task_id: str, check: HealthCheck, address: Address,
                   run: Exec) -> None:
        state = HealthState(started_at=self.clock())
        host: str | None = None
        timeout = aiohttp.ClientTimeout(total=None)  # the check's own timeout bounds it
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                await asyncio.sleep(check.interval)
                if check.target is not None and host is None:
                    with contextlib.suppress(Exception):  # no address yet: the check says so
                        host = await address()
                result = await probe(check, host, run, session)
                step = observe(check, state, result, self.clock())
                state = step.state
                try:
                    self.on_result(task_id, result, step)
                except Exception:
                    log.exception("health_result_failed", task_id=task_id)
                if step.kill is not None:
                    return
