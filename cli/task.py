"""`berth task submit | list | kill | reshuffle`: a client of the Charmander REST API."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from cli.client import STATE_STYLE, fail, request, url_option
from cli.jisto import create_task


@click.group("task")
def task_group() -> None:
    """Submit, list, kill and reshuffle tasks (Charmander REST API client); create Jisto
    tasks."""


@task_group.command("submit")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False,
                                                                  path_type=Path))
@url_option
def submit(files: tuple[Path, ...], url: str) -> None:
    """Submit task JSON files (one task each).

    Each file is sent with a fresh Idempotency-Key and sent again, once, if the connection
    drops before the answer: the framework answers a retry with the task the first try
    created, so a flaky network never queues a task twice."""
    for path in files:
        key = {"Idempotency-Key": str(uuid.uuid4())}
        status, answer = request("POST", f"{url}/v1/tasks", path.read_bytes(), key,
                                  retries=1)
        if status != 202:
            fail(status, answer)
        click.echo(f"{answer['message']} ({answer['internal_id']})")


def _age(created_at: float) -> str:
    seconds = max(time.time() - created_at, 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


@task_group.command("list")
@url_option
@click.option("--all", "show_all", is_flag=True, help="Include ended tasks.")
@click.option("--json", "as_json", is_flag=True, help="The raw JSON list.")
def list_tasks(url: str, show_all: bool, as_json: bool) -> None:
    """Scheduled and running tasks, with why pending ones wait."""
    status, answer = request("GET", f"{url}/client/task")
    if status != 200:
        fail(status, answer)
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    ended = ("FINISHED", "KILLED", "FAILED", "LOST", "ERROR")
    items = [t for t in answer if show_all or t["state"] not in ended]
    table = Table(title=f"{len(items)} tasks" + ("" if show_all else " (--all for ended)"))
    for column in ("INTERNAL ID", "STATE", "HOST", "IMAGE", "CPUS", "MEM", "SLA", "AGE",
                   "REASON"):
        table.add_column(column, overflow="fold")
    for t in items:
        style = STATE_STYLE.get(t["state"], "")
        launched = t.get("launched") or {}
        mem = f"{t['mem']:g}" + (f"→{launched['mem']:g}" if launched.get("mem") not in (
            None, t["mem"]) else "")
        table.add_row(t["internal_id"], f"[{style}]{t['state']}[/]", t.get("hostname") or "",
                      t["dockerimage"], f"{t['cpus']:g}", mem, t.get("sla") or "",
                      _age(t["created_at"]), t.get("reason") or "")
    Console().print(table)


@task_group.command("kill")
@click.argument("prefix")
@url_option
def kill(prefix: str, url: str) -> None:
    """Kill every task whose internal id starts with PREFIX."""
    status, answer = request("DELETE", f"{url}/client/task/{prefix}")
    if status != 200:
        fail(status, answer)
    for item in answer if isinstance(answer, list) else [answer]:
        click.echo(item["message"])


@task_group.command("reshuffle")
@url_option
def reshuffle(url: str) -> None:
    """Restart running reshuffleable tasks, placed by their metered usage."""
    status, answer = request("GET", f"{url}/client/task/reshuffle")
    if status != 202:
        fail(status, answer)
    click.echo(answer["message"])


task_group.add_command(create_task)
