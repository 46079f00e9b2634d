"""Prometheus metrics for the master: gauges read from the core at scrape time, counters
of events and commands as they pass through the service."""

from __future__ import annotations

from collections import Counter

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from master.core import Master


class MasterCollector:
    def __init__(self, core: Master):
        self.core = core
        self.events: Counter[str] = Counter()
        self.commands: Counter[str] = Counter()

    def count(self, event: object, commands: list[object]) -> None:
        self.events[type(event).__name__] += 1
        for cmd in commands:
            self.commands[type(cmd).__name__] += 1

    def collect(self):
        core = self.core
        agents = GaugeMetricFamily("berth_master_agents", "Agents by state", labels=["state"])
        lost = sum(1 for a in core.agents.values() if a.lost)
        agents.add_metric(["active"], len(core.agents) - lost)
        agents.add_metric(["lost"], lost)
        yield agents
        frameworks = GaugeMetricFamily("berth_master_frameworks", "Frameworks by state",
                                       labels=["state"])
        by_state = Counter("removed" if f.removed else "active" if f.active else "inactive"
                           for f in core.frameworks.values())
        for state in ("active", "inactive", "removed"):
            frameworks.add_metric([state], by_state[state])
        yield frameworks
        tasks = GaugeMetricFamily("berth_master_tasks", "Tasks by state", labels=["state"])
        for state, n in sorted(Counter(t.state.value for t in core.all_tasks()).items()):
            tasks.add_metric([state], n)
        yield tasks
        yield GaugeMetricFamily("berth_master_outstanding_offers", "Offers not yet answered",
                                value=len(core.offers))
        yield GaugeMetricFamily("berth_master_unacknowledged_updates",
                                "Status updates awaiting ACKNOWLEDGE",
                                value=len(core.pending_acks()))
        res = GaugeMetricFamily("berth_master_resources", "Cluster resources (live agents)",
                                labels=["kind", "resource"])
        live = core.live_agents()
        for resource in ("cpus", "mem", "disk"):
            res.add_metric(["total", resource], sum(getattr(a.total, resource) for a in live))
            res.add_metric(["spare", resource], sum(getattr(a.spare, resource) for a in live))
            res.add_metric(["used", resource],
                           sum(getattr(core.used(a.id), resource) for a in live))
        yield res
        events = CounterMetricFamily("berth_master_events", "Events handled by the core",
                                     labels=["type"])
        for name, n in sorted(self.events.items()):
            events.add_metric([name], n)
        yield events
        commands = CounterMetricFamily("berth_master_commands", "Commands the core emitted",
                                       labels=["type"])
        for name, n in sorted(self.commands.items()):
            commands.add_metric([name], n)
        yield commands


def metrics_handler(collector: MasterCollector):
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    return metrics
