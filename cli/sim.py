"""`berth sim`: run the framework's scheduler on a simulated cluster and write a report."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click

from offers.problems import FieldProblem, SpecError
from simulator.inputs import IncumbentStep, InputError, read_cluster, read_workload
from simulator.nodes import DAY, parse_node_shape, uniform_nodes
from simulator.synthetic import SyntheticParams, SyntheticWorkload

STRATEGY_NAMES = ("binpack", "spread", "first-fit", "random", "intelligence")


def _strategies(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in names if s not in STRATEGY_NAMES]
    if bad or not names:
        raise click.BadParameter(f"{', '.join(bad) or text!r}: choose from "
                                 f"{', '.join(STRATEGY_NAMES)}", param_hint="--compare")
    return names


@click.command("sim")
@click.option("--cluster", "cluster_path", type=click.Path(path_type=Path),
              help="Cluster file: a JSON list of nodes.")
@click.option("--nodes", type=click.IntRange(1), help="Or: this many identical nodes.")
@click.option("--node-shape", default="cpus:16,mem:65536,disk:500000", show_default=True,
              help="Size of each --nodes node.")
@click.option("--workload", "workload_path", type=click.Path(path_type=Path),
              help="Workload: JSON Lines of tasks (or jobs) with submit_at, duration, used.")
@click.option("--synthetic", is_flag=True, help="Or: generate a seeded synthetic workload.")
@click.option("--trace", "trace_spec", metavar="FORMAT:PATH[,PATH...]",
              help="Or: a public cluster trace's first --duration seconds (FORMAT: "
                   "google2011, google2019, alibaba2018, azure; PATH a file, a folder or "
                   "TABLE=FILE; gzip or plain). Its machines are the cluster unless "
                   "--cluster or --nodes is given. See docs/traces.md.")
@click.option("--trace-scale", metavar="cpus:N,mem:MiB",
              help="The machine a normalized size of 1.0 stands for (Google; Alibaba's "
                   "memory 100) [default: cpus:32,mem:131072 for Google, "
                   "mem:524288 for Alibaba].")
@click.option("--replay-from", "replay_url", metavar="DB_URL",
              help="Or: replay what berth recorded in its framework store (e.g. "
                   "sqlite:///DATA/berth.db): the tasks it ran, on the agents it was "
                   "offered, losing the agents it lost. See docs/traces.md.")
@click.option("--since", metavar="TIME", help="With --replay-from: the window's start (ISO "
                                              "8601, epoch seconds, or ago: 7d, 12h).")
@click.option("--until", metavar="TIME", help="With --replay-from: the window's end "
                                              "(default: now).")
@click.option("--tasks", default=1000, show_default=True, type=click.IntRange(1),
              help="Tasks in the synthetic workload.")
@click.option("--strategy", default="binpack", show_default=True,
              type=click.Choice(STRATEGY_NAMES))
@click.option("--compare", help="Run each of these strategies (comma-separated) instead.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--fail-rate", default=0.0, show_default=True, type=click.FloatRange(0),
              help="Agent losses per node per simulated hour.")
@click.option("--repair-time", default=600.0, show_default=True, type=click.FloatRange(0),
              help="Mean seconds until a lost agent comes back.")
@click.option("--duration", "horizon", default=DAY, show_default=True,
              type=click.FloatRange(1), help="Simulated seconds.")
@click.option("--incumbent-load", type=click.FloatRange(0, 0.95),
              help="Share of node capacity used by the nodes' own programs, varying over a "
                   "day [default: 0.2 with --synthetic, else 0].")
@click.option("--reshuffle-every", type=click.FloatRange(1),
              help="Seconds between reshuffles [default: 6 h with --synthetic, else never].")
@click.option("--offer-interval", default=10.0, show_default=True, type=click.FloatRange(0.1),
              help="Seconds between offer cycles.")
@click.option("--refuse-seconds", default=60.0, show_default=True, type=click.FloatRange(0),
              help="The framework's decline filter.")
@click.option("--elastic", is_flag=True,
              help="Tasks yield to their node's own load as on the agent: limits lowered, "
                   "then preemption; the report adds the incumbent's quality of service.")
@click.option("--sweep", "sweeps", multiple=True, metavar="NAME=V1,V2,...",
              help="Run every combination of these values (repeatable) on the same "
                   "workload and seed, in parallel; NAME one of strategy, margin, "
                   "refuse_seconds (decline_filter), offer_interval, reshuffle_every, "
                   "backoff, max_backoff, autoscale_tick, elastic. Reports the table, the "
                   "Pareto front and a recommended setting.")
@click.option("--jobs", type=click.IntRange(1),
              help="Sweep runs at once [default: all cores].")
@click.option("--report", "report_dir", required=True, type=click.Path(path_type=Path),
              help="Directory for summary.json, intervals.csv, plots and report.md.")
def sim_command(cluster_path, nodes, node_shape, workload_path, synthetic, trace_spec,
                trace_scale, replay_url, since, until, tasks, strategy, compare, seed,
                fail_rate, repair_time, horizon, incumbent_load,
                reshuffle_every, offer_interval, refuse_seconds, elastic, sweeps, jobs,
                report_dir) -> None:
    """Simulate the scheduler over a cluster and workload; print the summary as JSON
    (with --sweep: the table of outcomes and the recommended setting)."""
    import json

    from simulator.report import atomic_dir, summarize, write_comparison, write_report
    from simulator.run import SimConfig, Simulation

    if jobs is not None and not sweeps:
        raise click.UsageError("--jobs goes with --sweep")
    grid = _sweep_grid(sweeps, compare) if sweeps else None
    if cluster_path is not None and nodes is not None:
        raise click.UsageError("give only one of --cluster FILE or --nodes N")
    if [workload_path is not None, synthetic, trace_spec is not None,
            replay_url is not None].count(True) != 1:
        raise click.UsageError("give exactly one of --workload FILE, --synthetic, "
                               "--trace FORMAT:PATH or --replay-from DB_URL")
    if replay_url is None and (since is not None or until is not None):
        raise click.UsageError("--since and --until go with --replay-from")
    strategies = _strategies(compare) if compare else [strategy]
    losses: tuple = ()
    try:
        trace = None
        if replay_url is not None:
            trace, losses, horizon = _replay(replay_url, since, until,
                                             cluster_given=cluster_path is not None
                                             or nodes is not None)
        elif trace_spec is not None:
            trace = _read_trace(trace_spec, trace_scale, horizon,
                                cluster_given=cluster_path is not None or nodes is not None)
        if cluster_path is not None:
            node_specs = read_cluster(cluster_path)
        elif nodes is not None:
            node_specs = uniform_nodes(nodes, parse_node_shape(node_shape))
        elif trace is not None:
            node_specs = trace.nodes
        else:
            raise click.UsageError("give exactly one of --cluster FILE or --nodes N")
        if trace is not None:
            workload = trace.workload
        elif synthetic:
            nodetypes = {n.nodetype for n in node_specs if n.nodetype}
            workload = SyntheticWorkload(SyntheticParams(tasks=tasks, horizon=horizon), seed,
                                         sum(n.cpus for n in node_specs), nodetypes)
        else:
            workload = read_workload(workload_path)
            _check_load_nodes(workload_path, workload, node_specs)
    except InputError as exc:
        click.echo(f"bad input, no report written:\n{exc}", err=True)
        sys.exit(2)
    except SpecError as exc:
        click.echo("bad input, no report written:\n" + "\n".join(
            f"--{p.field}: {p.problem}" for p in exc.problems), err=True)
        sys.exit(2)
    except (OSError, UnicodeDecodeError) as exc:
        click.echo(f"cannot read input: {exc}", err=True)
        sys.exit(2)

    if incumbent_load is None:
        incumbent_load = 0.2 if synthetic else 0.0
    if reshuffle_every is None and synthetic:
        reshuffle_every = 6 * 3600.0
    base = SimConfig(strategy=strategy, seed=seed, horizon=horizon, fail_rate=fail_rate,
                     repair_time=repair_time, incumbent_load=incumbent_load,
                     reshuffle_every=reshuffle_every, offer_interval=offer_interval,
                     refuse_seconds=refuse_seconds, elastic=elastic, agent_losses=losses)
    if grid is not None:
        _sweep(grid, base, node_specs, workload, jobs, report_dir)
        return
    results = {}
    with atomic_dir(report_dir) as out, _progress(len(strategies)) as advance:
        for name in strategies:
            config = replace(base, strategy=name)
            results[name] = Simulation(node_specs, workload, config,
                                       progress=advance(name, horizon)).run()
        if compare:
            summaries = write_comparison(results, out)
            printed = {name: {k: s[k] for k in ("utilization", "pending_time_s",
                                                "sla_violations", "nodes_used", "run")}
                       for name, s in summaries.items()}
        else:
            printed = write_report(results[strategy], out, summarize(results[strategy]))
    click.echo(json.dumps(printed))
    if any(r.checker.violations for r in results.values()):
        click.echo("SLA violations found: see the report", err=True)
        sys.exit(1)


def _sweep_grid(sweeps: tuple[str, ...], compare: str | None) -> dict:
    """The sweep's values, every bad name or value reported before anything runs."""
    from simulator.sweep_params import parse_sweeps

    if compare:
        raise click.UsageError("give --compare or --sweep, not both (--sweep "
                               "strategy=A,B compares strategies too)")
    try:
        return parse_sweeps(sweeps)
    except SpecError as exc:
        click.echo("bad --sweep, nothing run:\n" + "\n".join(
            f"--sweep {p.field}: {p.problem}" for p in exc.problems), err=True)
        sys.exit(2)


