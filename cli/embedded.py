"""`berth up`: master, framework and one local agent in one asyncio loop, one database.

Stopping it stops the agent's containers first (as `docker compose up` does on Ctrl-C),
while master and framework still run so every task's end is recorded, as stopped by the
shutdown, not killed: the next start runs them again. With `keep_tasks` the containers
keep running and the next start adopts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import ssl
import time
from dataclasses import dataclass, replace

import structlog

from api.agent_node import AgentService, start_agent
from api.framework_server import RunningFramework, start_framework
from api.master_app import RunningMaster, start_master
from api.registry_address import local_address
from api.serving import ServerLimits
from api.tls import pinned_context
from executor.agent import AgentConfig
from executor.container_spec import ContainerPolicy
from master import events as master_events
from master.registry_server import RegistryServer
from offers.quota import CreditUnit
from offers.states import TaskState
from persistence.metrics import Retention

log = structlog.get_logger("berth.up")


@dataclass
class Embedded:
    master: RunningMaster
    framework: RunningFramework
    agent: AgentService
    registry: RegistryServer | None = None

    async def stop(self, keep_tasks: bool = False, grace_seconds: float = 10.0) -> None:
        # First, so that no container stopped below counts as killed and nothing is
        # relaunched on the agent being stopped.
        await self.framework.service.shutting_down()
        if not keep_tasks:
            await self._stop_containers(grace_seconds)
        await self.framework.stop()
        try:
            async with asyncio.timeout(3.0):
                await self.agent.stop()
        except TimeoutError:
            # The agent's send loop can miss its stop signal (a cancellation that races
            # with its wake-up); cancelling its run task ends it for sure.
            log.warning("agent_stop_forced", after_seconds=3.0)
            await self.agent.runner.cleanup()
        await self.master.stop()
        if self.registry is not None:
            await self.registry.stop()

    async def _stop_containers(self, grace_seconds: float) -> None:
        backend = self.agent.agent.backend
        running = [entry["task_id"] for entry in backend.running()]
        if not running:
            return
        log.info("stopping_containers", count=len(running))
        results = await asyncio.gather(*(backend.kill(task_id, grace_seconds)
                                         for task_id in running), return_exceptions=True)
        for task_id, result in zip(running, results, strict=True):
            if isinstance(result, Exception):
                log.warning("container_stop_failed", task_id=task_id, error=str(result))
        # Let the KILLED updates reach the framework's store before it stops.
        scheduler = self.framework.service.scheduler
        deadline = time.monotonic() + grace_seconds + 5
        while time.monotonic() < deadline:
            live = [t for t in running if (r := scheduler.task(t)) is not None
                    and r.state in (TaskState.RUNNING, TaskState.KILLING, TaskState.STARTING)]
            if not live:
                break
            await asyncio.sleep(0.1)


async def start_embedded(agent_config: AgentConfig, *, db_url: str, host: str = "127.0.0.1",
                         master_host: str = "127.0.0.1", insecure: bool = False,
                         tls: ssl.SSLContext | None = None, tls_cert: str | None = None,
                         credit_unit: CreditUnit | None = None,
                         master_port: int = 5050, framework_port: int = 7075,
                         agent_port: int = 5051, strategy: str = "binpack",
                         allowed_volumes: tuple[str, ...] = (),
                         allow_privileged: bool = False,
                         container_policy: ContainerPolicy | None = None,
                         limits: ServerLimits | None = None,
                         juliarun_config: str | None = None,
                         metrics_retention: Retention | None = None,
                         registry: RegistryServer | None = None,
                         history_retention: float | None = None) -> Embedded:
    """`host` is where the framework's REST API listens; the master listens on
    `master_host` and the agent's own small server on loopback (the roles talk in this
    process). `limits` apply to each of the three listeners on its own (api/serving.py).
    `registry`, when given, is started first and stopped last; the master tells agents its
    address and the framework pushes built images to it."""
    if registry is not None:
        await registry.start()
    # The roles in this process authenticate to its master with a secret made now.
    credential = f"Bearer {secrets.token_urlsafe(32)}"
    # With TLS, they trust exactly the process's own certificate (`tls_cert`).
    pinned = pinned_context(tls_cert) if tls is not None and tls_cert else None
    framework = agent = master = None
    try:
        master = await start_master(master_host, master_port, db_url=db_url, limits=limits,
                                    insecure=insecure, internal_credential=credential[7:],
                                    tls=tls, registry=registry and registry.address)
        framework = await start_framework(master.url, host, framework_port, db_url=db_url,
                                          strategy=strategy, limits=limits, insecure=insecure,
                                          master_credential=credential, master_ssl=pinned,
                                          tls=tls, credit_unit=credit_unit,
                                          juliarun_config=juliarun_config,
                                          metrics_retention=metrics_retention,
                                          history_retention=history_retention,
                                          registry=registry and local_address(registry.address))
        # The local agent reaches the registry as this host does.
        here = agent_config.registry or (registry and local_address(registry.address))
        agent = await start_agent(replace(agent_config, master=master.url,
                                          master_credential=credential, master_ssl=pinned,
                                          registry=here),
                                  host="127.0.0.1", tls=tls,
                                  port=agent_port, allowed_volumes=allowed_volumes,
                                  allow_privileged=allow_privileged,
                                  container_policy=container_policy, limits=limits)
    except BaseException:
        if framework is not None:
            with contextlib.suppress(Exception):
                await framework.stop()
        if master is not None:
            with contextlib.suppress(Exception):
                await master.stop()
        if registry is not None:
            with contextlib.suppress(Exception):
                await registry.stop()
        raise
    forward_metering(master, framework)
    return Embedded(master, framework, agent, registry)


def forward_metering(master: RunningMaster, framework: RunningFramework) -> None:
    """Hand the agents' metering samples, as the master receives them, to the framework.

    In one process this is a direct hand-over; a framework run apart polls the master's
    `GET /v1/metering?since=T` instead (see framework/driver.py, `_usage_poller`).
    """
    service = master.service
    submit = service.submit
    observe = framework.service.observe_usage

    async def submit_and_forward(event: object) -> list[object]:
        if isinstance(event, master_events.AgentMetering):
            for sample in event.samples:
                observe(sample.task_id, sample.cpus, sample.mem)
        return await submit(event)

    service.submit = submit_and_forward
