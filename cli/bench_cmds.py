"""`berth bench ...`: each benchmark prints one JSON document."""

from __future__ import annotations

import json

import click

from cli import bench


def emit(result: dict, as_json: bool) -> None:
    click.echo(json.dumps(result, indent=None if as_json else 2))


@bench.command("placement")
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