def _sweep(grid: dict, base, node_specs, workload, jobs: int | None, report_dir: Path) -> None:
    """Run every combination in parallel, write the sweep's report, print its table and
    the recommended setting; exit 1 if any run saw an SLA violation."""
    from simulator.report import atomic_dir
    from simulator.sweep import default_jobs, run_sweep
    from simulator.sweep_params import combinations, varying
    from simulator.sweep_report import rows, run_labels, write_sweep

    try:
        combos = combinations(grid, base)
    except SpecError as exc:
        click.echo("bad --sweep, nothing run:\n" + "\n".join(
            f"--sweep {p.field}: {p.problem}" for p in exc.problems), err=True)
        sys.exit(2)
    jobs = jobs or default_jobs()
    click.echo(f"sweep: {len(combos)} settings, {min(jobs, len(combos))} at a time", err=True)
    with atomic_dir(report_dir) as out, _sweep_progress(len(combos)) as done:
        runs = run_sweep(node_specs, workload, combos, jobs, done)
        analysis = write_sweep(runs, grid, out)
    _print_table(rows(runs, analysis), run_labels(runs, grid), varying(grid), analysis)
    if any(r.summary["sla_violations"] for r in runs):
        click.echo("SLA violations found: see the report", err=True)
        sys.exit(1)


