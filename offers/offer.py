"""An offer: some of one agent's spare resources, valid until used, declined or rescinded."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from offers.cluster import NODETYPE, ClusterState, NodeSpec
from offers.resources import RESOURCES, PortRanges


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
    # Revocable (taken back from elastic tasks): for elastic work only. Placement leaves
    # it out of the node's size, so work that keeps its size never lands on it.
    revocable_cpus: float = 0.0
    revocable_mem: float = 0.0

    def as_node(self) -> NodeSpec:
        return NodeSpec(hostname=self.hostname, cpus=self.cpus, mem=self.mem, disk=self.disk,
                        ports=self.ports, attributes=dict(self.attributes))


@dataclass(frozen=True, eq=False)
class OfferBatch:
    """One OFFERS event as columns, row i being offer i.

    A master that keeps its agents in arrays (the simulator's) hands these over without
    making an object per offer: with thousands of agents offered every few seconds, the
    per-offer objects were most of the cost of a cycle. Iterating yields `Offer`s.
    """

    ids: Sequence[str]
    agent_ids: Sequence[str]
    hostnames: Sequence[str]
    resources: np.ndarray  # float64 [n, len(RESOURCES)]: cpus, mem, disk
    ports: Sequence[PortRanges]
    attributes: Sequence[Mapping[str, str]]
    # float64 [n, 2] revocable cpus, mem of each offer (None: none offered)
    revocable: np.ndarray | None = None

    @classmethod
    def of(cls, offers: OfferBatch | Iterable[Offer]) -> OfferBatch:
        if isinstance(offers, OfferBatch):
            return offers
        offers = list(offers)
        revocable = None
        if any(o.revocable_cpus or o.revocable_mem for o in offers):
            revocable = np.array([(o.revocable_cpus, o.revocable_mem) for o in offers],
                                 dtype=np.float64)
        return cls([o.id for o in offers], [o.agent_id for o in offers],
                   [o.hostname for o in offers],
                   np.array([(o.cpus, o.mem, o.disk) for o in offers],
                            dtype=np.float64).reshape(len(offers), len(RESOURCES)),
                   [o.ports for o in offers], [o.attributes for o in offers], revocable)

    def one_agent_per_host(self) -> tuple[OfferBatch, list[str]]:
        """The batch without the offers of a second agent under a hostname an earlier
        offer's agent has (a master that lets two live agents share a name; berth's does
        not), and the ids of those left out: placement knows a node by its hostname."""
        if len(set(self.hostnames)) == len(self.hostnames):  # the usual case
            return self, []
        owner: dict[str, str] = {}  # hostname -> the first agent offered under it
        keep = [owner.setdefault(host, agent) == agent
                for agent, host in zip(self.agent_ids, self.hostnames, strict=True)]
        if all(keep):  # one agent's several offers
            return self, []
        rows = [i for i, kept in enumerate(keep) if kept]
        left_out = [self.ids[i] for i, kept in enumerate(keep) if not kept]
        return OfferBatch(
            [self.ids[i] for i in rows], [self.agent_ids[i] for i in rows],
            [self.hostnames[i] for i in rows], self.resources[rows],
            [self.ports[i] for i in rows], [self.attributes[i] for i in rows],
            None if self.revocable is None else self.revocable[rows]), left_out

    def revocable_of_rows(self, rows: int, row_of_offer: np.ndarray) -> np.ndarray | None:
        """[rows, 2] revocable cpus, mem per placement row (`cluster_from_offers`)."""
        if self.revocable is None:
            return None
        out = np.zeros((rows, 2), dtype=np.float64)
        np.add.at(out, row_of_offer, self.revocable)
        return out

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[Offer]:
        revocable = self.revocable.tolist() if self.revocable is not None else None
        for i, (cpus, mem, disk) in enumerate(self.resources.tolist()):
            extra = revocable[i] if revocable is not None else (0.0, 0.0)
            yield Offer(self.ids[i], self.agent_ids[i], self.hostnames[i], cpus, mem, disk,
                        self.ports[i], self.attributes[i], *extra)


def cluster_from_offers(offers: OfferBatch | Iterable[Offer]
                        ) -> tuple[ClusterState, list[str], np.ndarray]:
    """One placement row per agent, summing that agent's offers.

    Returns the cluster, the agent id of each row, and the row of each offer in the batch
    (which offers an ACCEPT on a row uses).
    """
    batch = OfferBatch.of(offers)
    agents = batch.agent_ids
    nodetypes = [a.get(NODETYPE) for a in batch.attributes]
    n = len(agents)
    if len(set(agents)) == n:  # one offer per agent, as masters usually send
        cluster = ClusterState.from_rows(batch.hostnames, batch.resources, nodetypes,
                                         batch.ports, attributes=batch.attributes)
        return cluster, list(agents), np.arange(n)
    row_of: dict[str, int] = {}
    row_of_offer = np.array([row_of.setdefault(agent, len(row_of)) for agent in agents])
    groups: list[list[int]] = [[] for _ in row_of]
    for i, row in enumerate(row_of_offer.tolist()):
        groups[row].append(i)
    cluster = ClusterState.from_rows(
        [batch.hostnames[g[0]] for g in groups],
        np.array([batch.resources[g].sum(axis=0) for g in groups]),
        [nodetypes[g[0]] for g in groups],
        [tuple(sorted(r for i in g for r in batch.ports[i])) for g in groups],
        attributes=[batch.attributes[g[0]] for g in groups])
    return cluster, list(row_of), row_of_offer
