"""The framework's driver: the scheduler core wired to its store and master.

This module is where the framework process meets the world: the clock, the ids and the
waits come from here, and the pieces of I/O it runs (`framework.process`: the
scheduler-API client, the store's writer, the job requests, Jisto's job requests, the
schedule runner, JuliaRun's settings and the master's log stream) take them from it. The
decision code (`framework.scheduler` and its parts) takes time and ids from here and does
no I/O.

Thin: REST requests (api/charmander_app.py calls in here), Mesos events, metering
samples and clock ticks become events for `framework.scheduler.CharmanderScheduler`; the
commands that come back become Mesos calls.
Writes go through `framework.process.store_writer` in batches (group commit): a submission is
answered only once it is on disk, status updates are acknowledged only once their new
state is.

The store holds what is wanted, the core what is happening, and a write that fails must
leave both as they were for the request that asked for it. So a request's desired-state
change is written *ahead* of the core, never after: a submission before it is queued,
a kill's (its prefix: submissions unwanted, instances killed) before the core is told and
any KILL is sent, a reshuffle's mark before copies are replaced. If that write fails
(StoreUnavailable: disk full, database down) the request answers 503 and the core never
saw it. What the core changes afterwards (records, status updates) is kept and retried
until the store takes it, so freeing the disk needs no restart.
`api.framework_server.start_framework(...)` runs it with its REST API on an existing loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import structlog

from framework import commands as cmd
from framework import events as ev
from framework.autoscaling import MetricSource
from framework.history import AgentLoss
from framework.process.agents_seen import AgentsSeen
from framework.process.autoscaler import Autoscaler
from framework.process.change_feed import (
    ReasonPacer,
    job_changes,
    node_points,
    task_change,
)
from framework.process.event_hub import EventHub
from framework.process.farm_runner import FarmRunner
from framework.process.generic_runner import GenericRunner
from framework.process.image_builder import ImageService, ImageSettings
from framework.process.jisto_operations import JistoOperations
from framework.process.job_operations import JobOperations, job_state
from framework.process.mesos_client import MesosSchedulerClient, NotSubscribed
from framework.process.metrics_feed import MetricsFeed, metering_samples
from framework.process.schedule_runner import ScheduleRunner
from framework.process.store_writer import StoreWriter
from framework.records import TaskRecord
from framework.scheduler import CharmanderScheduler
from framework.store import FrameworkStore, IdempotencyKey, StoreUnavailable
from offers.launch import LaunchSpec
from offers.protocol import mesos as mj
from offers.protocol.task_info import task_info
from offers.states import TaskState
from offers.task import TaskSpec
from persistence.metrics import MetricsStore

log = structlog.get_logger("berth.framework")
METERING_PAGE = 10_000  # rows per poll of the master's metering


def timestamp_ids() -> Callable[[str], str]:
    """`<id>-<nanosecond timestamp>`, strictly increasing, so an id is never reused, not
    even across restarts (the scheduler's id source in a live framework)."""
    last = 0

    def new_id(name: str) -> str:
        nonlocal last
        last = max(time.time_ns(), last + 1)
        return f"{name}-{last}"

    return new_id


class FrameworkService:
    """The scheduler core plus its adapters: store writer, master link, clock, metrics."""

    def __init__(self, scheduler: CharmanderScheduler, store: FrameworkStore,
                 master_url: str | None, *, name: str = "charmander",
                 tick_seconds: float = 1.0, usage_poll_seconds: float = 5.0,
                 clock: Callable[[], float] = time.time,
                 master_credential: str | None = None,
                 master_ssl: ssl.SSLContext | None = None,
                 metric_source: MetricSource | None = None,
                 metrics: MetricsStore | None = None,
                 images: ImageSettings | None = None) -> None:
        """`master_credential`: the `Authorization` value the master wants (a token as
        `Bearer ...`), sent on every call to it; `master_ssl`: whom to trust when the
        master speaks TLS (default: the system's CAs); `metrics`: where metered usage,
        node measurements and posted metrics are kept (none: not kept); `metric_source`:
        where the autoscaler reads metrics (default: that store; neither: nowhere, so it
        never changes a count); `images`: berth's registry, the upstream one and the base
        image templates are built on."""
        self.scheduler = scheduler
        self.master_headers = {"Authorization": master_credential} if master_credential \
            else {}
        self.master_ssl = master_ssl
        # Where credits are taken from budgets (set by the API layer, which owns access/):
        # spent by namespace -> the balances after.
        self.charge: Callable[[dict[str, float]], dict[str, float]] | None = None
        self._charging: set[asyncio.Task] = set()
        self.store = store
        self.master_url = master_url.rstrip("/") if master_url else None
        self.name = name
        self.tick_seconds = tick_seconds
        self.usage_poll_seconds = usage_poll_seconds
        self.clock = clock
        self.writer = StoreWriter(store)
        self.client: MesosSchedulerClient | None = None
        self.started_at = clock()
        self.offer_round_trips: list[float] = []  # recent, for /metrics
        self.launch_latencies: list[float] = []
        self.observers: list[Callable[[str, float], None]] = []  # (metric, seconds)
        self._outbox: asyncio.Queue[tuple[dict, float | None]] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []
        self._metering_after = 0
        self.metrics = MetricsFeed(metrics, clock) if metrics is not None else None
        self._usage_supported = True
        self.recent_offers: list[dict[str, Any]] = []
        self.events = EventHub()  # what `GET /v1/events` streams
        self.reasons = ReasonPacer()  # when a pending task's new reason goes out on it
        self.images = ImageService(self, images)
        self.jobs = JobOperations(self, self.images.book.refusals)
        self.jisto = JistoOperations(self, new_uuid=lambda: str(uuid.uuid4()))
        self.schedules = ScheduleRunner(self.jobs)
        self.autoscaler = Autoscaler(
            self.jobs, metric_source if metric_source is not None else self.metrics_store)
        self.generic = GenericRunner(self)  # ConPaaS's Generic service (code, scripts)
        self.agents_seen = AgentsSeen()  # for the replayable history (framework/history.py)
        self.farms = FarmRunner(self)  # ConPaaS's task farming

    @property
    def metrics_store(self) -> MetricsStore | None:
        """The metrics store (`aggregate(...)` is what the autoscaler reads), if kept.
        Blocking: call it from a worker thread."""
        return self.metrics.store if self.metrics is not None else None

    @property
    def ssl_option(self) -> ssl.SSLContext | bool:
        """aiohttp's `ssl=` for calls to the master."""
        return self.master_ssl if self.master_ssl is not None else True

    # -- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.store.migrate)
        framework_id = await loop.run_in_executor(None, self.store.framework_id)
        recovered = await loop.run_in_executor(None, self.store.recover)
        for params in await loop.run_in_executor(None, self.store.client_parameters):
            self.scheduler.handle(ev.ClientParametersChanged(params.namespace, params.client,
                                                             params.values))
        for event in recovered:
            self.scheduler.handle(event)
        self.jisto.load(await loop.run_in_executor(None, self.jisto.store.load))
        self.schedules.load(await loop.run_in_executor(None, self.store.schedules))
        self.autoscaler.load(await loop.run_in_executor(None, self.autoscaler.store.load))
        await self.images.load()
        await loop.run_in_executor(None, self.generic.load)
        self.generic.restore()
        await loop.run_in_executor(None, self.farms.load)
        self.writer.start()
        # What was just read needs no writing back, but what recovery decided does (a
        # stored spec that fails today's checks ends ERROR).
        self._queue_writes()
        self._tasks.append(asyncio.create_task(self._ticker()))
        if self.metrics is not None:
            self._tasks.append(asyncio.create_task(self.metrics.run()))
        if self.master_url:
            self.client = MesosSchedulerClient(self.master_url, self._on_mesos_event,
                                               name=self.name, framework_id=framework_id,
                                               headers=self.master_headers,
                                               ssl_context=self.master_ssl)
            self._tasks.append(asyncio.create_task(self.client.run()))
            self._tasks.append(asyncio.create_task(self._sender()))
            self._tasks.append(asyncio.create_task(self._usage_poller()))
        log.info("framework_started", master=self.master_url, framework_id=framework_id,
                 recovered=len(recovered))

    async def stop(self) -> None:
        await self.images.stop()
        if self.client is not None:
            await self.client.stop()  # no resubscribing while its task is cancelled
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.generic.stop()
        await self.writer.stop()
        await asyncio.get_running_loop().run_in_executor(None, self.store.close)
        if self.metrics is not None:
            await asyncio.to_thread(self.metrics.store.close)

    # -- what the REST API calls ----------------------------------------------------------

    async def submit(self, spec: TaskSpec, key: tuple[str, str] | None = None) -> str:
        """Persist, then queue. Returns the internal id once the task is on disk. `key`, a
        client's `(Idempotency-Key, request fingerprint)`, is written in the same
        transaction, so the task is never on disk without it."""
        task_id = self.scheduler.new_id(spec.id)
        now = self.clock()
        await self.writer.add(submission=(task_id, spec, now) if key is None else
                              (task_id, spec, now, IdempotencyKey(*key, task_id, now)))
        self.apply(ev.TaskSubmitted(task_id, spec))
        return task_id

    async def kill(self, prefix: str, namespaces: frozenset[str] | None = None) -> list[str]:
        """Kill every task instance whose id starts with `prefix` (in `namespaces`, when
        the caller is limited to some); the ids it matched.

        The kill is on disk before the core hears of it: StoreUnavailable means nothing
        was killed and nothing changed."""
        if namespaces is None:
            event = ev.KillRequested(prefix)
            await self.writer.add(killed_prefixes=[prefix])
        else:  # exactly what the caller may kill, in the store as in the core
            event = ev.KillRequested(prefix, self.scheduler.kill_targets(prefix, namespaces))
            await self.writer.add(killed_ids=sorted(event.ids))
        matched: tuple[str, ...] = ()
        for command in self.apply(event):
            if isinstance(command, cmd.KillMatched):
                matched = command.task_ids
        await self.settle()
        return list(matched)

    async def reshuffle(self) -> None:
        """Replace running copies by usage. No desired state changes, but the store must
        take a write first (a mark of when it was asked), so that a reshuffle is refused
        rather than carried out unrecorded while the store is down."""
        await self.writer.add(marks={"reshuffle_requested_at": repr(self.clock())})
        self.apply(ev.ReshuffleRequested())
        await self.settle()

    def observe_usage(self, task_id: str, cpus: float, mem: float) -> None:
        self.apply(ev.UsageObserved(task_id, cpus, mem))

    def instance_tags(self, task_id: str) -> dict[str, str]:
        """The metric tags of a task instance: itself, its job and namespace, and its node
        when placed (only `instance` for one the framework does not know)."""
        tags = {"instance": task_id}
        record = self.scheduler.task(task_id)
        if record is None:
            return tags
        job = self.scheduler.job(record.submission_id)
        tags["job"] = job.spec.name if job is not None and job.spec is not None \
            else record.spec.id
        tags["namespace"] = record.spec.namespace
        if record.hostname:
            tags["node"] = record.hostname
        return tags

    # -- the core ---------------------------------------------------------------------------

    def apply(self, event: ev.Event, offers_at: float | None = None) -> list[cmd.Command]:
        """Run one event through the core, send its calls, queue its writes."""
        before = {}
        if isinstance(event, ev.TaskStatusChanged):
            record = self.scheduler.task(event.task_id)
            before[event.task_id] = record.state if record else None
        commands = self.scheduler.handle(event)
        for command in commands:
            if isinstance(command, cmd.Launch):
                for task_id, spec in command.tasks:
                    log.info("task_launch", task_id=task_id, agent_id=command.agent_id,
                             offer_ids=",".join(command.offer_ids), mem=spec.mem,
                             cpus=spec.cpus)
            elif isinstance(command, cmd.Kill):
                record = self.scheduler.task(command.task_id)
                log.info("task_kill", task_id=command.task_id, agent_id=command.agent_id,
                         reason=record.reason if record else "unknown to the framework")
            elif isinstance(command, cmd.ChargeCredits) and self.charge is not None:
                task = asyncio.get_running_loop().create_task(self._charge(command.spent))
                self._charging.add(task)
                task.add_done_callback(self._charging.discard)
            call = self._call_for(command)
            if call is not None:
                self._outbox.put_nowait((call, offers_at))
        self._queue_writes()
        if isinstance(event, ev.TaskStatusChanged) and event.state is TaskState.RUNNING:
            record = self.scheduler.task(event.task_id)
            if (record is not None and before.get(event.task_id) is not TaskState.RUNNING
                    and record.launched_at is not None and record.running_at is not None):
                self._observe("launch_latency", record.running_at - record.launched_at)
        return commands

    async def _charge(self, spent: tuple[tuple[str, float], ...]) -> None:
        """Take the credits from the budgets (`charge`, on a worker thread) and tell the
        core the balances that result."""
        try:
            balances = await asyncio.to_thread(self.charge, dict(spent))
        except Exception as exc:  # the database is away: charged at the next meter
            log.warning("credits_not_charged", error=str(exc), spent=dict(spent))
            return
        self.apply(ev.BalancesChanged(balances))

    def _queue_writes(self) -> None:
        changed = self.scheduler.changed_records()
        # A first instance still PENDING is rebuilt from its submission row on recovery.
        records = [r for r in changed
                   if r.state is not TaskState.PENDING or r.task_id != r.submission_id]
        unwanted = self.scheduler.changed_unwanted()
        jobs = self.scheduler.changed_jobs()
        self._publish(changed, self.scheduler.changed_reasons(), jobs)
        states = [job_state(job) for job in jobs if not job.charmander]
        if records or unwanted or states:
            self.writer.add(records=records, unwanted=unwanted, job_states=states)
        if jobs:
            self.jobs.changed(jobs)

    def _publish(self, records: list, reasons: list, jobs: list) -> None:
        """Tell the event stream's readers (never waits: a slow one is dropped): changed
        records, then pending ones whose reason changed, as they are now (the newest)."""
        published = {r.task_id: r for r in records}
        for record in records:
            self._publish_task(record)
        self.reasons.settled(records)
        for record in self.reasons.due(
                [r for r in reasons if published.get(r.task_id) is not r], self.clock()):
            self._publish_task(record)
        for summary in job_changes(self.scheduler, jobs):
            self.events.publish("job", summary, summary["namespace"])

    def _publish_task(self, record: TaskRecord) -> None:
        self.events.publish("task", task_change(record), record.spec.namespace)

    async def shutting_down(self) -> None:
        """berth is stopping, not the user killing: what ends from now on is recorded as
        stopped by the shutdown and runs again on the next start."""
        self.apply(ev.ShutdownStarted())
        await self._flush()

    async def _flush(self) -> None:
        await self.writer.add()

    async def settle(self) -> None:
        """Wait for what a request changed to be written. Once its intent is on disk the
        request has happened: records the store cannot take yet are kept and retried."""
        try:
            await self._flush()
        except StoreUnavailable as exc:
            log.warning("records_write_deferred", reason=exc.reason)

    def _call_for(self, command: cmd.Command) -> dict | None:
        framework_id = self.client.framework_id if self.client else None
        if framework_id is None:
            return None  # no master yet: offers and kills are re-derived on subscribe
        if isinstance(command, cmd.Launch):
            infos = [task_info(LaunchSpec.from_task(task_id, framework_id, spec),
                                  command.agent_id) for task_id, spec in command.tasks]
            return mj.accept_call(framework_id, command.offer_ids, infos)
        if isinstance(command, cmd.Decline):
            return mj.decline_call(framework_id, command.offer_ids, command.refuse_seconds)
        if isinstance(command, cmd.Kill):
            return mj.kill_call(framework_id, command.task_id, command.agent_id)
        if isinstance(command, cmd.Revive):
            return mj.revive_call(framework_id)
        if isinstance(command, cmd.Suppress):
            return mj.suppress_call(framework_id)
        if isinstance(command, cmd.Reconcile):
            return mj.reconcile_call(framework_id, command.tasks)
        return None

    async def _sender(self) -> None:
        """Send calls one at a time, in the order the core asked for them."""
        while True:
            call, offers_at = await self._outbox.get()
            try:
                await self.client.call(call)
            except NotSubscribed as exc:
                log.info("call_dropped", reason=str(exc))
            except (TimeoutError, aiohttp.ClientError) as exc:
                log.warning("call_failed", call=call.get("type"), error=str(exc))
            if offers_at is not None and call["type"] in ("ACCEPT", "DECLINE"):
                self._observe("offer_round_trip", self.clock() - offers_at)

    def _observe(self, metric: str, seconds: float) -> None:
        series = (self.offer_round_trips if metric == "offer_round_trip"
                  else self.launch_latencies)
        series.append(seconds)
        del series[:-1000]
        for observer in self.observers:
            observer(metric, seconds)

    # -- Mesos events -----------------------------------------------------------------------

    async def _on_mesos_event(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "SUBSCRIBED":
            framework_id = event["subscribed"]["framework_id"]["value"]
            await self.writer.add(framework_id=framework_id)
            log.info("subscribed", framework_id=framework_id)
            self.apply(ev.Subscribed(framework_id))
        elif kind == "OFFERS":
            received = self.clock()
            offers = []
            for data in event["offers"].get("offers", []):
                try:
                    offers.append(mj.offer_from_mesos(data))
                except Exception as exc:  # one odd offer must not stop the others
                    log.warning("offer_unreadable", error=str(exc))
            known = set(self.scheduler.agents())
            self._remember_offers(offers)
            self.apply(ev.OffersReceived(tuple(offers)), offers_at=received)
            for offer in offers:
                self.events.publish("offer", {
                    "id": offer.id, "agent_id": offer.agent_id, "hostname": offer.hostname,
                    "cpus": offer.cpus, "mem": offer.mem, "disk": offer.disk,
                    "received_at": received, "new_agent": offer.agent_id not in known})
        elif kind == "RESCIND":
            self.apply(ev.OfferRescinded(event["rescind"]["offer_id"]["value"]))
        elif kind == "UPDATE":
            status = event["update"]["status"]
            view = mj.status_from_mesos(status)
            reason = view.message or view.reason
            if view.reason == mj.REASON_HEALTH_UPDATED and view.message:
                reason = f"health check: {view.message}"
            elif view.message and view.reason and view.reason not in view.message:
                reason = f"{view.message} ({view.reason})"
            self.apply(ev.TaskStatusChanged(view.task_id, view.state, reason, view.agent_id,
                                            container_id=view.container_id, code=view.reason,
                                            exit_code=view.exit_code, healthy=view.healthy))
            if view.uuid and self.client and self.client.framework_id:
                ack = mj.acknowledge_call(self.client.framework_id, status)
                done = self.writer.add()  # acknowledge only what is on disk
                asyncio.get_running_loop().create_task(self._ack_after(done, ack))
        elif kind == "FAILURE":
            failure = event.get("failure", {})
            if "agent_id" in failure and "executor_id" not in failure:
                agent_id = failure["agent_id"]["value"]
                self.writer.add(agent_losses=[AgentLoss(
                    agent_id, self.agents_seen.lost(agent_id), self.clock())])
                self.apply(ev.AgentLost(agent_id))
        elif kind == "ERROR":
            log.error("master_error", message=event.get("error", {}).get("message"))

    async def _ack_after(self, done: asyncio.Future, ack: dict) -> None:
        with contextlib.suppress(Exception):
            await done
            self._outbox.put_nowait((ack, None))

    def _remember_offers(self, offers: list) -> None:
        now = self.clock()
        for offer in offers:
            self.recent_offers.append({
                "id": offer.id, "agent_id": offer.agent_id, "hostname": offer.hostname,
                "cpus": offer.cpus, "mem": offer.mem, "disk": offer.disk,
                "ports": [list(r) for r in offer.ports], "attributes": dict(offer.attributes),
                "received_at": now})
        del self.recent_offers[:-200]
        grown = self.agents_seen.offered(offers, now)
        if grown:
            self.writer.add(agents_seen=grown)

    # -- timers -----------------------------------------------------------------------------

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            await self.tick()

    async def tick(self) -> None:
        """One beat of the clock: the core's time-outs, the schedules' firings, then the
        autoscaler's decisions."""
        self.apply(ev.Tick())
        for record in self.reasons.flush(self.clock()):
            self._publish_task(record)
        await self.schedules.tick()
        await self.autoscaler.tick()
        await self.generic.tick()

    def scheduled(self, name: str):
        """The scheduled job of that name (a template), or None."""
        return self.schedules.get(name)

    async def _usage_poller(self) -> None:
        """Metered usage and node measurements from the master's
        `GET /v1/metering?after=ID` (when it has one): to the core (usage peaks) and to
        the metrics store."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10),
                                         headers=self.master_headers,
                                         connector=aiohttp.TCPConnector(ssl=self.ssl_option)
                                         ) as session:
            behind = False  # the last page was full: more is waiting (after a restart)
            while self._usage_supported:
                if not behind:
                    await asyncio.sleep(self.usage_poll_seconds)
                behind = False
                try:
                    async with session.get(f"{self.master_url}/v1/metering",
                                           params={"after": str(self._metering_after),
                                                   "limit": str(METERING_PAGE)}
                                           ) as resp:
                        if resp.status == 404:
                            log.info("master_has_no_metering_endpoint")
                            self._usage_supported = False
                            continue
                        if resp.status != 200:
                            continue
                        data = await resp.json()
                except (TimeoutError, aiohttp.ClientError, ValueError):
                    continue
                for sample in data.get("samples", []):
                    with contextlib.suppress(KeyError, TypeError, ValueError):
                        self.observe_usage(str(sample["task_id"]), float(sample["cpus"]),
                                           float(sample["mem"]))
                if self.metrics is not None:
                    samples = metering_samples(data, self.instance_tags)
                    try:
                        await self.metrics.record(samples)
                    except Exception as exc:  # the database is away: ask again next time
                        log.warning("metrics_not_recorded", error=str(exc))
                        continue
                    points = node_points(samples)
                    if points:
                        self.events.publish("metrics", {"points": points})
                with contextlib.suppress(TypeError, ValueError):
                    self._metering_after = max(self._metering_after, int(data.get("last", 0)))
                behind = len(data.get("samples", [])) + len(data.get("node") or []) \
                    >= METERING_PAGE