def _print_table(table: list[dict], labels: list[str], settings: list[str],
                 analysis) -> None:
    """The outcomes on stdout, then the recommended setting and why."""
    from rich.console import Console

    from simulator.sweep_report import terminal_table

    console = Console(width=max(160, Console().width))
    console.print(terminal_table(table, settings))
    pick = analysis.recommended
    if pick is not None:
        console.print(f"recommended: {labels[pick.index]}\nbecause: {pick.reason}",
                      highlight=False, soft_wrap=True)


class _sweep_progress:
    """A rich progress bar on stderr counting finished settings; silent if not a tty.
    Redrawn only as a setting finishes: no refresh thread alive when the pool forks."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar = None

    def __enter__(self):
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self.bar = Progress(BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                console=Console(stderr=True), auto_refresh=False)
            self.bar.__enter__()
            self.task = self.bar.add_task("sweep", total=self.total)
        return self.done

    def done(self, _k: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)
            self.bar.refresh()

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def _read_trace(spec: str, scale_text: str | None, horizon: float, cluster_given: bool):
    """The trace's workload and (unless the cluster comes from elsewhere) its machines,
    announced on stderr with what was left out."""
    from simulator.traces import FORMATS, parse_scale, parse_trace_option, read_trace

    source = parse_trace_option(spec)
    fmt = FORMATS[source.format]
    if not cluster_given and not set(source.tables) & set(fmt.tables[1:]):
        machines = f"its {fmt.tables[1]} table, " if len(fmt.tables) > 1 else ""
        raise click.UsageError(f"{source.format} gives no cluster here: give {machines}"
                               "--cluster FILE or --nodes N")
    trace = read_trace(source, horizon, parse_scale(scale_text, fmt.scale))
    if cluster_given:
        trace.nodes = None
    elif not trace.nodes:
        raise SpecError([FieldProblem("trace", f"the {fmt.tables[1]} table has no machine "
                                               "with a capacity in the window")])
    click.echo(f"trace {source.format}: {trace.summary()}", err=True)
    return trace


def _replay(url: str, since_text: str | None, until_text: str | None, cluster_given: bool):
    """berth's recorded window as (trace, agent losses, horizon), announced on stderr."""
    import time

    from framework.history_reader import HistoryUnreadable
    from simulator.traces.berth_history import parse_time, read

    if click.get_current_context().get_parameter_source("horizon").name != "DEFAULT":
        raise click.UsageError("--duration does not go with --replay-from: the window "
                               "is --since to --until")
    if since_text is None:
        raise click.UsageError("--replay-from needs --since TIME")
    now = time.time()
    since = parse_time(since_text, now, "since")
    until = now if until_text is None else parse_time(until_text, now, "until")
    if until <= since:
        raise SpecError([FieldProblem("until", f"the window ends before it starts "
                                               f"({until_text or 'now'} <= {since_text})")])
    try:
        replay = read(url, since, until)
    except HistoryUnreadable as exc:
        raise SpecError([FieldProblem("replay-from", str(exc))]) from None
    trace = replay.trace
    if not trace.workload:
        raise SpecError([FieldProblem("replay-from", "no task in the window "
                                      f"{_utc(since)} to {_utc(until)} ({trace.summary()})")])
    if cluster_given:
        trace.nodes = None
    elif not trace.nodes:
        raise SpecError([FieldProblem("replay-from", "no agent was offered in the window: "
                                      "give --cluster FILE or --nodes N")])
    click.echo(f"replay {_utc(since)} to {_utc(until)}: {trace.summary()}; "
               f"{len(replay.losses)} agent losses", err=True)
    return trace, replay.losses, until - since


