"""`berth master`: the master role on its own (the embedded default is `berth up`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from cli.registry import registry_option
from cli.server_options import server_limit_options, tls_options
from cli.signals import until_signalled
from master.core import DEFAULT_MAX_COMPLETED_TASKS, DEFAULT_MAX_FRAMEWORKS


@click.command("master")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; beyond loopback it needs a user configured "
                   "(berth user add) or --insecure.")
@click.option("--insecure", is_flag=True,
              help="Listen beyond loopback without authentication (logged at every start).")
@click.option("--port", default=5050, show_default=True, type=click.IntRange(0, 65535))
@click.option("--db", "db_url", default=None,
              help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db "
                   "[default: sqlite:///<data-dir>/berth.db]")
@click.option("--data-dir", default="./data", show_default=True,
              type=click.Path(file_okay=False, path_type=Path))
@click.option("--offer-timeout", default=60.0, show_default=True,
              type=click.FloatRange(min=0.1), help="Seconds before an unused offer is rescinded.")
@click.option("--agent-timeout", default=15.0, show_default=True,
              type=click.FloatRange(min=0.1),
              help="Seconds without a message before an agent is lost.")
@click.option("--max-frameworks", default=DEFAULT_MAX_FRAMEWORKS, show_default=True,
              type=click.IntRange(min=1),
              help="Frameworks subscribed or awaiting failover at once; a SUBSCRIBE beyond "
                   "it is refused with 503 (torn-down frameworks do not count).")
@click.option("--max-completed-tasks", default=DEFAULT_MAX_COMPLETED_TASKS, show_default=True,
              type=click.IntRange(min=0),
              help="Ended tasks kept per framework once their end is acknowledged (Mesos's "
                   "--max_completed_tasks_per_framework); older ones are forgotten, in "
                   "memory and in the database.")
@registry_option("berth's registry (HOST:PORT, e.g. a `berth registry`), told to every "
                 "agent at registration; a 0.0.0.0 host is told as the address the agent "
                 "reached the master at.")
@server_limit_options(max_connections=1024)  # every agent and framework holds one open
@tls_options
def master_command(tls, tls_cert, registry: str | None, host: str, insecure: bool, port: int,
                   db_url: str | None, data_dir: Path,
                   offer_timeout: float, agent_timeout: float, max_frameworks: int,
                   max_completed_tasks: int, limits) -> None:
    """Run the master: Mesos v1 scheduler API and the agent link on one port."""
    from api.auth import ExposureRefused
    from api.master_app import start_master
    from api.serving import check_descriptor_budget, raise_descriptor_limit
    from persistence.database import default_url

    url = db_url or default_url(data_dir)

    raise_descriptor_limit()
    check_descriptor_budget(limits)

    async def serve() -> None:
        try:
            running = await start_master(host, port, db_url=url, offer_timeout=offer_timeout,
                                         agent_timeout=agent_timeout, limits=limits,
                                         max_frameworks=max_frameworks, insecure=insecure,
                                         tls=tls, registry=registry,
                                         max_completed_tasks=max_completed_tasks)
        except ExposureRefused as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"berth master listening on {running.url} (db {url.split('@')[-1]})",
                   err=True)
        await until_signalled()
        await running.stop()

    asyncio.run(serve())
