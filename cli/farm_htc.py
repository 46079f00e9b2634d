"""`berth farm throughput|select|add`: ConPaaS's HTC service on a farm (docs/farming.md;
its `submit` is beside `run` in cli/farm.py). Real farms over
`/v1/farms/{id}/throughput|select|bags`; demo farms computed here and run in the
simulator (simulator/farm_demo.py)."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from cli.client import url_option
from cli.farm_common import (
    call,
    demo_dir_option,
    demo_view,
    refuse,
    report_option,
    write_report,
)
from framework.farm_htc import (
    NoConfiguration,
    describe,
    for_pool,
    for_target,
    throughput_answer,
)
from framework.farm_htc import throughput_function as function_of
from framework.farms import BadFarmInput, parse_bag
from simulator.farm_demo import DemoFarms, demo_add, runtime_laws
from simulator.farm_plot import plot_throughput


def _pool(pool: dict) -> str:
    return ", ".join(f"{n} x{c}" for n, c in sorted(pool.items()) if c)


def _print_function(answer: dict) -> None:
    table = Table(title="throughput = f(cost): the front (cheapest first)")
    for column in ("pool", "tasks/hour", "cost/hour"):
        table.add_column(column)
    for c in answer["function"]:
        if c["pareto"]:
            table.add_row(_pool(c["pool"]), f"{c['throughput']:.1f}", f"{c['cost']:.4f}")
    Console(width=120).print(table)
    chosen = answer.get("for_target")
    if chosen:
        click.echo(f"for {chosen['target']:g} tasks/hour: {_pool(chosen['pool'])} "
                   f"({chosen['throughput']:.1f} tasks/hour), cost {chosen['cost']:.4f} "
                   "per hour")
    if answer.get("configuration"):
        click.echo(f"current configuration: {_pool(answer['configuration'])} for "
                   f"{answer['target']:g} tasks/hour")


def _demo_answer(farm_id: str, demo_dir: Path, target: float | None) -> dict:
    farm, _ = DemoFarms(demo_dir).load(farm_id)
    if not farm.samples:
        raise click.ClickException(f"farm {farm_id} has no samples yet: sample it")
    try:
        return throughput_answer(farm, target)
    except NoConfiguration as exc:
        raise click.ClickException(str(exc)) from None


def _answer(farm_id: str, target: float | None, demo_dir: Path, url: str) -> dict:
    if DemoFarms(demo_dir).has(farm_id):
        return _demo_answer(farm_id, demo_dir, target)
    query = "" if target is None else f"?target={target!r}"
    return call("GET", f"{url}/v1/farms/{farm_id}/throughput{query}")


@click.command("throughput")
@click.argument("farm_id")
@click.option("--target", type=click.FloatRange(0), default=None,
              help="Tasks per hour: the cheapest pool reaching it, and its cost.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Draw throughput = f(cost) to this PNG.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON.")
@report_option
@demo_dir_option
@url_option
def throughput(farm_id: str, target: float | None, plot: Path | None, as_json: bool,
               report_dir: Path | None, demo_dir: Path, url: str) -> None:
    """HTC: throughput = f(cost) from the samples; with --target the cheapest pool that
    reaches it (none: the most there is is named, non-zero exit)."""
    answer = _answer(farm_id, target, demo_dir, url)
    if as_json:
        click.echo(json.dumps(answer, indent=2))
    else:
        _print_function(answer)
    if plot is not None:
        plot_throughput(answer["function"], plot, f"farm {farm_id}: throughput = f(cost)",
                        answer.get("for_target"))
    if report_dir is not None:
        write_report(farm_id, report_dir, demo_dir, url, throughput=answer)


def _parse_pool(values: tuple[str, ...]) -> dict[str, int] | None:
    if not values:
        return None
    pool: dict[str, int] = {}
    for value in values:
        name, _, count = value.partition("=")
        if not name or not count.isdigit():
            raise click.BadParameter(f"{value!r}: give TYPE=NODES, e.g. small=2",
                                     param_hint="--pool")
        pool[name] = int(count)
    return pool


@click.command("select")
@click.argument("farm_id")
@click.option("--target", type=click.FloatRange(0), default=None,
              help="Tasks per hour the farm's configuration should reach.")
@click.option("--pool", "pool_values", multiple=True, metavar="TYPE=NODES",
              help="Or the pool itself, a node type at a time (ConPaaS's create_worker "
                   "and remove_worker): --pool small=2 --pool big=1.")
@demo_dir_option
@url_option
def select(farm_id: str, target: float | None, pool_values: tuple[str, ...],
           demo_dir: Path, url: str) -> None:
    """HTC: make the cheapest pool reaching TARGET tasks/hour (or the --pool given) the
    farm's configuration; `submit` and bags added later run on it."""
    pool = _parse_pool(pool_values)
    if (target is None) == (pool is None):
        raise click.UsageError("give exactly one of --target and --pool")
    demos = DemoFarms(demo_dir)
    if demos.has(farm_id):
        farm, given = demos.load(farm_id)
        if not farm.samples:
            raise click.ClickException(f"farm {farm_id} has no samples yet: sample it")
        function = function_of(farm.samples, farm.nodetypes, farm.slots)
        try:
            chosen = for_pool(function, pool, farm.nodetypes) if pool is not None \
                else for_target(function, target)
        except NoConfiguration as exc:
            raise click.ClickException(str(exc)) from None
        except BadFarmInput as exc:
            raise refuse(exc) from None
        demos.save(dataclasses.replace(
            farm, target=chosen.throughput if pool is not None else target,
            configuration=dict(chosen.pool)), given)
        click.echo(f"selected {describe(chosen)}")
        return
    body: dict[str, Any] = {"target": target} if pool is None else {"pool": pool}
    answer: dict[str, Any] = call("POST", f"{url}/v1/farms/{farm_id}/select", body)
    chosen = answer["selected"]
    click.echo(f"selected {_pool(chosen['pool'])}: {chosen['throughput']:.1f} tasks/hour "
               f"for {chosen['cost']:.4f}/hour")