def _utc(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_load_nodes(path: Path, workload: list, nodes: list) -> None:
    """Every load line names a node of the cluster."""
    hostnames = {n.hostname for n in nodes}
    problems = [(i.line, FieldProblem("node", f"{i.node!r} is not a node of the cluster"))
                for i in workload if isinstance(i, IncumbentStep) and i.node not in hostnames]
    if problems:
        raise InputError(path, problems)


class _progress:
    """A rich progress bar on stderr per strategy, in simulated hours; silent if not a tty."""

    def __init__(self, runs: int) -> None:
        self.enabled = sys.stderr.isatty()
        self.bar = None

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                TextColumn("{task.completed:.1f}/{task.total:.1f} sim h"),
                                TimeElapsedColumn(), console=Console(stderr=True))
            self.bar.__enter__()
        return self.advance

    def advance(self, name: str, horizon: float):
        if self.bar is None:
            return None
        task = self.bar.add_task(f"sim {name}", total=horizon / 3600)
        return lambda now: self.bar.update(task, completed=now / 3600)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


@click.command("sim")
@click.option("--sizes", default="100x2000,300x6000,1000x20000", show_default=True,
              help="Comma-separated NODESxTASKS.")
@click.option("--duration", "horizon", default=7200.0, show_default=True,
              type=click.FloatRange(1), help="Simulated seconds per size.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="One line of JSON.")
def bench_sim(sizes: str, horizon: float, seed: int, as_json: bool) -> None:
    """Simulator cost per task as the cluster and workload grow."""
    import json

    from benchmarks.sim import run

    try:
        pairs = [tuple(int(x) for x in s.lower().split("x")) for s in sizes.split(",") if s]
        if not pairs or any(len(p) != 2 or min(p) < 1 for p in pairs):
            raise ValueError
    except ValueError:
        raise click.BadParameter("give NODESxTASKS pairs such as 100x2000,1000x20000",
                                 param_hint="--sizes") from None
    click.echo(json.dumps(run(pairs, horizon, seed), indent=None if as_json else 2))
