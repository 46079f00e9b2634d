"""The agents the framework was offered, for the replayable history: the largest offer of
each resource per agent (what berth could have used of it: its capacity when it was idle).
Written only when an agent is new, its largest offer grew, or an hour passed (its last
seen time), so an offer cycle costs a dictionary lookup per offer and no write.
"""

from __future__ import annotations

from framework.history import REFRESH, AgentSeen


class AgentsSeen:
    def __init__(self) -> None:
        self._agents: dict[str, tuple[AgentSeen, float]] = {}  # id -> (largest, written at)

    def offered(self, offers, now: float) -> list[AgentSeen]:
        """Note a batch of offers; the agents whose row should be written now."""
        out: dict[str, AgentSeen] = {}
        for offer in offers:
            known = self._agents.get(offer.agent_id)
            if known is not None:
                old, written = known
                if (offer.cpus <= old.cpus and offer.mem <= old.mem and offer.disk <= old.disk
                        and now - written < REFRESH):
                    continue
                cpus, mem, disk = (max(offer.cpus, old.cpus), max(offer.mem, old.mem),
                                   max(offer.disk, old.disk))
            else:
                cpus, mem, disk = offer.cpus, offer.mem, offer.disk
            seen = AgentSeen(offer.agent_id, offer.hostname, cpus, mem, disk,
                             dict(offer.attributes), now)
            self._agents[offer.agent_id] = (seen, now)
            out[offer.agent_id] = seen
        return list(out.values())

    def lost(self, agent_id: str) -> str | None:
        """Forget a lost agent (it comes back under a new id); its hostname if known."""
        known = self._agents.pop(agent_id, None)
        return known[0].hostname if known is not None else None
