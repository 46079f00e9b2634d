"""The demo mode of task farming (ConPaaS: "try the service with custom bags without
spending time and money"): sampling and the run executed by the simulator, in virtual
time, with runtimes drawn from what the user gives per node type: a list of runtimes
(drawn with replacement) or a distribution, `uniform:LOW:HIGH`, `normal:MEAN:SD`,
`lognormal:MEDIAN:SIGMA` or `fixed:SECONDS`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from framework.farm_htc import learn, new_bag
from framework.farm_schedules import Schedule, forecast_of, lanes_makespan
from framework.farms import (
    SAMPLE_ENOUGH,
    Farm,
    FarmPhase,
    choose_sample,
    farm_from_json,
    farm_json,
    sample_size,
)

Draw = Callable[[np.random.Generator, int], np.ndarray]


class BadRuntimes(ValueError):
    """Runtimes given for the demo that cannot be used; says which node type and why."""


def runtime_law(nodetype: str, spec: Any) -> Draw:
    """The runtimes of one node type: a list of seconds or a distribution string."""
    if isinstance(spec, list):
        values = np.asarray([float(v) for v in spec if isinstance(v, int | float)])
        if len(values) != len(spec) or not len(values) or (values <= 0).any():
            raise BadRuntimes(f"runtimes of {nodetype!r}: give positive numbers of seconds")
        return lambda rng, k: rng.choice(values, size=k)
    parts = str(spec).split(":")
    try:
        args = [float(p) for p in parts[1:]]
    except ValueError:
        args = []
    laws: dict[str, tuple[int, Draw]] = {
        "fixed": (1, lambda rng, k: np.full(k, args[0])),
        "uniform": (2, lambda rng, k: rng.uniform(args[0], args[1], k)),
        "normal": (2, lambda rng, k: np.maximum(rng.normal(args[0], args[1], k), 0.01)),
        "lognormal": (2, lambda rng, k: args[0] * rng.lognormal(0.0, args[1], k)),
    }
    if parts[0] not in laws or len(args) != laws[parts[0]][0] or any(a < 0 for a in args) \
            or (args and args[0] <= 0):
        raise BadRuntimes(f"runtimes of {nodetype!r}: {spec!r} is not a list of seconds "
                          "nor uniform:LOW:HIGH, normal:MEAN:SD, lognormal:MEDIAN:SIGMA "
                          "or fixed:SECONDS (positive numbers)")
    return laws[parts[0]][1]


def runtime_laws(given: Mapping[str, Any], nodetypes: Mapping[str, object]) -> dict[str, Draw]:
    missing = sorted(set(nodetypes) - set(given))
    if missing:
        raise BadRuntimes(f"no runtimes given for node type(s) {', '.join(missing)}")
    return {n: runtime_law(n, given[n]) for n in nodetypes}


def demo_sample(farm: Farm, laws: Mapping[str, Draw], size: int | None = None) -> Farm:
    """Sampling in the simulator: the same sampled tasks on every node type, each type's
    on all its nodes' slots, all types at once; virtual time starts at 0."""
    count = sample_size(len(farm.commands), size or SAMPLE_ENOUGH)
    sampled = choose_sample(len(farm.commands), count, farm.seed)
    rng = np.random.default_rng([farm.seed, 1])
    samples = {n: tuple(float(x) for x in laws[n](rng, count)) for n in sorted(farm.nodetypes)}
    seconds = max(lanes_makespan(v, farm.nodetypes[n].nodes * farm.slots)
                  for n, v in samples.items())
    return dataclasses.replace(farm, phase=FarmPhase.SAMPLED, sampled=sampled,
                               samples=samples, sample_started=0.0, sample_seconds=seconds)


def demo_run(farm: Farm, schedule: Schedule, laws: Mapping[str, Draw], seed: int) -> Farm:
    """The rest of the bag executed on the schedule's pool, runtimes drawn from the laws
    (not from the samples the forecast used)."""
    rng = np.random.default_rng([seed, 2])
    seconds = max((lanes_makespan(laws[t](rng, k), schedule.pool[t] * farm.slots)
                   for t, k in sorted(schedule.shares.items()) if k > 0), default=0.0)
    start = farm.sample_seconds or 0.0
    return dataclasses.replace(
        farm, phase=FarmPhase.DONE, pool=dict(schedule.pool), shares=dict(schedule.shares),
        forecast=forecast_of(schedule), run_started=start, run_seconds=seconds)


def demo_add(farm: Farm, commands: tuple[str, ...], laws: Mapping[str, Draw],
             seed: int) -> Farm:
    """HTC's `add` in the simulator: the bag run at once on the farm's configuration, its
    runtimes drawn from the laws and joining the samples (the function re-estimated).
    Virtual time: the bag starts when the farm's last step ended."""
    start = max([(farm.sample_seconds or 0.0)]
                + [(farm.run_started or 0.0) + (farm.run_seconds or 0.0)]
                + [b.submitted_at + (b.run_seconds or 0.0) for b in farm.bags])
    bag = new_bag(len(farm.bags) + 1, commands, farm.configuration, farm.samples,
                  farm.slots, start)
    rng = np.random.default_rng([seed, 3, bag.number])
    drawn = {t: laws[t](rng, k) for t, k in sorted(bag.shares.items()) if k > 0}
    seconds = max((lanes_makespan(v, bag.pool[t] * farm.slots) for t, v in drawn.items()),
                  default=0.0)
    bag = dataclasses.replace(bag, phase="done", run_seconds=seconds)
    return dataclasses.replace(farm, bags=farm.bags + (bag,), samples=learn(
        farm.samples, {t: tuple(float(x) for x in v) for t, v in drawn.items()}))


class DemoFarms:
    """The demo mode's farms, one JSON file each in a directory (no framework needed):
    the farm as the framework would store it, and the runtimes it was given. A file is
    replaced whole (written aside, then renamed): never half-written."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, farm_id: str) -> Path:
        return self.directory / f"{farm_id}.json"

    def has(self, farm_id: str) -> bool:
        return farm_id.startswith("demo-") and self.path(farm_id).is_file()

    def load(self, farm_id: str) -> tuple[Farm, dict[str, Any]]:
        doc = json.loads(self.path(farm_id).read_text())
        return farm_from_json(doc["farm"]), doc["runtimes"]

    def save(self, farm: Farm, runtimes: Mapping[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(farm.id)
        aside = path.with_suffix(".json.tmp")
        aside.write_text(json.dumps({"farm": farm_json(farm), "runtimes": dict(runtimes)}))
        os.replace(aside, path)
