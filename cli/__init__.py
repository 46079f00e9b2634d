"""The `berth` command: wires the roles together. No logic lives here."""

from __future__ import annotations

import importlib

import click

from cli.logs import configure_logging


class LazyGroup(click.Group):
    """A group whose commands are imported only when one is run (or help lists them):
    `berth place` should not wait for Docker, aiohttp and SQLAlchemy to import."""

    def __init__(self, *args, lazy: dict[str, str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy  # command name -> "module:attribute"

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy and name not in self.commands:
            module, attribute = self.lazy[name].split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, lazy={
    "agent": "cli.agent:agent_command",
    "client": "cli.client_params:client_group",
    "credits": "cli.access:credits_group",
    "farm": "cli.farm:farm_group",
    "framework": "cli.framework:framework_command",
    "image": "cli.image:image_group",
    "job": "cli.job:job_group",
    "master": "cli.master:master_command",
    "metrics": "cli.metrics:metrics_group",
    "namespace": "cli.access:namespace_group",
    "place": "cli.place:place_command",
    "registry": "cli.registry:registry_command",
    "sim": "cli.sim:sim_command",
    "task": "cli.task:task_group",
    "token": "cli.access:token_group",
    "up": "cli.up:up_command",
    "user": "cli.access:user_group",
})
@click.option("--log-json", is_flag=True, help="Log one JSON object per line.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def main(log_json: bool, log_level: str) -> None:
    """berth: a Mesos-style two-level cluster scheduler."""
    configure_logging(json=log_json, level=log_level)


@main.group(cls=LazyGroup, lazy={
    "placement": "cli.bench_cmds:bench_placement",
    "e2e": "cli.bench_cmds:bench_e2e",
    "api": "cli.bench_cmds:bench_api",
    "auth": "cli.bench_cmds:bench_auth",
    "jobs": "cli.bench_cmds:bench_jobs",
    "elastic": "cli.bench_cmds:bench_elastic",
    "metrics": "cli.bench_cmds:bench_metrics",
    "registry": "cli.bench_cmds:bench_registry",
    "images": "cli.bench_cmds:bench_images",
    "ui": "cli.bench_cmds:bench_ui",
    "sim": "cli.sim:bench_sim",
})
def bench() -> None:
    """Repeatable measurements; each prints JSON."""
