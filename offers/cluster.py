"""Cluster state as numpy arrays: what the placement core sees of the nodes.

Built from node specs (a cluster file, a batch of offers, a simulated cluster); never
mutated by placement, which works on its own copy of `free`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from offers.problems import FieldProblem, SpecError, problems_from
from offers.resources import DEFAULT_PORTS, RESOURCES, PortRanges, parse_port_ranges

NODETYPE = "nodetype"
HOSTNAME = "hostname"  # not an attribute, but constraints name it like one (Marathon)


@dataclass(frozen=True, eq=False)
class AttributeColumn:
    """One attribute over all nodes: `codes[i]` indexes `values` (-1: node lacks it)."""

    codes: np.ndarray
    values: tuple[str, ...]

    def code(self, value: str) -> int:
        """The code of a value, -2 when no node has it."""
        try:
            return self.values.index(value)
        except ValueError:
            return -2

    def value_mask(self, accepts) -> np.ndarray:
        """Nodes whose value `accepts(value or None)` says yes to: asked once per distinct
        value, never per node."""
        ok = np.array([accepts(v) for v in self.values] + [accepts(None)], dtype=bool)
        return ok[self.codes]  # code -1 reads the last entry: the nodes without it


class NodeSpec(BaseModel):
    """One node (or one agent's offer): its capacity, host ports and attributes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hostname: str = Field(min_length=1, max_length=253)
    cpus: float = Field(ge=0, le=1e6, allow_inf_nan=False)
    mem: float = Field(ge=0, le=1e12, allow_inf_nan=False)
    disk: float = Field(0.0, ge=0, le=1e15, allow_inf_nan=False)
    ports: PortRanges = Field(default_factory=lambda: parse_port_ranges(DEFAULT_PORTS))
    attributes: dict[str, str] = Field(default_factory=dict)

    @field_validator("ports", mode="before")
    @classmethod
    def _ports(cls, value: Any) -> Any:
        if isinstance(value, str | list):
            return parse_port_ranges(value)
        return value

    @field_validator("attributes", mode="before")
    @classmethod
    def _attributes(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        return value

    @property
    def nodetype(self) -> str | None:
        return self.attributes.get(NODETYPE)


def parse_node(data: Any) -> NodeSpec:
    if not isinstance(data, dict):
        raise SpecError([FieldProblem("", "a node must be a JSON object")])
    try:
        return NodeSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(problems_from(exc)) from None


@dataclass(frozen=True)
class ClusterState:
    """Nodes as arrays. Row i of every array is node i.

    - `total`, `free`: float64 [N, R], R = len(RESOURCES)
    - `nodetype`: int32 [N] codes into `nodetypes` (-1 for none)
    - `port_ranges`: per node, the host ports it offers
    - `used_ports`: per node, the host ports already taken there
    - `attributes`: per node, every attribute it has (string values; `nodetype` too);
      `column(name)` gives one of them, or `hostname`, as codes into its distinct values
    """

    hostnames: tuple[str, ...]
    total: np.ndarray
    free: np.ndarray
    nodetype: np.ndarray
    nodetypes: tuple[str, ...]
    port_ranges: tuple[PortRanges, ...]
    used_ports: tuple[frozenset[int], ...]
    attributes: tuple[Mapping[str, str], ...] = ()
    _index: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    _columns: dict[str, AttributeColumn] = field(default_factory=dict, compare=False,
                                                  repr=False)

    @property
    def size(self) -> int:
        return len(self.hostnames)

    def index_of(self, hostname: str) -> int | None:
        """Row of a node by hostname (None when it is not in this cluster)."""
        return self.host_index().get(hostname)

    def host_index(self) -> dict[str, int]:
        """Hostname -> row, built once per cluster."""
        if not self._index:
            self._index.update(zip(self.hostnames, range(len(self.hostnames)), strict=True))
        return self._index

    @classmethod
    def from_nodes(
        cls,
        nodes: Iterable[NodeSpec],
        free: np.ndarray | None = None,
        used_ports: Mapping[str, Iterable[int]] | None = None,
    ) -> ClusterState:
        """Build arrays from node specs; `free` defaults to the totals (an empty cluster)."""
        nodes = list(nodes)
        return cls.from_rows(
            [node.hostname for node in nodes],
            [(node.cpus, node.mem, node.disk) for node in nodes],
            [node.nodetype for node in nodes],
            [node.ports for node in nodes],
            free=free, used_ports=used_ports, attributes=[node.attributes for node in nodes],
        )

    @classmethod
    def from_rows(
        cls,
        hostnames: Sequence[str],
        totals: Sequence[tuple[float, float, float]],
        nodetypes: Sequence[str | None],
        port_ranges: Sequence[PortRanges],
        free: np.ndarray | None = None,
        used_ports: Mapping[str, Iterable[int]] | None = None,
        attributes: Sequence[Mapping[str, str]] | None = None,
    ) -> ClusterState:
        """Build arrays from already-valid columns (offers, simulated nodes): no per-node
        model is made, which matters at ten thousand nodes per offer cycle."""
        n = len(hostnames)
        total = np.asarray(totals, dtype=np.float64).reshape(n, len(RESOURCES))
        # Each distinct node type numbered in order of first sight, None as -1: looked up
        # per row in a dict made of the few distinct values (no Python loop over rows).
        distinct = [t for t in dict.fromkeys(nodetypes) if t is not None]
        names = dict(zip(distinct, range(len(distinct)), strict=True))
        if names:
            code_of = {**names, None: -1}
            codes = np.fromiter(map(code_of.__getitem__, nodetypes), dtype=np.int32, count=n)
        else:
            codes = np.full(n, -1, dtype=np.int32)
        hostnames = tuple(hostnames)
        index = dict(zip(hostnames, range(n), strict=True))  # `host_index`, made here
        if len(index) != n:
            seen: set[str] = set()
            dup = next(h for h in hostnames if h in seen or seen.add(h))
            raise SpecError([FieldProblem("hostname", f"{dup!r} appears more than once")])
        used_ports = used_ports or {}
        return cls(
            hostnames=hostnames,
            total=total,
            free=total.copy() if free is None else np.asarray(free, dtype=np.float64),
            nodetype=codes,
            nodetypes=tuple(names),
            port_ranges=tuple(port_ranges),
            used_ports=(tuple(frozenset(used_ports.get(h, ())) for h in hostnames) if used_ports
                        else (frozenset(),) * n),
            attributes=tuple(attributes) if attributes is not None else (),
            _index=index,
        )

    def column(self, name: str) -> AttributeColumn:
        """One attribute (or `hostname`) of every node, made on first use per cluster: most
        batches name no attribute but `nodetype`."""
        col = self._columns.get(name)
        if col is None:
            col = self._columns[name] = self._make_column(name)
        return col

    def _make_column(self, name: str) -> AttributeColumn:
        n = self.size
        if name == HOSTNAME:
            return AttributeColumn(np.arange(n, dtype=np.int32), self.hostnames)
        if name == NODETYPE:
            return AttributeColumn(self.nodetype, self.nodetypes)
        names: dict[str, int] = {}
        codes = np.full(n, -1, dtype=np.int32)
        for i, attrs in enumerate(self.attributes):
            value = attrs.get(name)
            if value is not None:
                codes[i] = names.setdefault(value, len(names))
        return AttributeColumn(codes, tuple(names))

    def nodetype_code(self, name: str | None) -> int | None:
        """The code of a nodetype, -2 when no node has it, None when no constraint."""
        if name is None:
            return None
        try:
            return self.nodetypes.index(name)
        except ValueError:
            return -2
