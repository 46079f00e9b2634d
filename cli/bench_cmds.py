"""`berth bench ...`: each benchmark prints one JSON document."""

from __future__ import annotations

import json

import click


def emit(result: dict, as_json: bool) -> None:
    click.echo(json.dumps(result, indent=None if as_json else 2))


@click.command("placement")
@click.option("--nodes", default=10_000, show_default=True)
@click.option("--tasks", default=100_000, show_default=True)
@click.option("--classes", default=100, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--baseline-seconds", default=60.0, show_default=True,
              help="Time budget for the plain-Python loop; its rate is measured over what it "
                   "places in that time.")
@click.option("--json", "as_json", is_flag=True, help="One line of JSON.")
def bench_placement(nodes: int, tasks: int, classes: int, seed: int, baseline_seconds: float,
                    as_json: bool) -> None:
    """The placement core against a plain-Python first-fit loop, and binpack's packing."""
    from benchmarks.placement import run

    emit(run(nodes, tasks, classes, seed, baseline_seconds), as_json)


@click.command("e2e")
@click.option("--launches", default=20, show_default=True,
              help="Launches timed for ACCEPT -> RUNNING (and as many bare `docker run -d`).")
@click.option("--agents", default=1000, show_default=True,
              help="Simulated agents for the master's offer cycle.")
@click.option("--baseline-agents", default=10, show_default=True)
@click.option("--skip", type=click.Choice(["launch", "master"]), multiple=True,
              help="Leave out a part (launch needs a Docker engine).")
@click.option("--json", "as_json", is_flag=True, help="One line of JSON.")
def bench_e2e(launches: int, agents: int, baseline_agents: int, skip: tuple[str, ...],
              as_json: bool) -> None:
    """ACCEPT -> RUNNING against bare `docker run -d`, and the master's offer cycle and RSS
    with many agents against a few."""
    result: dict = {"benchmark": "e2e"}
    if "launch" not in skip:
        from benchmarks.launch_latency import run as launch_run

        result["launch"] = launch_run(launches=launches, via="master")
    if "master" not in skip:
        from benchmarks.master_scale import run as master_run

        result["master"] = master_run(agents=agents, baseline_agents=baseline_agents)
    emit(result, as_json)


@click.command("api")
@click.option("--seconds", default=5.0, show_default=True, help="How long to POST tasks.")
@click.option("--concurrency", default=16, show_default=True, help="Clients posting at once.")
@click.option("--list-tasks", default=10_000, show_default=True,
              help="Tasks held when timing GET /client/task.")
@click.option("--json", "as_json", is_flag=True, help="One line of JSON.")
def bench_api(seconds: float, concurrency: int, list_tasks: int, as_json: bool) -> None:
    """Task POSTs per second and GET /client/task with many tasks, against GET /admin/ping
    on the same server in the same run."""
    from benchmarks.api_load import run

    emit(run(seconds=seconds, concurrency=concurrency, list_tasks=list_tasks), as_json)
