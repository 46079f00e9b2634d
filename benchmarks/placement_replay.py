"""Record the `place()` calls a run makes and replay them against the reference core.

The fast core must place exactly as the core it replaced (kept in
`benchmarks.placement_reference`): every recorded call is run again through the
reference, and both outcomes compared row by row, reasons and free capacity included.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from benchmarks.placement_reference.placement import place as reference_place
from offers import placement as placement_core

FIELDS = ("task_index", "instance", "node", "reason_id", "free_after")


@dataclass
class Recording:
    """The calls seen: (cluster, tasks, keyword arguments, what the core answered)."""

    calls: list[tuple] = field(default_factory=list)


@contextlib.contextmanager
def recording() -> Iterator[Recording]:
    """Every `offers.placement.place` call made inside the block, with its outcome."""
    rec = Recording()
    original = placement_core.place

    def recorded(cluster, tasks, **kwargs):
        tasks = list(tasks)
        kwargs = {k: (dict(v) if isinstance(v, dict) else v) for k, v in kwargs.items()}
        result = original(cluster, tasks, **kwargs)
        rec.calls.append((cluster, tasks, kwargs, result))
        return result

    placement_core.place = recorded
    try:
        yield rec
    finally:
        placement_core.place = original


def same(a, b) -> bool:
    """Whether two placements are the same rows, reasons and free capacity after."""
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in FIELDS) \
        and a.reasons == b.reasons and a.hostnames == b.hostnames


def replay(rec: Recording, reference: Callable = reference_place) -> dict:
    """Each recorded call through the reference core: how many gave the same outcome."""
    different = [k for k, (cluster, tasks, kwargs, result) in enumerate(rec.calls)
                 if not same(result, reference(cluster, tasks, **kwargs))]
    return {"calls": len(rec.calls), "tasks": sum(len(c[1]) for c in rec.calls),
            "identical": len(rec.calls) - len(different), "different_calls": different[:10]}


def replay_sim(nodes: int, tasks: int, horizon: float, seed: int) -> dict:
    """A simulated run's `place()` calls, recorded and replayed against the reference."""
    from benchmarks.sim import run_one

    with recording() as rec:
        run_one(nodes, tasks, horizon, seed)
    return replay(rec)


if __name__ == "__main__":
    import json
    import sys

    # python -m benchmarks.placement_replay [NODES TASKS HORIZON_S]: a short simulated run
    nodes, tasks, horizon = (int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])) \
        if len(sys.argv) == 4 else (200, 4000, 7200.0)
    print(json.dumps(replay_sim(nodes, tasks, horizon, 0)))
