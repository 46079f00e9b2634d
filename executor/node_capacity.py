"""What the agent knows of its node's capacity, and elasticity's period: measure the node
(total, the incumbent's share, berth's own use), work out what is spare and revocable, and
once a period decide every secondary task's limits and carry them out.

A mixin of executor/agent.py's Agent, kept apart so the agent's link to the master reads
in one sitting; it uses the agent's `config`, `backend`, `sampler` and `_wake`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from executor.capacity import (
    ZERO,
    Amounts,
    Capacity,
    NodeSample,
    Smoother,
    agent_total,
    incumbent_share,
    spare_capacity,
)
from executor.tasks import UsageSample
from offers.elasticity import Decision, IncumbentTracker, Tenant, decide, secondary_budget
from offers.resources import free_ports


class NodeCapacity:
    """The node's capacity and the elasticity of berth's tasks on it."""

    # the agent's (executor/agent.py: AgentConfig, Backend, Sampler)
    config: Any
    backend: Any
    sampler: Any
    _wake: asyncio.Event
    _spawn: Callable[..., asyncio.Task]
    _usage: dict[str, UsageSample]
    _fresh: dict[str, UsageSample]
    _smoother: Smoother
    _tracker: IncumbentTracker
    _incumbent: Amounts
    _fast_incumbent: Amounts
    _ship_now: bool
    decision: Decision | None
    _tenants: list[Tenant]
    _sample: NodeSample | None
    capacity: Capacity | None
    _sent_capacity: Capacity | None
    _capacity_dirty: bool

    # -- capacity ----------------------------------------------------------------------

    def _measure(self) -> None:
        sample = self.sampler.sample()
        self._sample = sample
        total = agent_total(sample.machine, self.config.limits)
        if self.config.measure_incumbent:
            berth_used = self._berth_used()
            raw = incumbent_share(sample, berth_used, total)
            self._incumbent = self._smoother.update(raw)
            self._fast_incumbent = self._tracker.update(raw)
        self._recompute(total)

    def _berth_used(self) -> Amounts:
        return Amounts(sum(u.cpus for u in self._usage.values()),
                       sum(u.mem for u in self._usage.values()), 0.0)

    def _recompute(self, total: Amounts | None = None) -> None:
        if total is None:
            if self.capacity is None:
                return
            total = self.capacity.total
        # Disk: berth's containers write little outside their volumes, so whatever the
        # disk holds counts as the incumbent's.
        incumbent = self._incumbent
        ports = self.config.limits.ports
        spare = spare_capacity(total, incumbent, self.backend.allocated(),
                               self.config.headroom)
        revocable = ZERO
        if self.decision is not None and self.config.measure_incumbent:
            revocable = self.decision.taken_back(t for t in self._tenants if t.elastic)
        self.capacity = Capacity(total=total, spare=spare, ports=ports,
                                 spare_ports=free_ports(ports, self.backend.used_ports()),
                                 incumbent=incumbent, revocable=revocable)
        if self.config.threshold.changed(self._sent_capacity, self.capacity):
            self._capacity_dirty = True
            self._wake.set()

    def _capacity_fields(self) -> dict[str, Any]:
        if self.capacity is None:
            self._measure()
        assert self.capacity is not None
        return {"total": self.capacity.total_json(), "spare": self.capacity.spare_json(),
                "revocable": self.capacity.revocable.as_dict(),
                "elastic": self.elastic_view()}

    def elastic_view(self) -> dict[str, Any]:
        """Incumbent, what berth's containers use, what they may use now and what was
        taken back from their requests (CAPACITY's `elastic`, the master's /v1/agents)."""
        requested = getattr(self.backend, "requested", self.backend.allocated)()
        allocated = self.backend.allocated()
        taken = (requested - allocated).clamp(ZERO, requested)
        return {"incumbent": self._incumbent.as_dict(),
                "secondary_used": self._berth_used().as_dict(),
                "secondary_allocated": allocated.as_dict(),
                "taken_back": Amounts(taken.cpus, taken.mem, 0.0).as_dict(),
                "grade": self.decision.grade.name.lower() if self.decision else "none"}

    # -- elasticity --------------------------------------------------------------------

    @property
    def elastic(self) -> bool:
        return self.config.measure_incumbent

    async def _meter_now(self) -> None:
        """Measure berth's containers in the same period as the node, so the incumbent
        (node use - berth's use) is not skewed by a stale sample of a resized container."""
        samples = await self.backend.meter()
        live = {t["task_id"] for t in self.backend.views()}
        for task_id in [t for t in self._usage if t not in live]:
            del self._usage[task_id]
        for sample in samples:
            self._usage[sample.task_id] = sample
            self._fresh[sample.task_id] = sample

    async def _rebalance(self) -> None:
        """One period of elasticity: decide every task's limits, carry them out."""
        if self.capacity is None:
            return
        budget = secondary_budget(self.capacity.total, self._fast_incumbent,
                                  self.config.headroom)
        tenants = self.backend.tenants(self._usage)
        decision = decide(budget, tenants, self.config.elasticity)
        self.decision, self._tenants = decision, tenants
        resized = 0
        for tenant in tenants:
            new = decision.limits.get(tenant.task_id)
            if new is None or not tenant.elastic:
                continue
            if self.config.resize_step.changed(tenant.current, new, tenant.requested) \
                    and await self.backend.resize(tenant.task_id, new):
                resized += 1
                sample = self._usage.get(tenant.task_id)
                if sample is not None:  # the next METERING carries the new limits
                    self._fresh[tenant.task_id] = replace(sample, limits=new)
        for preemption in decision.preempted:
            self._spawn(self.backend.preempt(preemption.task_id, preemption.reason),
                        f"preempt-{preemption.task_id}")
        if resized:
            self._ship_now = True  # the master hears of the new limits at once
        self._recompute()
