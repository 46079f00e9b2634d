"""`berth job submit | list | status | scale | autoscale | wait | logs | stop | delete |
launch`: a
client of the framework's `/v1/jobs` API; and Jisto's `create | run | delete UUID`
(cli/jisto.py)."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from cli.client import STATE_STYLE, fail, open_url, request, url_option
from cli.generic import code_group, script_group, volume_group
from cli.jisto import create_job, delete_jisto_job, is_uuid, manage_jobs_row, run_job

PHASE_STYLE = {"running": "green", "pending": "yellow", "complete": "dim", "failed": "red",
               "stopped": "magenta", "scheduled": "cyan"}


@click.group("job")
def job_group() -> None:
    """Submit, inspect, scale, wait for, stop and delete jobs; create and run Jisto jobs."""


job_group.add_command(code_group)  # a service job's code versions (cli/generic.py)
job_group.add_command(script_group)  # and its lifecycle scripts
job_group.add_command(volume_group)  # and its volumes


def _call(method: str, url: str, body: Any = None, ok: tuple[int, ...] = (200,),
          timeout: float = 30.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    status, answer = request(method, url, data, timeout=timeout)
    if status not in ok:
        fail(status, answer)
    return answer


def _quoted(name: str) -> str:
    return urllib.parse.quote(name, safe="")


@job_group.command("submit")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@url_option
def submit(file: Path, url: str) -> None:
    """Submit a job JSON file."""
    status, answer = request("POST", f"{url}/v1/jobs", file.read_bytes())
    if status != 201:
        fail(status, answer)
    if answer["phase"] == "scheduled":
        click.echo(f"job {answer['name']} scheduled: {answer['type']}, next run at "
                   f"{answer['next_firing']['utc']}")
        return
    click.echo(f"job {answer['name']} submitted: {answer['type']}, "
               f"{answer['desired']} wanted, {answer['phase']}")


@job_group.command("list")
@url_option
@click.option("--tasks", is_flag=True, help="Include Charmander tasks (each is a job).")
@click.option("--json", "as_json", is_flag=True, help="The raw JSON.")
def list_jobs(url: str, tasks: bool, as_json: bool) -> None:
    """Every job with its phase and counts."""
    answer = _call("GET", f"{url}/v1/jobs" + ("?tasks=true" if tasks else ""))
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    table = Table(title=f"{len(answer['jobs'])} jobs")
    for column in ("NAME", "TYPE", "PHASE", "DESIRED", "RUNNING", "PENDING", "SUCCEEDED",
                   "FAILED", "RESTARTS", "REASON"):
        table.add_column(column, overflow="fold")
    for job in answer["jobs"]:
        style = PHASE_STYLE.get(job["phase"], "")
        table.add_row(job["name"], job["type"], f"[{style}]{job['phase']}[/]",
                      *(str(job[k]) for k in ("desired", "running", "pending", "succeeded",
                                              "failed", "restarts")), job["reason"] or "")
    Console().print(table)


def _print_schedule(job: dict[str, Any]) -> None:
    console = Console()
    schedule = job["schedule"]
    console.print(f"[bold]{job['name']}[/] ({job['type']}): [cyan]scheduled[/] "
                  f"{', '.join(schedule['expressions'])} in {schedule['time_zone']}, "
                  f"concurrency {schedule['concurrency']}, catch-up {schedule['catch_up']}")
    last = schedule["last_firing"]
    console.print(f"next firing {schedule['next_firing']['utc']}, last firing "
                  f"{last['utc'] if last else 'none yet'}")
    table = Table()
    for column in ("RUN", "FIRING", "PHASE", "REASON"):
        table.add_column(column, overflow="fold")
    for run in schedule["runs"]:
        style = PHASE_STYLE.get(run["phase"], "")
        table.add_row(run["name"], "manual" if run["manual"] else run["firing"]["utc"],
                      f"[{style}]{run['phase']}[/]", run["reason"] or "")
    console.print(table)


def _print_status(job: dict[str, Any]) -> None:
    if job["phase"] == "scheduled":
        _print_schedule(job)
        return
    console = Console()
    style = PHASE_STYLE.get(job["phase"], "")
    console.print(f"[bold]{job['name']}[/] ({job['type']}): [{style}]{job['phase']}[/]"
                  + (f" - {job['reason']}" if job["reason"] else ""))
    console.print(f"desired {job['desired']}, running {job['running']}, pending "
                  f"{job['pending']}, succeeded {job['succeeded']}, failed {job['failed']}, "
                  f"restarts {job['restarts']}"
                  + (f", healthy {job['healthy']}, unhealthy {job['unhealthy']}"
                     if _checked(job) else "")
                  + (f", steps to come {job['steps']}" if job["steps"] else ""))
    autoscale = job.get("autoscale")
    if autoscale:
        last = autoscale["last_decision"]
        console.print(f"autoscaled {autoscale['min']}..{autoscale['max']} every "
                      f"{autoscale['interval']:g} s; last decision: "
                      + (f"{last['reason']} ({last['at']['utc']})" if last else "none yet"))
    table = Table()
    for column in ("INSTANCE", "INDEX", "STATE", "HOST", "EXIT", "REASON"):
        table.add_column(column, overflow="fold")
    for item in job["instances"]:
        index = item["role"] or ("" if item["index"] is None else str(item["index"]))
        state = item["state"]
        health = {True: " healthy", False: " [red]unhealthy[/]"}.get(item.get("healthy"), "")
        table.add_row(item["id"], index, f"[{STATE_STYLE.get(state, '')}]{state}[/]{health}",
                      item["host"] or "", "" if item["exit_code"] is None
                      else str(item["exit_code"]), item["reason"] or "")
    console.print(table)


def _checked(job: dict[str, Any]) -> bool:
    """Whether any of the job's templates has a health check."""
    spec = job.get("spec") or {}
    templates = [spec.get("task"), spec.get("master"), *(spec.get("tasks") or ())]
    return any(t and t.get("health_check") for t in templates)


