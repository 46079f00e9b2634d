"""`berth task submit | list | kill | reshuffle`: a client of the Charmander REST API."""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

DEFAULT_URL = "http://127.0.0.1:7075"
STATE_STYLE = {"RUNNING": "green", "PENDING": "yellow", "STAGING": "cyan", "STARTING": "cyan",
               "KILLING": "magenta", "FINISHED": "dim", "KILLED": "dim", "FAILED": "red",
               "LOST": "red", "ERROR": "bold red"}


# The connection broke after the request may have arrived: the answer is unknown.
DROPPED = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, TimeoutError,
           http.client.RemoteDisconnected, http.client.IncompleteRead)


def _request(method: str, url: str, body: bytes | None = None,
             headers: dict[str, str] | None = None, retries: int = 0) -> tuple[int, Any]:
    """One HTTP exchange; `retries` more attempts when the connection drops mid-way (only
    for requests safe to repeat: reads, or POSTs carrying an Idempotency-Key)."""
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"Content-Type": "application/json",
                                              "Accept": "application/json",
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    except (urllib.error.URLError, *DROPPED) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(reason, DROPPED) and retries > 0:
            return _request(method, url, body, headers, retries - 1)
        if isinstance(reason, DROPPED):
            raise click.ClickException(f"the connection to {url} dropped before an "
                                       f"answer: {reason or type(reason).__name__}") from None
        raise click.ClickException(f"cannot reach {url}: {reason}") from None
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def _fail(status: int, answer: Any) -> None:
    if isinstance(answer, dict):
        lines = [answer.get("message", "")]
        lines += [f"  {e.get('field') or '(body)'}: {e.get('problem')}"
                  for e in answer.get("errors", [])]
        raise click.ClickException(f"{status}: " + "\n".join(lines))
    raise click.ClickException(f"{status}: {answer}")


url_option = click.option("--url", default=lambda: os.environ.get("BERTH_URL", DEFAULT_URL),
                          show_default="$BERTH_URL or " + DEFAULT_URL,
                          help="The framework's REST API.")


@click.group("task")
def task_group() -> None:
    """Submit, list, kill and reshuffle tasks (Charmander REST API client)."""


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
        status, answer = _request("POST", f"{url}/v1/tasks", path.read_bytes(), key,
                                  retries=1)
        if status != 202:
            _fail(status, answer)
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
    status, answer = _request("GET", f"{url}/client/task")
    if status != 200:
        _fail(status, answer)
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
    status, answer = _request("DELETE", f"{url}/client/task/{prefix}")
    if status != 200:
        _fail(status, answer)
    for item in answer if isinstance(answer, list) else [answer]:
        click.echo(item["message"])


@task_group.command("reshuffle")
@url_option
def reshuffle(url: str) -> None:
    """Restart running reshuffleable tasks, placed by their metered usage."""
    status, answer = _request("GET", f"{url}/client/task/reshuffle")
    if status != 202:
        _fail(status, answer)
    click.echo(answer["message"])
