"""In the simulator (the framework's own core), intelligence by kind packs a workload of
repeated kinds that ask for more than they use onto fewer nodes than binpack."""

from __future__ import annotations

import functools

from framework.kind_usage import KindSettings
from simulator.nodes import uniform_nodes
from simulator.report import summarize
from simulator.run import SimConfig, Simulation
from simulator.synthetic import SyntheticParams, SyntheticWorkload

SHAPE = {"cpus": 16.0, "mem": 65536.0, "disk": 500000.0}
HOURS = 6.0


@functools.cache  # binpack's run is compared twice: run once
def run(strategy: str, kinds: KindSettings | None = None) -> dict:
    specs = uniform_nodes(12, SHAPE)
    # Half the tasks over-ask (reshuffleable: a few programs, each using alike); no
    # reshuffle, so what intelligence gains it gains at submission, by kind.
    workload = SyntheticWorkload(
        SyntheticParams(tasks=600, horizon=HOURS * 3600, reshuffleable_share=0.5), 5,
        sum(n.cpus for n in specs))
    config = SimConfig(strategy=strategy, seed=5, horizon=HOURS * 3600, refuse_seconds=30,
                       kinds=kinds)
    return summarize(Simulation(specs, workload, config).run())


def test_intelligence_uses_fewer_nodes_than_binpack_on_repeated_over_asking_kinds():
    binpack, smart = run("binpack"), run("intelligence")
    assert smart["nodes_used"]["mean"] < binpack["nodes_used"]["mean"]
    assert smart["utilization"]["requested"]["cpus"] < binpack["utilization"]["requested"]["cpus"]
    # The same work ran; what it risked is counted (binpack never launches undersized).
    assert smart["tasks"]["never_ran"] == binpack["tasks"]["never_ran"]
    assert binpack["agents"]["oom_killed"] == 0
    assert smart["agents"]["oom_killed"] >= 0 and smart["sla_violations"] == 0


def test_sizing_cpus_only_risks_no_oom_and_still_asks_for_less():
    binpack = run("binpack")
    smart = run("intelligence", KindSettings(size_memory=False))
    assert smart["agents"]["oom_killed"] == 0
    assert smart["utilization"]["requested"]["mem"] == binpack["utilization"]["requested"]["mem"]
    assert smart["utilization"]["requested"]["cpus"] < binpack["utilization"]["requested"]["cpus"]
