"""Builders for tasks and clusters, so a test says only what matters to it."""

from __future__ import annotations

from typing import Any

from offers.cluster import ClusterState, NodeSpec
from offers.task import TaskSpec, parse_task


def task(id: str = "t", **fields: Any) -> TaskSpec:
    data: dict[str, Any] = {"id": id, "dockerimage": "berth/busybox", "cpus": 0.5, "mem": 128}
    data.update(fields)
    return parse_task(data)


def node(hostname: str, cpus: float = 4, mem: float = 4096, disk: float = 10_000,
         nodetype: str | None = None, ports: str = "31000-32000") -> NodeSpec:
    attributes = {"nodetype": nodetype} if nodetype else {}
    return NodeSpec(hostname=hostname, cpus=cpus, mem=mem, disk=disk, ports=ports,
                    attributes=attributes)


def cluster(*nodes: NodeSpec, used_ports: dict[str, list[int]] | None = None) -> ClusterState:
    return ClusterState.from_nodes(nodes, used_ports=used_ports)
