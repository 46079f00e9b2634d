"""The offer book: what frameworks do with offers (accept, decline, revive, suppress).

An offer is a promise of one agent's resources to one framework until it is used,
declined, rescinded or expires. Offers named in an ACCEPT are used up whatever happens
next, as in Mesos, and every launch that cannot be made is answered with its own status
update rather than failing the call. A decline (or an accept) keeps that agent from the
framework for `refuse_seconds`: the refuse filter.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import replace

from master import commands as C
from master import events as E
from master.reasons import REASON_INVALID_OFFERS, REASON_TASK_INVALID
from master.records import OfferRecord, TaskRecord
from offers.resource_vector import Resources, ports_contain, ports_of
from offers.states import TaskState

DEFAULT_REFUSE_SECONDS = 5.0  # Mesos's Filters.refuse_seconds default


class OfferBook:
    """Handlers for calls about offers, and the offer bookkeeping; a mixin of
    `master.core.Master`.

    State: writes `offers`, `_offers_on`, `tasks` and `_tasks_on` (launches),
    `_refuse_until` (and its heap `_refuse_heap`), `frameworks` (suppressed), `_dirty`;
    reads `agents`. Uses `_hold` (allocation) and `_one_off_update` (updates).
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
        for offer in held:
            if offer is not None and offer.framework_id == fid:
                agent_ids.add(offer.agent_id)
                pool = pool + offer.resources
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
        for launch in ev.launches:
            if isinstance(launch, E.RefusedLaunch):
                out.append(self._one_off_update(fid, launch.task_id, launch.agent_id,
                                                TaskState.ERROR, REASON_TASK_INVALID,
                                                launch.message))
                continue
            why = self._launch_problem(launch, agent_id, pool)
            if why is not None:
                out.append(self._one_off_update(fid, launch.task_id, launch.agent_id,
                                                TaskState.ERROR, REASON_TASK_INVALID, why))
                continue
            pool = pool - launch.resources
            task = TaskRecord(
                id=launch.task_id, framework_id=fid, agent_id=agent_id, name=launch.name,
                state=TaskState.STAGING, resources=launch.resources, spec=launch.spec,
                created_at=now, updated_at=now)
            self.tasks[task.id] = task
            self._tasks_on.setdefault(agent_id, set()).add(task.id)
            self._use_changed(None, task)
            self._hold(fid, task.resources, +1)
            out.append(C.SaveTask(task))
            out.append(C.RecordStatus(task.id, task.state.value, None,
                                      f"launched on {agent.hostname if agent else agent_id}",
                                      now))
            out.append(C.LaunchOnAgent(agent_id, launch.spec))
        self._refuse(fid, agent_id, ev.refuse_seconds)
        self._dirty.add(agent_id)
        return out

    def _launch_problem(self, launch: E.TaskLaunch, agent_id: str, pool: Resources) -> str | None:
        if launch.task_id in self.tasks:
            return f"task_id: {launch.task_id} is already in use by another task"
        if launch.agent_id != agent_id:
            return f"agent_id: {launch.agent_id} is not the agent of the accepted offers"
        if launch.resources.cpus <= 0 or launch.resources.mem <= 0:
            return "resources: a task needs cpus > 0 and mem > 0"
        short = pool.shortfall(launch.resources)
        if short:
            return "resources: " + "; ".join(short)
        mapped = ports_of(m.host_port for m in launch.spec.ports) if launch.spec.ports else ()
        if mapped and not ports_contain(launch.resources.ports, mapped):
            return ("container.docker.port_mappings: host ports must be among the task's "
                    "'ports' resources")
        return None

    def _on_decline(self, ev: E.Decline) -> list[object]:
        agents = set()
        offers, offers_on, fid = self.offers, self._offers_on, ev.framework_id
        freed = [0.0, 0.0, 0.0]  # taken from `_held` once, after the loop
        for oid in ev.offer_ids:
            offer = offers.get(oid)
            if offer is not None and offer.framework_id == fid:
                agents.add(offer.agent_id)
                del offers[oid]
                offers_on[offer.agent_id].discard(oid)
                r = offer.resources
                freed[0] += r.cpus
                freed[1] += r.mem
                freed[2] += r.disk
        if agents:
            self._hold(fid, Resources(*freed), -1)
            self._refuse_all(fid, agents, ev.refuse_seconds)
        self._dirty.update(agents)
        return []

    def _refuse_all(self, framework_id: str, agent_ids: Iterable[str],
                    refuse_seconds: float | None) -> None:
        """`_refuse` for each of the agents (a decline names a whole round's offers)."""
        seconds = DEFAULT_REFUSE_SECONDS if refuse_seconds is None else refuse_seconds
        if seconds <= 0:
            for agent_id in agent_ids:
                self._refuse_until.pop((framework_id, agent_id), None)
            return
        until = self.clock() + seconds
        refuse_until, heap = self._refuse_until, self._refuse_heap
        for agent_id in agent_ids:
            refuse_until[(framework_id, agent_id)] = until
            heapq.heappush(heap, (until, framework_id, agent_id))

    def _refuse(self, framework_id: str, agent_id: str, refuse_seconds: float | None) -> None:
        self._refuse_all(framework_id, (agent_id,), refuse_seconds)

    def _on_revive(self, ev: E.Revive) -> list[object]:
        fw = self.frameworks[ev.framework_id]
        for key in [k for k in self._refuse_until if k[0] == fw.id]:
            del self._refuse_until[key]
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
            self._offers_on.get(offer.agent_id, set()).discard(offer_id)
            self._hold(offer.framework_id, offer.resources, -1)
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
        whose entries for filters since replaced or lifted are passed over)."""
        heap, refuse_until = self._refuse_heap, self._refuse_until
        while heap and heap[0][0] <= now:
            until, framework_id, agent_id = heapq.heappop(heap)
            key = (framework_id, agent_id)
            if refuse_until.get(key) == until:
                del refuse_until[key]
                self._dirty.add(agent_id)
