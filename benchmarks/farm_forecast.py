"""How well a farm's forecast holds: the issue's target is the executed makespan within
the forecast's interval for at least 9 runs of 10 with different seeds.

Each run is the demo mode's (simulator/farm_demo.py): a bag sampled on every node type
(31 tasks), the schedules computed from the samples, one chosen (by default the
cheapest on the Pareto front within a deadline half-way along it), and the rest of the
bag executed by the simulator with runtimes drawn from the true laws, not from the
samples. Prints JSON: per seed the forecast interval and the executed makespan, and how
many runs fell inside.

`python -m benchmarks.farm_forecast [--runs 10] [--tasks 500]`
"""

from __future__ import annotations

import argparse
import json
import time

from framework.farm_schedules import choose, schedules
from framework.farms import Farm, NodeType
from simulator.farm_demo import demo_run, demo_sample, runtime_laws

TYPES = {"small": NodeType("small", 0.10, 4), "large": NodeType("large", 0.40, 2)}
LAWS = {"small": "lognormal:20:0.4", "large": "uniform:5:9"}


def measure(runs: int, tasks: int, slots: int) -> dict:
    laws = runtime_laws(LAWS, TYPES)
    rows, inside = [], 0
    started = time.perf_counter()
    for seed in range(runs):
        farm = Farm(f"demo-{seed}", "default", "berth/busybox",
                    tuple(f"task {i}" for i in range(tasks)), TYPES, 0.0, demo=True,
                    slots=slots, seed=seed)
        farm = demo_sample(farm, laws)
        found = schedules(farm.samples, farm.nodetypes, len(farm.rest()), slots, seed)
        front = sorted((s for s in found if s.front), key=lambda s: s.makespan.mean)
        chosen = choose(found, deadline=front[len(front) // 2].makespan.high)
        ran = demo_run(farm, chosen, laws, seed=1000 + seed)
        hit = chosen.makespan.low <= ran.run_seconds <= chosen.makespan.high
        inside += hit
        rows.append({"seed": seed, "schedule": chosen.index, "pool": chosen.pool,
                     "forecast": [round(chosen.makespan.low, 1),
                                  round(chosen.makespan.mean, 1),
                                  round(chosen.makespan.high, 1)],
                     "executed": round(ran.run_seconds, 1), "inside": hit})
    return {"benchmark": "farm_forecast", "mode": "demo (the simulator executes)",
            "tasks": tasks, "slots": slots, "nodetypes": {n: [t.price, t.nodes]
                                                          for n, t in TYPES.items()},
            "laws": LAWS, "runs": rows, "inside": inside, "of": runs,
            "target": "at least 9 of 10", "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--slots", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(measure(args.runs, args.tasks, args.slots), indent=1))


if __name__ == "__main__":
    main()
