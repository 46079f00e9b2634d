"""`berth metrics show` (JuliaRun's show_metrics: a table of aggregated metrics, refreshed
every few seconds) and `berth metrics record` (record_metrics), over `/v1/metrics`."""

from __future__ import annotations

import json
import time
import urllib.parse

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from cli.client import fail, request, url_option

AGGS = ("mean", "max", "min", "sum", "last")
GROUPS = ("node", "job", "instance", "namespace")


@click.group("metrics")
def metrics_group() -> None:
    """Stored metrics: node and task measurements, and custom ones."""


def _fetch(url: str, name: str, window: str, agg: str, group_by: str) -> list[dict]:
    query = urllib.parse.urlencode({"name": name, "from": f"-{window}", "agg": agg,
                                    "group_by": group_by})
    status, answer = request("GET", f"{url}/v1/metrics?{query}", retries=1)
    if status != 200:
        fail(status, answer)
    return answer["series"]


def _table(url: str, names: list[str], window: str, agg: str, group_by: str) -> Table:
    rows: dict[str, dict[str, float | None]] = {}
    for name in names:
        for series in _fetch(url, name, window, agg, group_by):
            key = series["group"].get(group_by) or "-"
            rows.setdefault(key, {})[name] = series["value"]
    table = Table(title=f"{agg} over the last {window}, by {group_by} "
                        f"({time.strftime('%H:%M:%S')})")
    table.add_column(group_by)
    for name in names:
        table.add_column(name, justify="right")
    for key in sorted(rows):
        table.add_row(key, *(_number(rows[key].get(n)) for n in names))
    return table


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.3f}" if abs(value) < 1000 else f"{value:,.0f}"


@metrics_group.command("show")
@url_option
@click.option("--names", default="cpu,mem", show_default=True,
              help="Metrics to show, comma-separated (node_cpu_used, mem_limit, ...).")
@click.option("--agg", default="mean", show_default=True, type=click.Choice(AGGS))
@click.option("--group-by", default="instance", show_default=True, type=click.Choice(GROUPS))
@click.option("--window", default="10m", show_default=True,
              help="How far back each refresh looks: <n>[smhd].")
@click.option("--every", default=5.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds between refreshes.")
@click.option("--times", default=1, show_default=True, type=click.IntRange(min=0),
              help="How many times to show the table; 0: until interrupted.")
def show_command(url: str, names: str, agg: str, group_by: str, window: str, every: float,
                 times: int) -> None:
    """A table of aggregated metrics, one row per node, job, instance or namespace."""
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    if not wanted:
        raise click.BadParameter("name at least one metric", param_hint="--names")
    console = Console()
    if times == 1:
        console.print(_table(url, wanted, window, agg, group_by))
        return
    with Live(_table(url, wanted, window, agg, group_by), console=console,
              auto_refresh=False) as live:
        shown = 1
        try:
            while times == 0 or shown < times:
                time.sleep(every)
                live.update(_table(url, wanted, window, agg, group_by), refresh=True)
                shown += 1
        except KeyboardInterrupt:
            pass


@metrics_group.command("record")
@url_option
@click.argument("name")
@click.argument("value", type=float)
@click.option("--tag", "tags", multiple=True, help="A tag, key=value (repeatable).")
@click.option("--at", type=float, default=None, help="Seconds since the epoch [now].")
def record_command(url: str, name: str, value: float, tags: tuple[str, ...],
                   at: float | None) -> None:
    """Record one sample of a custom metric."""
    pairs = dict(t.split("=", 1) for t in tags if "=" in t)
    if len(pairs) != len(tags):
        raise click.BadParameter("each tag is key=value", param_hint="--tag")
    body = {"resource": name, "value": value, "tags": pairs,
            **({"at": at} if at is not None else {})}
    status, answer = request("POST", f"{url}/v1/metrics", json.dumps(body).encode())
    if status != 201:
        fail(status, answer)
    click.echo(answer["message"])
