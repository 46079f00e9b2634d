"""`berth farm ...`: task farming (docs/farming.md). Each step talks to the framework's
`/v1/farms`; a farm created with `--demo` lives in a local directory instead and every
step of it runs in the simulator (simulator/farm_demo.py): no time, no money."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress_bar import ProgressBar
from rich.table import Table

from cli.client import url_option
from cli.farm_common import (
    call,
    demo_dir_option,
    demo_schedules,
    demo_view,
    refuse,
    report_option,
    write_report,
)
from cli.farm_htc import HTC_COMMANDS
from framework.farm_schedules import NoSchedule, choose, forecast_of
from framework.farms import (
    BadFarmInput,
    Farm,
    farm_view,
    parse_bag,
    parse_nodetype,
)
from simulator.farm_demo import (
    BadRuntimes,
    DemoFarms,
    demo_run,
    demo_sample,
    runtime_laws,
)
from simulator.farm_plot import plot_schedules


@click.group("farm")
def farm_group() -> None:
    """Task farming: sample a bag of tasks on each node type, choose a cost/makespan
    schedule, run the rest (ConPaaS's TaskFarming service)."""


@farm_group.command("create")
@click.argument("bag", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--image", required=True, help="The image every task runs in.")
@click.option("--slots", default=1, show_default=True, type=click.IntRange(1, 256),
              help="Tasks at a time on one node.")
@click.option("--cpus", default=0.1, show_default=True, type=float)
@click.option("--mem", default=32.0, show_default=True, type=float, help="MiB per task.")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Which tasks are sampled; the schedules' simulation.")
@click.option("--demo", is_flag=True, help="Run every step in the simulator instead.")
@click.option("--nodetype", "nodetypes", multiple=True, metavar="NAME=PRICE[:NODES]",
              help="Demo: a node type, its price per node-hour and how many (repeat).")
@click.option("--runtimes", "runtimes_file", type=click.Path(exists=True, dir_okay=False,
                                                              path_type=Path),
              help="Demo: JSON, per node type a list of seconds or a distribution.")
@click.option("--runtime", "runtime_laws_given", multiple=True, metavar="NAME=LAW",
              help="Demo: a node type's runtimes, e.g. small=lognormal:20:0.4 (repeat).")
@demo_dir_option
@url_option
def create(bag: Path, image: str, slots: int, cpus: float, mem: float, seed: int,
           demo: bool, nodetypes: tuple[str, ...], runtimes_file: Path | None,
           runtime_laws_given: tuple[str, ...], demo_dir: Path, url: str) -> None:
    """Create a farm of BAG (one shell command a line); prints its id."""
    text = bag.read_text(errors="replace")
    try:
        parse_bag(text, str(bag))
    except BadFarmInput as exc:
        raise refuse(exc) from None
    if not demo:
        if nodetypes or runtimes_file or runtime_laws_given:
            raise click.UsageError("--nodetype, --runtimes and --runtime are for --demo; a "
                                   "real farm's node types are its agents' (nodetype, "
                                   "price)")
        answer = call("POST", f"{url}/v1/farms", {"image": image, "bag": text,
                                                   "slots": slots, "cpus": cpus,
                                                   "mem": mem, "seed": seed}, ok=(201,))
        click.echo(answer["id"])
        return
    try:
        types = {t.name: t for t in map(parse_nodetype, nodetypes)}
        if not types:
            raise click.UsageError("--demo needs at least one --nodetype NAME=PRICE[:NODES]")
        given = _runtimes(runtimes_file, runtime_laws_given)
        runtime_laws(given, types)
        farm = Farm("demo-" + os.urandom(4).hex(), "default", image,
                    parse_bag(text, str(bag)), types, 0.0, demo=True, slots=slots,
                    cpus=cpus, mem=mem, seed=seed)
    except BadFarmInput as exc:
        raise refuse(exc) from None
    except BadRuntimes as exc:
        raise click.ClickException(str(exc)) from None
    DemoFarms(demo_dir).save(farm, given)
    click.echo(farm.id)


def _runtimes(path: Path | None, laws: tuple[str, ...]) -> dict[str, Any]:
    given: dict[str, Any] = {}
    if path is not None:
        try:
            given = json.loads(path.read_text())
        except ValueError as exc:
            raise BadRuntimes(f"{path}: not JSON: {exc}") from None
        if not isinstance(given, dict):
            raise BadRuntimes(f"{path}: give an object, node type -> runtimes")
    for law in laws:
        name, sep, value = law.partition("=")
        if not sep:
            raise BadRuntimes(f"--runtime {law!r}: give NAME=LAW")
        given[name.strip()] = value.strip()
    return given


@farm_group.command("sample")
@click.argument("farm_id")
@click.option("--size", type=click.IntRange(1, 100_000), default=None,
              help="Tasks sampled on each node type (default 31, or all of a smaller bag).")
@click.option("--wait", is_flag=True, help="Wait until the sampling ends.")
@demo_dir_option
@url_option
def sample(farm_id: str, size: int | None, wait: bool, demo_dir: Path, url: str) -> None:
    """Run a sample of the bag on each node type, for real (batch jobs) or in the demo."""
    demos = DemoFarms(demo_dir)
    if demos.has(farm_id):
        farm, given = demos.load(farm_id)
        if farm.phase.value != "created":
            raise click.ClickException(f"farm {farm_id} is {farm.phase.value}: it is "
                                       "sampled once, right after it is created")
        farm = demo_sample(farm, runtime_laws(given, farm.nodetypes), size)
        demos.save(farm, given)
        _print_status(farm_view(farm, 0, farm.sample_seconds or 0.0))
        return
    call("POST", f"{url}/v1/farms/{farm_id}/sample",
          {} if size is None else {"size": size}, ok=(202,))
    view = _wait_for(url, farm_id, ("sampled", "failed")) if wait else \
        call("GET", f"{url}/v1/farms/{farm_id}")
    _print_status(view)
    if view["phase"] == "failed":
        raise click.ClickException(f"sampling failed: {view['reason']}")


def _wait_for(url: str, farm_id: str, phases: tuple[str, ...]) -> dict:
    while True:
        view = call("GET", f"{url}/v1/farms/{farm_id}")
        if view["phase"] in phases or view["phase"] == "failed":
            return view
        time.sleep(0.5)  # polling the framework


@farm_group.command("schedules")
@click.argument("farm_id")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The PNG to draw (default FARM-schedules.png).")
@click.option("--no-plot", is_flag=True)
@click.option("--replications", default=200, show_default=True,
              type=click.IntRange(10, 5000), help="Simulated executions per pool.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON.")
@report_option
@demo_dir_option
@url_option
def schedules_command(farm_id: str, plot: Path | None, no_plot: bool, replications: int,
                      as_json: bool, report_dir: Path | None, demo_dir: Path,
                      url: str) -> None:
    """The cost/makespan schedules of the rest of the bag, from the samples."""
    demos = DemoFarms(demo_dir)
    if demos.has(farm_id):
        farm, _ = demos.load(farm_id)
        if not farm.samples:
            raise click.ClickException(f"farm {farm_id} has no samples yet: sample it")
        found = [s.as_json() for s in demo_schedules(farm, replications)]
    else:
        found = call("GET", f"{url}/v1/farms/{farm_id}/schedules?replications="
                             f"{replications}")["schedules"]
    if as_json:
        click.echo(json.dumps(found, indent=2))
    else:
        _print_schedules(found)
    if not no_plot:
        path = plot or Path(f"{farm_id}-schedules.png")
        plot_schedules(found, path, f"farm {farm_id}: schedules")
        if not as_json:
            click.echo(f"plot: {path}")
    if report_dir is not None:
        write_report(farm_id, report_dir, demo_dir, url, schedules=found)


def _pool(pool: dict) -> str:
    return ", ".join(f"{n} x{c}" for n, c in sorted(pool.items()) if c)


def _print_schedules(found: list[dict]) -> None:
    table = Table(title="schedules (cheapest first; * on the Pareto front)")
    for column in ("#", "pool", "tasks", "makespan s [95%]", "cost [95%]", ""):
        table.add_column(column)
    for s in found:
        m, c = s["makespan"], s["cost"]
        table.add_row(str(s["index"]), _pool(s["pool"]), _pool(s["shares"]),
                      f"{m['mean']:.1f} [{m['low']:.1f}, {m['high']:.1f}]",
                      f"{c['mean']:.4f} [{c['low']:.4f}, {c['high']:.4f}]",
                      "*" if s["pareto"] else "")
    Console(width=140).print(table)


@farm_group.command("run")
@click.argument("farm_id")
@click.option("--schedule", "index", type=click.IntRange(0), default=None,
              help="The schedule's number (berth farm schedules).")
@click.option("--budget", type=click.FloatRange(0), default=None,
              help="The fastest schedule whose cost (upper bound) is within it.")
@click.option("--deadline", type=click.FloatRange(0), default=None,
              help="Seconds: the cheapest schedule whose makespan (upper bound) is within.")
@click.option("--seed", default=None, type=int, help="Demo: the execution's seed.")
@click.option("--wait", is_flag=True, help="Wait until the run ends.")
@report_option
@demo_dir_option
@url_option
def run(farm_id: str, index: int | None, budget: float | None, deadline: float | None,
        seed: int | None, wait: bool, report_dir: Path | None, demo_dir: Path,
        url: str) -> None:
    """Run the rest of the bag on a schedule."""
    if sum(v is not None for v in (index, budget, deadline)) != 1:
        raise click.UsageError("give exactly one of --schedule, --budget, --deadline")
    _run_rest(farm_id, {k: v for k, v in (("schedule", index), ("budget", budget),
                                          ("deadline", deadline)) if v is not None},
              seed, wait, report_dir, demo_dir, url)


@farm_group.command("submit")
@click.argument("farm_id")
@click.option("--seed", default=None, type=int, help="Demo: the execution's seed.")
@click.option("--wait", is_flag=True, help="Wait until the run ends.")
@report_option
@demo_dir_option
@url_option
def submit(farm_id: str, seed: int | None, wait: bool, report_dir: Path | None,
           demo_dir: Path, url: str) -> None:
    """HTC: run the rest of the bag on the configuration `select` chose."""
    _run_rest(farm_id, {"configuration": True}, seed, wait, report_dir, demo_dir, url)


def _run_rest(farm_id: str, which: dict[str, Any], seed: int | None, wait: bool,
              report_dir: Path | None, demo_dir: Path, url: str) -> None:
    """`run` and `submit`: the rest of the bag on the schedule `which` names (the keys of
    `POST /v1/farms/{id}/run`), on the framework or, for a demo farm, in the simulator."""
    demos = DemoFarms(demo_dir)
    if not demos.has(farm_id):
        call("POST", f"{url}/v1/farms/{farm_id}/run", which, ok=(202,))
        view = _wait_for(url, farm_id, ("done",)) if wait else \
            call("GET", f"{url}/v1/farms/{farm_id}")
        _print_status(view)
        if report_dir is not None:
            write_report(farm_id, report_dir, demo_dir, url)
        if view["phase"] == "failed":
            raise click.ClickException(f"the run failed: {view['reason']}")
        return
    farm, given = demos.load(farm_id)
    if farm.phase.value != "sampled":
        raise click.ClickException(f"farm {farm_id} is {farm.phase.value}: a farm runs "
                                   "once, after its sampling")
    if which.get("configuration") and not farm.configuration:
        raise click.ClickException(f"farm {farm_id} has no configuration: select a "
                                   "target throughput first (berth farm select)")
    try:
        chosen = choose(demo_schedules(farm, 200), index=which.get("schedule"),
                        budget=which.get("budget"), deadline=which.get("deadline"),
                        pool=farm.configuration if which.get("configuration") else None)
    except (NoSchedule, IndexError) as exc:
        raise click.ClickException(str(exc)) from None
    done = demo_run(farm, chosen, runtime_laws(given, farm.nodetypes),
                    farm.seed if seed is None else seed)
    done = dataclasses.replace(done, forecast=forecast_of(chosen))
    demos.save(done, given)
    _print_status(demo_view(done))
    if report_dir is not None:
        write_report(farm_id, report_dir, demo_dir, url)


@farm_group.command("stop")
@click.argument("farm_id")
@demo_dir_option
@url_option
def stop(farm_id: str, demo_dir: Path, url: str) -> None:
    """Stop what the farm runs (its sampling, run or bags), whatever its tasks are doing
    (ConPaaS's `stop`); they end `stopped`, their pools paid until now."""
    demos = DemoFarms(demo_dir)
    if demos.has(farm_id):  # a demo farm's steps run at once: nothing is left running
        farm, _ = demos.load(farm_id)
        _print_status(demo_view(farm))
        return
    _print_status(call("POST", f"{url}/v1/farms/{farm_id}/stop"))


@farm_group.command("delete")
@click.argument("farm_id")
@demo_dir_option
@url_option
def delete(farm_id: str, demo_dir: Path, url: str) -> None:
    """Stop the farm, delete its jobs and forget it (ConPaaS's `terminate`)."""
    demos = DemoFarms(demo_dir)
    if demos.has(farm_id):
        demos.path(farm_id).unlink()
    else:
        call("DELETE", f"{url}/v1/farms/{farm_id}")
    click.echo(f"Farm {farm_id} deleted.")


@farm_group.command("status")
@click.argument("farm_id")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON.")
@demo_dir_option
@url_option
def status(farm_id: str, as_json: bool, demo_dir: Path, url: str) -> None:
    """A farm's phase, progress, money spent so far and forecast."""
    demos = DemoFarms(demo_dir)
    if demos.has(farm_id):
        farm, _ = demos.load(farm_id)
        view = demo_view(farm) if farm.run_seconds is not None else \
            farm_view(farm, 0, farm.sample_seconds or 0.0)
    else:
        view = call("GET", f"{url}/v1/farms/{farm_id}")
    if as_json:
        click.echo(json.dumps(view, indent=2))
    else:
        _print_status(view)


def _print_status(view: dict) -> None:
    console = Console(width=120)
    progress = view["progress"]
    mode = " (demo: simulated, no time, no money)" if view["demo"] else ""
    console.print(f"farm {view['id']}: {view['phase']}{mode}, {view['tasks']} tasks, "
                  f"{view['sampled']} sampled")
    for name, s in view["samples"].items():
        mean = "-" if s["mean"] is None else f"{s['mean']:.2f} s"
        console.print(f"  {name}: {s['count']} samples, mean {mean}")
    grid = Table.grid(padding=(0, 1))
    if view.get("sampling"):
        sampling = view["sampling"]
        grid.add_row(ProgressBar(total=max(sampling["total"], 1),
                                 completed=sampling["done"], width=40),
                     f"sampling: {sampling['done']} of {sampling['total']} sampled runs")
    grid.add_row(ProgressBar(total=max(progress["total"], 1), completed=progress["done"],
                             width=40),
                 f"{progress['done']} done / {progress['left']} left of {progress['total']}")
    console.print(grid)
    console.print(f"spent so far: {view['spent']:.4f}")
    forecast = view.get("forecast")
    if forecast:
        console.print(f"forecast (schedule #{int(forecast['index'])}, "
                      f"{_pool(view['pool'])}): makespan {forecast['makespan']:.1f} s "
                      f"[{forecast['makespan_low']:.1f}, {forecast['makespan_high']:.1f}], "
                      f"cost {forecast['cost']:.4f} [{forecast['cost_low']:.4f}, "
                      f"{forecast['cost_high']:.4f}]")
    expected = view.get("expected")
    if expected and view["phase"] == "running":
        console.print(f"expected now: makespan {expected['makespan']:.1f} s, "
                      f"{expected['remaining']:.1f} s left, cost {expected['cost']:.4f}")
    if view.get("run_seconds") is not None:
        console.print(f"executed makespan: {view['run_seconds']:.1f} s")
    if view.get("reason"):
        console.print(f"reason: {view['reason']}")
    htc = view.get("htc") or {}
    if htc.get("configuration"):
        console.print(f"HTC configuration: {_pool(htc['configuration'])} for "
                      f"{htc['target']:g} tasks/hour")
    for bag in view.get("bags") or []:
        seconds = "" if bag["run_seconds"] is None else f", {bag['run_seconds']:.1f} s"
        console.print(f"  bag {bag['number']}: {bag['done']} of {bag['tasks']} done on "
                      f"{_pool(bag['pool'])}, {bag['phase']}{seconds}")


for _command in HTC_COMMANDS:
    farm_group.add_command(_command)