@job_group.command("status")
@click.argument("name")
@url_option
@click.option("--json", "as_json", is_flag=True, help="The raw JSON.")
def status(name: str, url: str, as_json: bool) -> None:
    """A job's phase, counts and every instance with its state and reason; for a Jisto
    job's UUID, its row of Jisto's Manage Jobs page."""
    if is_uuid(name):
        answer = _call("GET", f"{url}/v1/job/{_quoted(name)}")
        click.echo(json.dumps(answer, indent=2) if as_json else manage_jobs_row(answer))
        return
    answer = _call("GET", f"{url}/v1/jobs/{_quoted(name)}")
    if as_json:
        click.echo(json.dumps(answer, indent=2))
    else:
        _print_status(answer)


@job_group.command("scale")
@click.argument("name")
@click.argument("counts", nargs=-1, required=True, type=click.IntRange(min=0))
@url_option
def scale(name: str, counts: tuple[int, ...], url: str) -> None:
    """Scale NAME to a count, or through several (`scale web 2 4 6`: each step once the
    one before runs)."""
    body = {"count": counts[0]} if len(counts) == 1 else {"steps": list(counts)}
    answer = _call("PUT", f"{url}/v1/jobs/{_quoted(name)}/scale", body)
    click.echo(f"job {name}: {answer['desired']} wanted"
               + (f", then {answer['steps']}" if answer["steps"] else ""))


@job_group.command("autoscale")
@click.argument("name")
@url_option
@click.option("--json", "as_json", is_flag=True, help="The raw JSON.")
def autoscale(name: str, url: str, as_json: bool) -> None:
    """The autoscaler's decisions for NAME, newest first, each with its reason."""
    answer = _call("GET", f"{url}/v1/jobs/{_quoted(name)}/autoscale")
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    if answer["policy"] is None:
        click.echo(f"job {name} is not autoscaled")
    table = Table(title=f"{len(answer['decisions'])} decisions")
    for column in ("AT", "COUNT", "REASON"):
        table.add_column(column, overflow="fold")
    for decision in answer["decisions"]:
        count = (f"{decision['current']} -> {decision['desired']}" if decision["changed"]
                 else str(decision["current"]))
        table.add_row(decision["at"]["utc"], count, decision["reason"])
    Console().print(table)


@job_group.command("wait")
@click.argument("name")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds.")
@url_option
def wait(name: str, timeout: float, url: str) -> None:
    """Wait until NAME is complete, failed or stopped; exit 1 unless complete."""
    answer = _call("GET", f"{url}/v1/jobs/{_quoted(name)}/wait?timeout={timeout:g}",
                   timeout=timeout + 30)
    _print_status(answer)
    if answer["phase"] != "complete":
        sys.exit(1)


@job_group.command("logs")
@click.argument("name")
@click.option("--instance", help="An instance id (default: the newest).")
@click.option("--stream", type=click.Choice(["stdout", "stderr"]), default="stdout",
              show_default=True)
@click.option("--tail", type=click.IntRange(min=0), help="Only the last N lines.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing until the instance ends.")
@url_option
def logs(name: str, instance: str | None, stream: str, tail: int | None, follow: bool,
         url: str) -> None:
    """An instance's container output."""
    query = {"stream": stream}
    if instance:
        query["instance"] = instance
    if tail is not None:
        query["tail"] = str(tail)
    if follow:
        query["follow"] = "true"
    target = f"{url}/v1/jobs/{_quoted(name)}/logs?{urllib.parse.urlencode(query)}"
    try:
        with open_url(target, timeout=None if follow else 60) as resp:
            for chunk in iter(lambda: resp.read1(65536), b""):
                sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            fail(exc.code, json.loads(body))
        except ValueError:
            fail(exc.code, body.decode(errors="replace"))
    except urllib.error.URLError as exc:
        raise click.ClickException(f"cannot reach {url}: {exc.reason}") from None


@job_group.command("stop")
@click.argument("name")
@url_option
def stop(name: str, url: str) -> None:
    """Kill every instance of NAME and start none; the job is kept."""
    answer = _call("POST", f"{url}/v1/jobs/{_quoted(name)}/stop", {})
    click.echo(f"job {name}: {answer['phase']}")


@job_group.command("delete")
@click.argument("name")
@click.option("--force", is_flag=True, help="Delete a job that still runs (stopping it).")
@url_option
def delete(name: str, force: bool, url: str) -> None:
    """Forget the job NAME, or the Jisto job UUID.

    A berth job is refused while it runs, unless --force. An argument that is a UUID (as
    `berth job create` prints) names a Jisto job: it is deleted with its tasks, stopped
    first if it runs (Jisto's DeleteJob)."""
    if is_uuid(name):
        delete_jisto_job(name, url)
        return
    answer = _call("DELETE", f"{url}/v1/jobs/{_quoted(name)}"
                   + ("?force=true" if force else ""))
    click.echo(answer["message"])


@job_group.command("launch")
@click.argument("name")
@url_option
def launch(name: str, url: str) -> None:
    """Start a run of the scheduled job NAME now (manual launch)."""
    answer = _call("POST", f"{url}/v1/jobs/{_quoted(name)}/launch", {}, ok=(201,))
    click.echo(f"job {name}: launched {answer['name']}, {answer['phase']}")


job_group.add_command(create_job)
job_group.add_command(run_job)
