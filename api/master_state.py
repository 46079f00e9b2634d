"""The master's `GET /state`: agents, frameworks and tasks as the core holds them.

A pure view over `master.core.Master`, built on request (the core keeps no copy of it);
`mesos_state` beside berth's own state so that Mesos tooling can read it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from master.core import Master
from offers.protocol import mesos as mj

ELASTIC_FIELDS = ("incumbent", "secondary_used", "secondary_allocated", "taken_back")


def agents_document(core: Master, connected: Collection[str]) -> dict[str, Any]:
    """`GET /v1/agents`: per agent its size, its spare, and elasticity's split of its node:
    the node's own load (incumbent), what berth's containers use (secondary used) and may
    use now (secondary allocated), what was taken back from their requests, and what of
    that is offered as revocable."""
    agents = []
    for agent in sorted(core.agents.values(), key=lambda a: a.hostname):
        split = {name: _scalars(agent.elastic.get(name)) for name in ELASTIC_FIELDS}
        agents.append({
            "id": agent.id, "hostname": agent.hostname, "active": not agent.lost,
            "connected": agent.id in connected, "total": agent.total.to_json(),
            "spare": agent.spare.to_json(), "revocable": _scalars(agent.revocable),
            "requested": core.used(agent.id).to_json(), **split})
    return {"agents": agents}


def _limits(limits: tuple[float, float] | None, ended: bool) -> dict[str, float] | None:
    """What a live task's container may use now, when its agent reported it."""
    if limits is None or ended:
        return None
    return {"cpus": round(limits[0], 3), "mem": round(limits[1], 1)}


def _scalars(r: Any) -> dict[str, float]:
    if r is None:
        return {"cpus": 0.0, "mem": 0.0}
    return {"cpus": round(r.cpus, 3), "mem": round(r.mem, 1)}


def state_document(core: Master, connected: Collection[str]) -> dict[str, Any]:
    """The document; `connected` are the ids of agents whose link is open now."""
    agents = []
    for agent in sorted(core.agents.values(), key=lambda a: a.hostname):
        offered = core.offered(agent.id)
        agents.append({
            "id": agent.id, "hostname": agent.hostname, "endpoint": agent.endpoint,
            "attributes": dict(agent.attributes), "total": agent.total.to_json(),
            "spare": agent.spare.to_json(), "used": core.used(agent.id).to_json(),
            "offered": offered.to_json(), "active": not agent.lost,
            "connected": agent.id in connected, "last_seen": core.last_seen(agent.id)})
    offers_of: dict[str, int] = {}
    for offer in core.offers.values():
        offers_of[offer.framework_id] = offers_of.get(offer.framework_id, 0) + 1
    frameworks = [{
        "id": fw.id, "name": fw.name, "user": fw.user, "active": fw.active,
        "suppressed": fw.suppressed, "removed": fw.removed,
        "capabilities": sorted(fw.capabilities),
        "offers": offers_of.get(fw.id, 0),
        "allocated": core.allocated(fw.id).to_json(),
    } for fw in core.frameworks.values()]
    tasks = [{
        "id": t.id, "name": t.name, "framework_id": t.framework_id, "agent_id": t.agent_id,
        "hostname": core.agents[t.agent_id].hostname if t.agent_id in core.agents else None,
        "state": t.state.value, "mesos_state": mj.STATE_TO_MESOS[t.state],
        "reason": t.reason, "message": t.message, "container_id": t.container_id,
        "exit_code": t.exit_code, "healthy": t.healthy, "image": t.spec.image,
        "resources": t.resources.to_json(),
        "limits": _limits(core.limits.get(t.id), t.state.terminal),
        "created_at": t.created_at, "updated_at": t.updated_at,
    } for t in core.all_tasks()]
    return {"version": mj.VERSION, "agents": agents, "frameworks": frameworks,
            "tasks": tasks, "outstanding_offers": len(core.offers)}