@click.command("add")
@click.argument("farm_id")
@click.argument("bag", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--wait", is_flag=True, help="Wait until the bag has run.")
@click.option("--seed", default=None, type=int, help="Demo: the execution's seed.")
@demo_dir_option
@url_option
def add(farm_id: str, bag: Path, wait: bool, seed: int | None, demo_dir: Path,
        url: str) -> None:
    """HTC: add BAG to the farm: submitted at once on its current configuration."""
    text = bag.read_text(errors="replace")
    try:
        commands = parse_bag(text, str(bag))
    except BadFarmInput as exc:
        raise refuse(exc) from None
    demos = DemoFarms(demo_dir)
    if demos.has(farm_id):
        farm, given = demos.load(farm_id)
        if not farm.configuration:
            raise click.ClickException(f"farm {farm_id} has no configuration: select a "
                                       "target throughput first (berth farm select)")
        farm = demo_add(farm, commands, runtime_laws(given, farm.nodetypes),
                        farm.seed if seed is None else seed)
        demos.save(farm, given)
        view = demo_view(farm)
    else:
        view = call("POST", f"{url}/v1/farms/{farm_id}/bags", {"bag": text},
                             ok=(202,))
        number = view["added"]
        while wait and view["bags"][number - 1]["phase"] == "running":
            time.sleep(0.5)  # polling the framework
            view = call("GET", f"{url}/v1/farms/{farm_id}")
    last = view["bags"][-1]
    click.echo(f"bag {last['number']} of farm {farm_id}: {last['tasks']} tasks on "
               f"{_pool(last['pool'])} ({_pool(last['shares'])}), {last['phase']}, "
               f"{last['done']} done"
               + ("" if last["run_seconds"] is None else f", {last['run_seconds']:.1f} s"))
    if last["phase"] == "failed":
        raise click.ClickException(f"the bag failed: {last['reason']}")


HTC_COMMANDS = (throughput, select, add)
