"""Allocation: which framework is offered a changed agent next, and what is left to offer.

Dominant resource fairness over cpus/mem/disk (`master.sorter.pick_next`), one agent at a
time, only for agents that changed since the last `Allocate` (`_dirty`). What each
framework holds and the cluster total are kept up to date as offers and tasks come and
go rather than recounted, so an allocation costs O(changed agents), not O(cluster).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from master import commands as C
from master import events as E
from master.offer_book import Refusal
from master.records import AgentRecord, OfferRecord, TaskRecord, new_offer
from master.sorter import pick_next
from offers.resource_vector import Resources, ports_intersect, ports_minus, ports_of
from offers.states import TERMINAL

# Mesos only offers an agent when at least this much is free (min_allocatable_resources).
MIN_OFFER_CPUS = 0.01
MIN_OFFER_MEM = 32.0
NO_REVOCABLE = Resources()


class Allocation:
    """The allocator and the resource views it and the API read; a mixin of
    `master.core.Master`.

    State: writes `offers`, `_offers_on`, `_held`, `_cluster`, `_dirty` (emptied), and
    the per-agent caches `_unallocated`, `_task_use`, `_free_ports` and the indexes
    `_uncounted_on`, `_ends` and `_ended_on` (through `_use_changed`), and `limits` (through
    `_limits_changed`);
    reads `agents`,
    `frameworks`, `tasks`, `_tasks_on`, `_refuse_until`.
    """

    @property
    def wants_allocation(self) -> bool:
        """Something changed that an `Allocate` might turn into offers."""
        return bool(self._dirty or self._declined) and any(
            fw.active and not fw.suppressed and not fw.removed for fw in self.frameworks.values())

    def used(self, agent_id: str) -> Resources:
        """Resources of the tasks the master believes are on the agent and not finished."""
        total = Resources()
        for tid in self._tasks_on.get(agent_id, ()):
            total = total + self.tasks[tid].resources
        return total

    def offerable(self, agent_id: str) -> Resources:
        """What may still be offered on an agent: `unallocated` less what is out in offers."""
        avail = self.unallocated(agent_id)
        for oid in self._offers_on.get(agent_id, ()):
            avail = avail - self.offers[oid].resources
        return avail

    def unallocated(self, agent_id: str) -> Resources:
        """An agent's spare, less what the master knows the agent has not counted yet,
        capped by total - used, less the host ports of its live tasks."""
        return self._sized(agent_id)[1]

    def _sized(self, agent_id: str) -> Sized:
        """The agent's `unallocated` with what the allocator reads beside it.

        Remembered per agent until its tasks' use changes (`_use_changed`, which keeps
        that use as running sums, or `_forget_unallocated`) or its record is replaced
        (it reported another spare or total): an allocation after a REVIVE considers
        every agent, and most have not changed since the last one."""
        agent = self.agents[agent_id]
        known = self._unallocated.get(agent_id)
        if known is not None and known[0] is agent:
            return known
        spare, total = agent.spare, agent.total
        use = self._task_use.get(agent_id)
        if use is None:
            use = self._task_use[agent_id] = self._count_use(agent_id)
        used, uncounted, task_ports = use
        free = self._free_ports.get(agent_id)
        if free is not None and free[0] is spare.ports and free[1] is total.ports \
                and free[2] is task_ports:
            ports = free[3]  # only the scalars moved (an agent's usual report, a launch)
        else:
            ports = ports_minus(ports_intersect(spare.ports, total.ports), task_ports)
            self._free_ports[agent_id] = (spare.ports, total.ports, task_ports, ports)
        avail = Resources(_least_of(spare.cpus - uncounted[0], total.cpus - used[0]),
                          _least_of(spare.mem - uncounted[1], total.mem - used[1]),
                          _least_of(spare.disk - uncounted[2], total.disk - used[2]),
                          ports)
        sized = self._unallocated[agent_id] = Sized(
            agent, avail, not agent.lost and not _too_small(avail), agent.hostname,
            agent.attributes)
        return sized

    def _count_use(self, agent_id: str) -> tuple[list[float], list[float], list]:
        """What the agent's live tasks use (cpus and mem as their current limits where the
        agent lowered them: elasticity), what of it the agent has not counted yet, and
        their host ports: remembered until its tasks or their limits change."""
        used = [0.0, 0.0, 0.0]
        uncounted = [0.0, 0.0, 0.0]
        task_ports: list[tuple[int, int]] = []
        tasks, limits = self.tasks, self.limits
        for tid in self._tasks_on.get(agent_id, ()):
            task = tasks[tid]
            r = task.resources
            now_limits = limits.get(tid)
            used[0] += r.cpus if now_limits is None else now_limits[0]
            used[1] += r.mem if now_limits is None else now_limits[1]
            used[2] += r.disk
            if r.ports:
                task_ports.extend(r.ports)
            if task.spec.ports:
                task_ports.extend(ports_of(m.host_port for m in task.spec.ports))
            if not task.counted_by_agent:
                uncounted[0] += r.cpus
                uncounted[1] += r.mem
                uncounted[2] += r.disk
        return used, uncounted, task_ports

    def _use_changed(self, old: TaskRecord | None, new: TaskRecord) -> None:
        """A task's record went from `old` (None: it is new) to `new`. Its agent's
        remembered use follows by adding and taking away rather than by a recount of the
        agent's tasks, unless host ports change (they are recounted) or the agent has no
        live task left (it starts again from exact zeros, not float dust)."""
        was_on = old is not None and old.state not in TERMINAL
        now_on = new.state not in TERMINAL
        was_new = was_on and not old.counted_by_agent
        now_new = now_on and not new.counted_by_agent
        if was_on == now_on and was_new == now_new:
            return  # the agent's use is what it was (most updates: a state, an id)
        agent_id, r = new.agent_id, new.resources
        if was_on and not now_on:  # its resources came back: a refuse filter there lifts
            self._ends += 1
            self._ended_on[agent_id] = self._ends
        if was_new != now_new:
            uncounted_on = self._uncounted_on.get(agent_id)
            if now_new:
                if uncounted_on is None:
                    uncounted_on = self._uncounted_on[agent_id] = set()
                uncounted_on.add(new.id)
            elif uncounted_on is not None:
                uncounted_on.discard(new.id)
        self._unallocated.pop(agent_id, None)
        use = self._task_use.get(agent_id)
        if use is None:
            return
        if new.id in self.limits:  # counted at its current limits: counted again
            del self._task_use[agent_id]
            return
        if (was_on != now_on and (r.ports or new.spec.ports)) \
                or not self._tasks_on.get(agent_id):
            del self._task_use[agent_id]
            return
        used, uncounted, _ports = use
        if was_on != now_on:
            sign = 1.0 if now_on else -1.0
            used[0] += sign * r.cpus
            used[1] += sign * r.mem
            used[2] += sign * r.disk
        if was_new != now_new:
            sign = 1.0 if now_new else -1.0
            uncounted[0] += sign * r.cpus
            uncounted[1] += sign * r.mem
            uncounted[2] += sign * r.disk

    def _limits_changed(self, agent_id: str, task_id: str,
                        limits: tuple[float, float] | None) -> None:
        """The agent resized a task (elasticity; None: it ended): its node's use, and so
        what may be offered there, is worked out again from the current limits."""
        if self.limits.get(task_id) == limits:
            return
        if limits is None:
            del self.limits[task_id]
        else:
            self.limits[task_id] = limits
        self._forget_unallocated(agent_id)
        self._dirty.add(agent_id)

    def _forget_unallocated(self, agent_id: str) -> None:
        """The agent's tasks changed: its `unallocated` must be worked out again."""
        self._unallocated.pop(agent_id, None)
        self._task_use.pop(agent_id, None)
        self._free_ports.pop(agent_id, None)

    def offered(self, agent_id: str) -> Resources:
        """What of an agent is out in offers right now."""
        total = Resources()
        for oid in self._offers_on.get(agent_id, ()):
            total = total + self.offers[oid].resources
        return total

    def allocated(self, framework_id: str) -> Resources:
        total = Resources()
        for task in self.tasks.values():
            if task.framework_id == framework_id and not task.state.terminal:
                total = total + task.resources
        for offer in self.offers.values():
            if offer.framework_id == framework_id:
                total = total + offer.resources
        return total

    def held(self, framework_id: str) -> Resources:
        """cpus/mem/disk a framework holds in live tasks and outstanding offers (for DRF)."""
        return Resources(*self._held.get(framework_id, (0.0, 0.0, 0.0)))

    def _on_allocate(self, ev: E.Allocate) -> list[object]:
        dirty, self._dirty = self._dirty, set()
        declined, self._declined = self._declined, []
        now = self.clock()
        eligible = [fw.id for fw in self.frameworks.values()
                    if fw.active and not fw.suppressed and not fw.removed]
        for until, fid, agent_ids in declined:
            # Still refused by the only framework that could take them: nothing to look at.
            if until <= now or eligible != [fid]:
                dirty.update(agent_ids)
        if not eligible or not dirty:
            return []
        cluster = self._cluster_total()
        scalar_alloc = {fid: Resources(*self._held.get(fid, (0.0, 0.0, 0.0)))
                        for fid in eligible}
        order = {fid: self.frameworks[fid].registered_at for fid in eligible}
        batches: dict[str, list[OfferRecord]] = {}
        offered: dict[str, list[float]] = {}  # framework -> cpus, mem, disk in its batch
        several = len(eligible) > 1
        agents, offers, offers_on = self.agents, self.offers, self._offers_on
        known_sizes, new_id = self._unallocated.get, self._ids
        expires_at = now + self.offer_timeout
        for agent_id, candidates in self._unrefused(dirty, eligible, now):
            # `_sized` as remembered (the usual case), without a call or the record read
            agent = agents.get(agent_id)
            sized = known_sizes(agent_id)
            if sized is None or sized[0] is not agent:
                if agent is None:
                    continue
                sized = self._sized(agent_id)
            _, avail, worth_offering, hostname, attributes = sized
            on_agent = offers_on.get(agent_id)
            if on_agent:  # some of it is out in offers already
                if agent.lost:
                    continue
                avail = self.offerable(agent_id)
                if _too_small(avail):
                    continue
            elif not worth_offering:
                continue
            # One candidate is its own lowest share: no shares to work out.
            fid = candidates[0] if len(candidates) == 1 \
                else pick_next(candidates, scalar_alloc, cluster, order)
            offer_id = new_id()
            # What was taken back goes out once, with the first offer of the agent.
            revocable = agent.revocable if not on_agent else NO_REVOCABLE
            offer = new_offer((offer_id, fid, agent_id, hostname, attributes, avail, now,
                               expires_at, revocable))
            offers[offer_id] = offer
            if on_agent is None:
                on_agent = offers_on[agent_id] = set()
            on_agent.add(offer_id)
            batch = batches.get(fid)
            if batch is None:
                batch = batches[fid] = []
                offered[fid] = [0.0, 0.0, 0.0]
            batch.append(offer)
            sums = offered[fid]
            sums[0] += avail.cpus
            sums[1] += avail.mem
            sums[2] += avail.disk
            if several:  # the shares only matter to a choice between frameworks
                scalar_alloc[fid] = scalar_alloc[fid] + self._scalar(avail)
        for fid, (cpus, mem, disk) in offered.items():  # added to `_held` once per framework
            self._hold(fid, cpus, mem, disk, +1)
        return [C.SendOffers(fid, tuple(batch)) for fid, batch in batches.items()]

    def _unrefused(self, agent_ids: set[str], eligible: list[str],
                   now: float) -> list[tuple[str, list[str]]]:
        """The agents in id order, each with the eligible frameworks that do not refuse
        it; an agent every one of them refuses is left out (no need to size it). A filter
        refuses until it lifts, or until a task on the agent ends after it was set."""
        no_filters: dict[str, Refusal] = {}
        refused = {fid: self._refuse_until.get(fid, no_filters).get for fid in eligible}
        ended_on = self._ended_on.get
        if len(eligible) == 1:  # the usual case
            live_of, free = refused[eligible[0]], []
            for agent_id in agent_ids:
                live = live_of(agent_id)
                if live is None or live.until <= now or ended_on(agent_id, 0) > live.ended:
                    free.append(agent_id)
            return [(agent_id, eligible) for agent_id in sorted(free)]
        out = []
        for agent_id in sorted(agent_ids):
            ended = ended_on(agent_id, 0)
            candidates = [fid for fid in eligible if (live := refused[fid](agent_id)) is None
                          or live.until <= now or ended > live.ended]
            if candidates:
                out.append((agent_id, candidates))
        return out

    def _cluster_total(self) -> Resources:
        """cpus/mem/disk of all live agents (what dominant shares are shares of)."""
        if self._cluster is None:
            cpus = mem = disk = 0.0
            for agent in self.agents.values():
                if not agent.lost:
                    cpus += agent.total.cpus
                    mem += agent.total.mem
                    disk += agent.total.disk
            self._cluster = Resources(cpus, mem, disk)
        return self._cluster

    def _count_total(self, total: Resources, sign: int) -> None:
        if self._cluster is not None:
            c = self._cluster
            self._cluster = Resources(max(0.0, c.cpus + sign * total.cpus),
                                      max(0.0, c.mem + sign * total.mem),
                                      max(0.0, c.disk + sign * total.disk))

    def _hold(self, framework_id: str, cpus: float, mem: float, disk: float,
              sign: int) -> None:
        """Add (sign +1) or take (-1) cpus/mem/disk to what the framework holds."""
        acc = self._held.get(framework_id)
        if acc is None:
            acc = self._held[framework_id] = [0.0, 0.0, 0.0]
        cpus, mem, disk = acc[0] + sign * cpus, acc[1] + sign * mem, acc[2] + sign * disk
        # Never below zero (float dust of many additions and subtractions).
        acc[0] = cpus if cpus > 0.0 else 0.0
        acc[1] = mem if mem > 0.0 else 0.0
        acc[2] = disk if disk > 0.0 else 0.0

    def _hold_resources(self, framework_id: str, r: Resources, sign: int) -> None:
        self._hold(framework_id, r.cpus, r.mem, r.disk, sign)

    @staticmethod
    def _scalar(r: Resources) -> Resources:
        return Resources(r.cpus, r.mem, r.disk)


class Sized(NamedTuple):
    """An agent's `unallocated` as worked out for one record of it, and what an offer
    of it copies from that record."""

    agent: AgentRecord
    unallocated: Resources
    worth_offering: bool  # not lost, and not `_too_small` with no offer out
    hostname: str
    attributes: Mapping[str, str]


def _too_small(r: Resources) -> bool:
    """Below what Mesos offers at all (`MIN_OFFER_CPUS` and `MIN_OFFER_MEM`)."""
    return r.cpus < MIN_OFFER_CPUS and r.mem < MIN_OFFER_MEM


def _least_of(a: float, b: float) -> float:
    """`min(max(0.0, a), max(0.0, b))`, without three calls."""
    a = a if a > 0.0 else 0.0
    b = b if b > 0.0 else 0.0
    return b if b < a else a
