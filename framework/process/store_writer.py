"""The framework's store writer: group commit of what the driver asks to keep.

One worker thread (or the loop itself for SQLite), writes in order, in batches; callers
await their batch's commit. See framework/driver.py for what is written ahead of the core
and what is kept and retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from concurrent.futures import ThreadPoolExecutor

import structlog

from framework.history import AgentLoss, AgentSeen
from framework.records import TaskRecord
from framework.store import FrameworkStore, JobState, StoreUnavailable
from offers.task import TaskSpec

log = structlog.get_logger("berth.framework")


class StoreWriter:
    """Batches writes onto one thread, in order; callers may await their batch's commit.

    A batch the store cannot take (StoreUnavailable) fails its waiters; what belongs to a
    request (submissions, kill prefixes, marks) is dropped, since the request is answered
    503, while what mirrors the core's state (records, unwanted ids, the framework id) is
    kept for the next batch and retried with backoff.
    """

    def __init__(self, store: FrameworkStore) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="framework-store")
        self._subs: list[tuple[str, TaskSpec, float]] = []
        self._records: dict[str, TaskRecord] = {}
        self._unwanted: list[str] = []
        self._framework_id: str | None = None
        self._killed_prefixes: list[str] = []
        self._killed_ids: list[str] = []
        self._marks: dict[str, str] = {}
        self._job_states: dict[str, JobState] = {}
        self._agents: dict[str, AgentSeen] = {}  # the history's (framework/history.py)
        self._losses: list[AgentLoss] = []
        self._waiters: list[asyncio.Future] = []
        self._retry_in: float | None = None  # seconds, while kept state waits for the store
        self.unavailable: str | None = None  # why the last write failed, until one succeeds
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.batches = 0
        # A local SQLite commit of a batch takes well under a millisecond: doing it on the
        # loop beats handing the GIL back and forth with a thread. A server database
        # (network round trips) gets the worker thread.
        self.inline = store.engine.dialect.name == "sqlite"

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def add(self, *, submission: tuple[str, TaskSpec, float] | None = None,
            records: list[TaskRecord] = (), unwanted: list[str] = (),
            framework_id: str | None = None, killed_prefixes: list[str] = (),
            killed_ids: list[str] = (), marks: dict[str, str] | None = None,
            job_states: list[JobState] = (), agents_seen: list[AgentSeen] = (),
            agent_losses: list[AgentLoss] = ()) -> asyncio.Future:
        """Queue writes; the returned future resolves when they are committed."""
        for agent in agents_seen:
            self._agents[agent.agent_id] = agent
        self._losses.extend(agent_losses)
        for state in job_states:
            self._job_states[state.job_id] = state
        if submission:
            self._subs.append(submission)
        self._killed_prefixes.extend(killed_prefixes)
        self._killed_ids.extend(killed_ids)
        self._marks.update(marks or {})
        for record in records:
            self._records[record.task_id] = record
        self._unwanted.extend(unwanted)
        if framework_id:
            self._framework_id = framework_id
        future = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        self._wake.set()
        return future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._retry_in is None:
                await self._wake.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._retry_in):
                        await self._wake.wait()
            self._wake.clear()
            subs, records, unwanted = self._subs, list(self._records.values()), self._unwanted
            framework_id, waiters = self._framework_id, self._waiters
            prefixes, marks, killed_ids = self._killed_prefixes, self._marks, self._killed_ids
            job_states = list(self._job_states.values())
            agents, losses = list(self._agents.values()), self._losses
            self._agents, self._losses = {}, []
            self._subs, self._records, self._unwanted, self._waiters = [], {}, [], []
            self._framework_id, self._killed_prefixes, self._marks = None, [], {}
            self._killed_ids = []
            self._job_states = {}
            write = functools.partial(self.store.write, submissions=subs, records=records,
                                      unwanted=unwanted, framework_id=framework_id,
                                      killed_prefixes=prefixes, killed_ids=killed_ids,
                                      marks=marks,
                                      job_states=job_states, agents_seen=agents,
                                      agent_losses=losses)
            try:
                if self.inline:
                    write()
                else:
                    await loop.run_in_executor(self._pool, write)
                self.batches += 1
                error = None
                if self.unavailable is not None:
                    log.info("store_writable_again", was=self.unavailable)
                self.unavailable, self._retry_in = None, None
            except StoreUnavailable as exc:
                if self.unavailable is None:
                    log.error("store_unavailable", reason=exc.reason, submissions=len(subs),
                              records=len(records))
                self.unavailable = exc.reason
                error = exc
                self._keep(records, unwanted, framework_id, job_states)
                self._keep_history(agents, losses)
            except Exception as exc:  # not the disk: a bug; tell every waiter
                log.error("store_write_failed", error=str(exc), submissions=len(subs))
                error = exc
            for future in waiters:
                if not future.done():
                    if error is None:
                        future.set_result(None)
                    else:
                        future.set_exception(error)

    def _keep(self, records: list[TaskRecord], unwanted: list[str],
              framework_id: str | None, job_states: list[JobState]) -> None:
        """Put back what mirrors the core's state, under anything newer, and retry later."""
        for record in records:
            self._records.setdefault(record.task_id, record)
        for state in job_states:
            self._job_states.setdefault(state.job_id, state)
        self._unwanted[:0] = unwanted
        self._framework_id = self._framework_id or framework_id
        if self._records or self._unwanted or self._framework_id or self._job_states:
            self._retry_in = min((self._retry_in or 0.25) * 2, 10.0)

    def _keep_history(self, agents: list[AgentSeen], losses: list[AgentLoss]) -> None:
        """The history mirrors what happened too: kept and retried with the records."""
        for agent in agents:
            self._agents.setdefault(agent.agent_id, agent)
        self._losses[:0] = losses
        if (self._agents or self._losses) and self._retry_in is None:
            self._retry_in = 0.5

    async def stop(self) -> None:
        if self._task is not None:
            if self._waiters:
                with contextlib.suppress(Exception):
                    await asyncio.gather(*self._waiters)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._pool.shutdown(wait=True)
