"""The `berth` command: wires the roles together. No logic lives here."""

from __future__ import annotations

import click

from cli.logs import configure_logging


@click.group()
@click.option("--log-json", is_flag=True, help="Log one JSON object per line.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def main(log_json: bool, log_level: str) -> None:
    """berth: a Mesos-style two-level cluster scheduler."""
    configure_logging(json=log_json, level=log_level)


@main.group()
def bench() -> None:
    """Repeatable measurements; each prints JSON."""


def _register() -> None:
    # Each role's commands live in their own module; importing registers them.
    from cli import agent, bench_cmds, framework, master, place, sim, task, up  # noqa: F401


_register()
