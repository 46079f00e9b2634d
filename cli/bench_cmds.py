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


@click.command("auth")
@click.option("--seconds", default=3.0, show_default=True, help="Seconds of POSTs per side.")
@click.option("--concurrency", default=16, show_default=True)
@click.option("--rounds", default=3, show_default=True, help="Alternating rounds; medians.")
@click.option("--json", "as_json", is_flag=True, help="One line of JSON.")
def bench_auth(seconds: float, concurrency: int, rounds: int, as_json: bool) -> None:
    """Task POSTs per second with HTTP Basic and with a Bearer token, over the same without
    authentication, in one run (target ratio >= 0.9)."""
    from benchmarks.auth_overhead import run

    emit(run(seconds=seconds, concurrency=concurrency, rounds=rounds), as_json)


@click.command("jobs")
@click.option("--sizes", default="100,1000,10000", show_default=True,
              help="Job counts to sweep (10 instances each); the first is the baseline.")
@click.option("--quick", is_flag=True, help="Only 100 and 1,000 jobs (a few seconds).")
@click.option("--rounds", default=5, show_default=True,
              help="Rounds of status updates per size; the median round counts.")
@click.option("--events", default=2_000, show_default=True,
              help="Instances ended per round (half FAILED, half FINISHED); their restarts "
                   "then report RUNNING.")
@click.option("--agents", type=int, default=None,
              help="Agents offering (default: jobs / 10, from 100 to 1,000).")
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One line of JSON.")
def bench_jobs(sizes: str, quick: bool, rounds: int, events: int, agents: int | None,
               seed: int, as_json: bool) -> None:
    """The reconciler's cost per status update at 100 to 10,000 jobs of 10 instances, through
    the real scheduler on a virtual clock, and its ratio largest/smallest (target <= 1.5)."""
    from benchmarks.jobs import run

    try:
        counts = [100, 1_000] if quick else [int(s) for s in sizes.split(",")]
    except ValueError:
        raise click.BadParameter(f"not a list of integers: {sizes!r}",
                                 param_hint="--sizes") from None
    if not counts or min(counts) < 1:
        raise click.BadParameter("give at least one job count, each >= 1",
                                 param_hint="--sizes")
    emit(run(counts, rounds=rounds, events=events, agents=agents, seed=seed), as_json)


@click.command("elastic")
@click.option("--trials", default=5, show_default=True, help="Loads started and ended.")
@click.option("--containers", default=2, show_default=True, help="berth containers squeezed.")
@click.option("--cpus", default=0.3, show_default=True, help="Each container's request.")
@click.option("--mem", default=512.0, show_default=True, help="Each container's request, MiB.")
@click.option("--load-cpus", default=2, show_default=True, help="Busy processes on the host.")
@click.option("--sample-seconds", default=1.0, show_default=True,
              help="The agent's measurement period.")
@click.option("--json", "as_json", is_flag=True, help="One line of JSON.")
def bench_elastic(trials: int, containers: int, cpus: float, mem: float, load_cpus: int,
                  sample_seconds: float, as_json: bool) -> None:
    """From a load on the host itself to the containers' lowered limits, and from its end
    to their restored size (needs a Docker engine)."""
    from benchmarks.elastic import run

    emit(run(trials=trials, containers=containers, cpus=cpus, mem=mem, load_cpus=load_cpus,
             sample_seconds=sample_seconds), as_json)


@click.command("metrics")
@click.option("--nodes", default=100, show_default=True)
@click.option("--tasks", default=10, show_default=True,
              help="Task instances per node, each with cpu, mem, cpu_limit, mem_limit.")
@click.option("--samples", default=1_000_000, show_default=True,
              help="Samples ingested (time-ordered over every series).")
@click.option("--batch", default=10_000, show_default=True, help="Samples per transaction.")
@click.option("--days", default=30.0, show_default=True, help="Span of the size fill.")
@click.option("--size-nodes", default=None, type=int,
              help="Fill this many nodes for the size and scale it to --nodes (default: "
                   "fill them all).")
@click.option("--skip", type=click.Choice(["ingest", "query", "size"]), multiple=True)
@click.option("--json", "as_json", is_flag=True, help="One line of JSON.")
def bench_metrics(nodes: int, tasks: int, samples: int, batch: int, days: float,
                  size_nodes: int | None, skip: tuple[str, ...], as_json: bool) -> None:
    """The metrics store: ingestion samples/s, a one-day per-node query over the nodes, the
    store's size for the nodes over --days (issue 13's targets)."""
    from benchmarks.metrics import run

    emit(run(nodes, tasks, samples, batch, days=days, size_nodes=size_nodes, skip=skip),
         as_json)


@click.command("registry")
@click.option("--megabytes", default=50, show_default=True, help="Random bytes in the image.")
@click.option("--rounds", default=3, show_default=True,
              help="Launches timed each way (berth and docker pull + run), alternating.")
@click.option("--json", "as_json", is_flag=True, help="One line of JSON.")
def bench_registry(megabytes: int, rounds: int, as_json: bool) -> None:
    """A second node's first launch of a big image through berth (pulled from its registry)
    against `docker pull` + `docker run` there (needs root and a Docker engine)."""
    from benchmarks.registry_pull import run

    emit(run(megabytes=megabytes, rounds=rounds), as_json)


@click.command("images")
@click.option("--rounds", default=5, show_default=True,
              help="Templates timed on each side (alternating which goes first).")
@click.option("--size-mib", default=10, show_default=True,
              help="MiB of random data in each template.")
@click.option("--json", "as_json", is_flag=True, help="One line of JSON.")
def bench_images(rounds: int, size_mib: int, as_json: bool) -> None:
    """Upload-to-ready of an image template through berth's API against a plain
    `docker build` + `docker push` of the same context (needs a Docker engine)."""
    from benchmarks.images import run

    emit(run(rounds, size_mib), as_json)


@click.command("ui")
@click.option("--nodes", default=10, show_default=True,
              help="Nodes whose metrics fill the store before `berth up` starts.")
@click.option("--hours", default=24.0, show_default=True, help="Hours of metrics per node.")
@click.option("--tasks", default=1000, show_default=True,
              help="Task instances held (a job that cannot be placed).")
@click.option("--samples", default=5, show_default=True, help="Live updates timed per page.")
@click.option("--json", "as_json", is_flag=True, help="One line of JSON.")
def bench_ui(nodes: int, hours: float, tasks: int, samples: int, as_json: bool) -> None:
    """The web UI in headless Chromium on a real `berth up`: first paint of each page,
    state change to screen, and the served JS+CSS compressed (needs Docker, Chromium)."""
    from benchmarks.ui import run

    emit(run(nodes, hours, tasks, samples), as_json)
