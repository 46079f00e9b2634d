"""The offer book: what frameworks do with offers (accept, decline, revive, suppress).

An offer is a promise of one agent's resources to one framework until it is used,
declined, rescinded or expires. Offers named in an ACCEPT are used up whatever happens
next, as in Mesos, and every launch that cannot be made is answered with its own status
update rather than failing the call. A decline (or an accept) keeps that agent from the
framework for `refuse_seconds`, or until a task on it ends: the refuse filter. (Mesos's
filter holds back only the resources it refused, so resources a task gives back are
offered at once; an agent's spare, measured, moves with its own programs' load, so here
that is what lifts it early, not any growth of the spare.)
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial
from typing import NamedTuple

from master import commands as C
from master import events as E
from master.reasons import REASON_INVALID_OFFERS, REASON_TASK_INVALID
from master.records import OfferRecord, TaskRecord, make
from offers.resource_vector import EPSILON, Resources, ports_contain, ports_of
from offers.states import TaskState

DEFAULT_REFUSE_SECONDS = 5.0  # Mesos's Filters.refuse_seconds default


class Refusal(NamedTuple):
    """A refuse filter of agents for one framework: it holds until `until`, while no task
    ended on the agent after the `ended`th task end of the cluster (`Allocation._ends`;
    `_ended_on` holds the number of each agent's last). One decline's agents share one."""

    until: float
    ended: int


# `new_refusal((until, ended))`: a `Refusal` without the Python call its `__new__` is (a
# decline refuses a whole round's agents).
new_refusal: Callable[[tuple[float, int]], Refusal] = partial(tuple.__new__, Refusal)


class OfferBook:
    """Handlers for calls about offers, and the offer bookkeeping; a mixin of
    `master.core.Master`.

    State: writes `offers`, `_offers_on`, `tasks` and `_tasks_on` (launches),
    `_refuse_until` (and its heap `_refuse_heap`), `frameworks` (suppressed), `_dirty`;
    reads `agents`, `_ends`. Uses `_hold` (allocation) and `_one_off_update` (updates).
    """

    def _on_accept(self, ev: E.Accept) -> list[object]:
        now = self.clock()
        fid = ev.framework_id
        out: list[object] = []
        held = [self.offers.get(oid) for oid in ev.offer_ids]
        problem = None
        if not ev.offer_ids:
            problem = "no offer_ids given"
        elif any(o is None or o.framework_id != fid for o in held):
            bad = [oid for oid, o in zip(ev.offer_ids, held, strict=True)
                   if o is None or o.framework_id != fid]
            problem = (f"offer(s) {', '.join(bad)} are not outstanding for this framework "
                       "(used, declined, rescinded or expired)")
        elif len({o.agent_id for o in held}) > 1:
            problem = "offers from more than one agent cannot be combined"
        # Offers named in an ACCEPT are used up whatever happens next (Mesos does the same).
        agent_ids = set()
        pool = Resources()
        revocable = Resources()  # taken back from elastic tasks: for elastic launches only
        for offer in held:
            if offer is not None and offer.framework_id == fid:
                agent_ids.add(offer.agent_id)
                # One offer is its own pool (the sum would be the same resources again).
                pool = offer.resources if len(held) == 1 else pool + offer.resources
                if offer.revocable.cpus or offer.revocable.mem:
                    revocable = revocable + offer.revocable
                self._remove_offer(offer.id)
        if problem is not None:
            for launch in ev.launches:
                if isinstance(launch, E.RefusedLaunch):  # its own problem says more
                    out.append(self._one_off_update(fid, launch.task_id, launch.agent_id,
                                                    TaskState.ERROR, REASON_TASK_INVALID,
                                                    launch.message))
                    continue
                out.append(self._one_off_update(
                    fid, launch.task_id, launch.agent_id, TaskState.LOST,
                    REASON_INVALID_OFFERS, problem))
            self._dirty.update(agent_ids)
            return out
        agent_id = held[0].agent_id
        agent = self.agents.get(agent_id)
        launched_on = f"launched on {agent.hostname if agent else agent_id}"
        tasks, tasks_on = self.tasks, self._tasks_on
        taken = None  # the last launch's resources, taken from the pool if another follows
        for launch in ev.launches:
            if isinstance(launch, E.RefusedLaunch):
                out.append(self._one_off_update(fid, launch.task_id, launch.agent_id,
                                                TaskState.ERROR, REASON_TASK_INVALID,
                                                launch.message))
                continue
            if taken is not None:
                pool, revocable = _take(pool, revocable, taken)
                taken = None
            if launch.spec.elastic and (revocable.cpus or revocable.mem):
                why = self._launch_problem(launch, agent_id, _with_revocable(pool, revocable))
            else:
                why = self._launch_problem(launch, agent_id, pool)
            if why is not None:
                out.append(self._one_off_update(fid, launch.task_id, launch.agent_id,
                                                TaskState.ERROR, REASON_TASK_INVALID, why))
                continue
            r, task_id = launch.resources, launch.task_id
            taken = r
            task = make(TaskRecord, {
                "id": task_id, "framework_id": fid, "agent_id": agent_id, "name": launch.name,
                "state": TaskState.STAGING, "resources": r, "spec": launch.spec,
                "reason": None, "message": None, "container_id": None, "exit_code": None,
                "healthy": None, "created_at": now, "updated_at": now, "counted_by_agent": False})
            tasks[task_id] = task
            on_agent = tasks_on.get(agent_id)
            if on_agent is None:
                on_agent = tasks_on[agent_id] = set()
            on_agent.add(task_id)
            self._use_changed(None, task)
            self._hold(fid, r.cpus, r.mem, r.disk, +1)
            out.append(C.SaveTask(task))
            out.append(make(C.RecordStatus, {
                "task_id": task_id, "state": TaskState.STAGING._value_, "reason": None,
                "message": launched_on, "at": now}))
            out.append(C.LaunchOnAgent(agent_id, launch.spec))
        self._refuse(fid, agent_id, ev.refuse_seconds)
        self._dirty.add(agent_id)
        return out

    def _launch_problem(self, launch: E.TaskLaunch, agent_id: str, pool: Resources) -> str | None:
        if launch.task_id in self.tasks or launch.task_id in self._completed_of:
            return f"task_id: {launch.task_id} is already in use by another task"
        if launch.agent_id != agent_id:
            return f"agent_id: {launch.agent_id} is not the agent of the accepted offers"
        r = launch.resources
        if r.cpus <= 0 or r.mem <= 0:
            return "resources: a task needs cpus > 0 and mem > 0"
        if r.cpus > pool.cpus + EPSILON or r.mem > pool.mem + EPSILON \
                or r.disk > pool.disk + EPSILON or r.ports:  # else nothing falls short
            short = pool.shortfall(r)
            if short:
                return "resources: " + "; ".join(short)
        ports = launch.spec.ports
        mapped = ports_of(m.host_port for m in ports) if ports else ()
        if mapped and not ports_contain(r.ports, mapped):
            return ("container.docker.port_mappings: host ports must be among the task's "
                    "'ports' resources")
        return None

    def _on_decline(self, ev: E.Decline) -> list[object]:
        agents = set()
        offers, offers_on, fid = self.offers, self._offers_on, ev.framework_id
        cpus = mem = disk = 0.0  # taken from `_held` once, after the loop
        for oid in ev.offer_ids:
            offer = offers.get(oid)
            if offer is not None and offer.framework_id == fid:
                agent_id = offer.agent_id
                agents.add(agent_id)
                del offers[oid]
                offers_on[agent_id].discard(oid)
                r = offer.resources
                cpus += r.cpus
                mem += r.mem
                disk += r.disk
        if agents:
            self._hold(fid, cpus, mem, disk, -1)
            agent_ids = tuple(agents)
            until = self._refuse_all(fid, agent_ids, ev.refuse_seconds)
            if until is None:
                self._dirty.update(agent_ids)
            else:  # the next allocation looks at them only if another may take them
                self._declined.append((until, fid, agent_ids))
        return []

    def _refuse_all(self, framework_id: str, agent_ids: tuple[str, ...],
                    refuse_seconds: float | None) -> float | None:
        """`_refuse` for each of the agents (a decline names a whole round's offers): one
        entry in `_refuse_heap` for all of them, as they all lift at once. Returns when
        they lift (None: no filter)."""
        seconds = DEFAULT_REFUSE_SECONDS if refuse_seconds is None else refuse_seconds
        refused = self._refuse_until.get(framework_id)
        if seconds <= 0:
            if refused:
                for agent_id in agent_ids:
                    refused.pop(agent_id, None)
            return None
        if refused is None:
            refused = self._refuse_until[framework_id] = self._journal.dict()
        until = self.clock() + seconds
        refused.update(dict.fromkeys(agent_ids, new_refusal((until, self._ends))))
        heapq.heappush(self._refuse_heap,
                       (until, next(self._refusals), framework_id, agent_ids))
        return until

    def _refuse(self, framework_id: str, agent_id: str, refuse_seconds: float | None) -> None:
        self._refuse_all(framework_id, (agent_id,), refuse_seconds)

    def _on_revive(self, ev: E.Revive) -> list[object]:
        fw = self.frameworks[ev.framework_id]
        refused = self._refuse_until.get(fw.id)
        if refused:  # emptied, not dropped: the framework will likely decline again
            for agent_id in list(refused):
                del refused[agent_id]
        self.frameworks[fw.id] = replace(fw, suppressed=False)
        self._dirty.update(self.agents)
        return [C.SaveFramework(self.frameworks[fw.id])] if fw.suppressed else []

    def _on_suppress(self, ev: E.Suppress) -> list[object]:
        fw = self.frameworks[ev.framework_id]
        if fw.suppressed:
            return []
        self.frameworks[fw.id] = replace(fw, suppressed=True)
        return [C.SaveFramework(self.frameworks[fw.id])]

    def _remove_offer(self, offer_id: str) -> OfferRecord | None:
        offer = self.offers.pop(offer_id, None)
        if offer is not None:
            on_agent = self._offers_on.get(offer.agent_id)
            if on_agent is not None:
                on_agent.discard(offer_id)
            self._hold_resources(offer.framework_id, offer.resources, -1)
        return offer

    def _drop_offers_on(self, agent_id: str, rescind: bool) -> list[object]:
        return self._drop(list(self._offers_on.get(agent_id, ())), rescind)

    def _drop_offers_of(self, framework_id: str, rescind: bool) -> list[object]:
        return self._drop([o.id for o in self.offers.values()
                           if o.framework_id == framework_id], rescind)

    def _drop(self, offer_ids: Iterable[str], rescind: bool) -> list[object]:
        out: list[object] = []
        for oid in sorted(offer_ids):
            offer = self._remove_offer(oid)
            if offer is None:
                continue
            self._dirty.add(offer.agent_id)
            fw = self.frameworks.get(offer.framework_id)
            if rescind and fw is not None and fw.active:
                out.append(C.SendRescind(offer.framework_id, oid))
        return out

    def _expire_offers(self, now: float) -> list[object]:
        """Rescind the offers that have outlived `offer_timeout`."""
        out: list[object] = []
        for offer in [o for o in self.offers.values() if o.expires_at <= now]:
            self._remove_offer(offer.id)
            out.append(C.SendRescind(offer.framework_id, offer.id))
            self._dirty.add(offer.agent_id)
        return out

    def _expire_refusals(self, now: float) -> None:
        """Lift the refuse filters that have run out (soonest first from `_refuse_heap`,
        whose agents with a filter since replaced or lifted are passed over)."""
        heap, refuse_until, dirty = self._refuse_heap, self._refuse_until, self._dirty
        while heap and heap[0][0] <= now:
            until, _, framework_id, agent_ids = heapq.heappop(heap)
            refused = refuse_until.get(framework_id)
            if refused is None:
                continue
            for agent_id in agent_ids:
                live = refused.get(agent_id)
                if live is not None and live.until == until:
                    del refused[agent_id]
                    dirty.add(agent_id)


def _with_revocable(pool: Resources, revocable: Resources) -> Resources:
    return Resources(pool.cpus + revocable.cpus, pool.mem + revocable.mem, pool.disk,
                     pool.ports)


def _take(pool: Resources, revocable: Resources, taken: Resources
          ) -> tuple[Resources, Resources]:
    """The regular pool and the revocable part after a launch that took `taken`: from the
    regular pool first, what it lacked from the revocable part."""
    over_cpus, over_mem = max(taken.cpus - pool.cpus, 0.0), max(taken.mem - pool.mem, 0.0)
    rest = pool - taken
    return (Resources(max(rest.cpus, 0.0), max(rest.mem, 0.0), rest.disk, rest.ports),
            Resources(max(revocable.cpus - over_cpus, 0.0),
                      max(revocable.mem - over_mem, 0.0)))
