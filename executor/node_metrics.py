"""The node's own measurements as metric fields (Jisto's live graph): the machine's size,
what everything on it uses, what its own programs (the incumbent) use, network and disk
traffic per second. Pure: the numbers come from executor/measure.py.
"""

from __future__ import annotations

from executor.capacity import Amounts, NodeSample


def node_fields(sample: NodeSample, incumbent: Amounts, rates: dict[str, float]
                ) -> dict[str, float]:
    """The fields of one `node` entry of a METERING message (docs/agent-protocol.md)."""
    fields = {
        "node_cpus": sample.machine.cpus, "node_cpu_used": sample.used.cpus,
        "node_cpu_incumbent": incumbent.cpus,
        "node_mem": sample.machine.mem, "node_mem_used": sample.used.mem,
        "node_mem_incumbent": incumbent.mem,
        "node_disk": sample.machine.disk, "node_disk_used": sample.used.disk,
        **rates}
    return {name: round(float(value), 4) for name, value in fields.items()}
