"""An offer: some of one agent's spare resources, valid until used, declined or rescinded."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from offers.cluster import NODETYPE, ClusterState, NodeSpec
from offers.resources import PortRanges


@dataclass(frozen=True)
class Offer:
    id: str
    agent_id: str
    hostname: str
    cpus: float
    mem: float
    disk: float
    ports: PortRanges
    attributes: Mapping[str, str] = field(default_factory=dict)

    def as_node(self) -> NodeSpec:
        return NodeSpec(hostname=self.hostname, cpus=self.cpus, mem=self.mem, disk=self.disk,
                        ports=self.ports, attributes=dict(self.attributes))


def cluster_from_offers(offers: Iterable[Offer]) -> tuple[ClusterState, list[list[Offer]]]:
    """One placement row per agent, summing that agent's offers.

    Returns the cluster and, per row, the offers it was built from (what an ACCEPT uses).
    """
    by_agent: dict[str, list[Offer]] = {}
    for offer in offers:
        by_agent.setdefault(offer.agent_id, []).append(offer)
    groups = list(by_agent.values())
    hostnames, totals, nodetypes, ports = [], [], [], []
    for agent_offers in groups:
        first = agent_offers[0]
        hostnames.append(first.hostname)
        if len(agent_offers) == 1:
            totals.append((first.cpus, first.mem, first.disk))
            ports.append(first.ports)
        else:
            totals.append((sum(o.cpus for o in agent_offers), sum(o.mem for o in agent_offers),
                           sum(o.disk for o in agent_offers)))
            ports.append(tuple(sorted(r for o in agent_offers for r in o.ports)))
        nodetypes.append(first.attributes.get(NODETYPE))
    return ClusterState.from_rows(hostnames, totals, nodetypes, ports), groups
