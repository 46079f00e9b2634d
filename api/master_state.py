"""The master's `GET /state`: agents, frameworks and tasks as the core holds them.

A pure view over `master.core.Master`, built on request (the core keeps no copy of it);
`mesos_state` beside berth's own state so that Mesos tooling can read it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from master.core import Master
from offers.protocol import mesos as mj


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
        "created_at": t.created_at, "updated_at": t.updated_at,
    } for t in core.tasks.values()]
    return {"version": mj.VERSION, "agents": agents, "frameworks": frameworks,
            "tasks": tasks, "outstanding_offers": len(core.offers)}
