"""The framework serving its REST API on an existing asyncio loop (`berth framework`,
`berth up`): the driver (framework/driver.py) started, then the Charmander app served."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from access.store import AccessSnapshot, AccessStore
from api.audit import AuditTrail
from api.auth import AccessGate, ExposureRefused, check_exposure
from api.charmander_app import build_charmander_app
from api.events_app import add_event_routes
from api.juliarun_app import ADMIN_PREFIXES, WRITE_PREFIXES
from api.namespaces_app import add_namespace_routes
from api.serving import ServerLimits, local_url, serve_app
from api.ui_app import add_ui_routes
from framework import events as ev
from framework.autoscaling import MetricSource
from framework.driver import FrameworkService, timestamp_ids
from framework.process.image_builder import DOCKER_HUB, ImageSettings
from framework.process.juliarun_settings import JuliaRunSettings
from framework.scheduler import CharmanderScheduler
from framework.store import FrameworkStore
from offers.image_template import DEFAULT_BASE, MAX_TEMPLATE
from persistence.metrics import MetricsStore, Retention

log = structlog.get_logger("berth.framework")
UI_PREFIXES = ("/ui/", "/ui")  # the web UI's static files (api/ui_app.py): open


@dataclass
class RunningFramework:
    """A framework serving on a loop: `url` to reach its REST API, `stop()` to end it."""

    service: FrameworkService
    runner: web.AppRunner
    host: str
    port: int
    access: AccessGate
    trail: AuditTrail
    tls: bool = False
    juliarun: JuliaRunSettings | None = None  # JuliaRun's configuration (`reload()`)
    registry: str | None = None  # berth's registry (`host:port`) for built images

    @property
    def url(self) -> str:
        return local_url(self.host, self.port, self.tls)

    @property
    def ui_url(self) -> str:
        return f"{self.url}/ui/"

    async def stop(self) -> None:
        await self.runner.cleanup()
        await self.trail.stop()
        await self.access.stop()
        await self.service.stop()
        if self.juliarun is not None:
            self.juliarun.close()


async def start_framework(master_url: str | None, host: str = "127.0.0.1", port: int = 7075,
                          *, db_url: str, strategy: str = "binpack", seed: int = 0,
                          tick_seconds: float = 1.0, usage_poll_seconds: float = 5.0,
                          clock: Callable[[], float] = time.time,
                          limits: ServerLimits | None = None, insecure: bool = False,
                          master_credential: str | None = None,
                          master_ssl: ssl.SSLContext | None = None,
                          tls: ssl.SSLContext | None = None,
                          juliarun_config: str | Path | None = None,
                          metric_source: MetricSource | None = None,
                          metrics_retention: Retention | None = None,
                          history_retention: float | None = None,
                          registry: str | None = None,
                          upstream_registry: str = DOCKER_HUB,
                          image_base: str = DEFAULT_BASE,
                          max_image_template: int = MAX_TEMPLATE,
                          **core_options: Any) -> RunningFramework:
    """Open the store (migrating it), recover the core from it, subscribe, serve the REST
    API. Port 0 picks a free port. A non-loopback `host` needs users configured in the
    database (`berth user add`) or `insecure` (api.auth.check_exposure).
    `juliarun_config`: JuliaRun's configuration file (SpecError if it does not load).
    `metric_source`: where the autoscaler reads metrics (None: it changes no count).
    `registry`: berth's registry (host:port) as this host reaches it, where built images
    are pushed (None: they stay in this host's engine); `upstream_registry`: where
    `pullImage` pulls from; `image_base`: the image templates are built on;
    `max_image_template`: bytes of an uploaded image template (tar.gz).
    `history_retention`: seconds the replayable history is kept (default 30 days)."""
    juliarun = JuliaRunSettings(juliarun_config)
    access = AccessGate(await asyncio.to_thread(AccessStore, db_url), clock,
                        admin_prefixes=("/v1/audit", *ADMIN_PREFIXES),
                        write_prefixes=WRITE_PREFIXES, open_prefixes=UI_PREFIXES)
    try:
        check_exposure("framework", host, authenticated=access.enabled, insecure=insecure,
                       needs="add a user first (berth user add NAME --admin)")
    except ExposureRefused:
        await access.stop()
        raise
    store = FrameworkStore(db_url) if history_retention is None else \
        FrameworkStore(db_url, history_retention)
    metrics = await asyncio.to_thread(MetricsStore, db_url, None, metrics_retention)
    scheduler = CharmanderScheduler(strategy=strategy, seed=seed, clock=clock,
                                    ids=timestamp_ids(), **core_options)
    service = FrameworkService(scheduler, store, master_url, tick_seconds=tick_seconds,
                               usage_poll_seconds=usage_poll_seconds, clock=clock,
                               master_credential=master_credential, master_ssl=master_ssl,
                               metric_source=metric_source, metrics=metrics,
                               images=ImageSettings(registry, upstream_registry, image_base,
                                                    max_image_template))
    await service.start()
    follow_namespaces(service, access)
    trail = AuditTrail(access.store.engine, "framework", clock=clock,
                       write_prefixes=WRITE_PREFIXES)
    app = build_charmander_app(service, access.gate, trail, juliarun)
    add_namespace_routes(app, service, access.store, access.on_reload)
    add_event_routes(app, service)
    add_ui_routes(app)
    runner, bound = await serve_app(app, host, port, limits=limits, ssl_context=tls)
    await access.start()
    await trail.start()
    log.info("framework_api_started", host=host, port=bound, strategy=strategy,
             authentication="required" if access.enabled else "none (local callers trusted)")
    return RunningFramework(service, runner, host, bound, access, trail, tls is not None,
                            juliarun, registry)


def follow_namespaces(service: FrameworkService, access: AccessGate) -> None:
    """The framework's quotas and credit balances follow the access store: told now and at
    every change; the credits running work spends are taken from it."""

    def told(snapshot: AccessSnapshot) -> None:
        spaces = snapshot.namespaces.values()
        service.apply(ev.QuotasChanged({ns.name: ns.quota for ns in spaces}))
        service.apply(ev.BalancesChanged({ns.name: ns.credits for ns in spaces
                                          if ns.credits is not None}))

    told(access.authenticator.snapshot)
    access.on_reload.append(told)
    service.charge = access.store.charge
