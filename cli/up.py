"""`berth up`: master :5050, framework :7075 and a local agent :5051 in one process."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import click

from cli.agent import policy_options
from cli.framework import STRATEGIES
from cli.server_options import (
    credit_unit_option,
    history_retention_option,
    metrics_retention_option,
    server_limit_options,
    tls_options,
)
from cli.signals import on_hangup, until_signalled
from master.registry_server import DEFAULT_PORT


@click.command("up")
@click.option("--data-dir", default="./data", show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="SQLite database and the agent's state.")
@click.option("--db", "db_url", default=None,
              help="SQLAlchemy URL [default: sqlite:///<data-dir>/berth.db]")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address of the REST API; beyond loopback it needs a user configured "
                   "(berth user add) or --insecure.")
@click.option("--master-host", default="127.0.0.1", show_default=True,
              help="Address of the master, for agents on other nodes; beyond loopback it "
                   "needs a user configured or --insecure.")
@click.option("--insecure", is_flag=True,
              help="Listen beyond loopback without authentication (logged at every start).")
@click.option("--port", default=7075, show_default=True, type=click.IntRange(0, 65535),
              help="The Charmander REST API.")
@click.option("--master-port", default=5050, show_default=True, type=click.IntRange(0, 65535))
@click.option("--agent-port", default=5051, show_default=True, type=click.IntRange(0, 65535))
@click.option("--hostname", default=None, help="The local agent's name [this host's name].")
@click.option("--nodetype", default=None, help="The local agent's nodetype (e.g. lab).")
@click.option("--attributes", default=None, help="More agent attributes: k=v,k2=v2.")
@click.option("--resources", default=None,
              help='Caps on what the agent offers, e.g. "cpus:4;mem:8192;ports:[31000-31499]".')
@click.option("--headroom", default=None, help="Kept free for the node's own programs.")
@click.option("--allow-volume", "allow_volume", multiple=True, type=click.Path(),
              help="Host path prefix tasks may mount (repeatable).")
@click.option("--allow-privileged", is_flag=True, help="Let tasks run privileged.")
@click.option("--ignore-incumbent", is_flag=True,
              help="Do not subtract the node's own load (a node dedicated to berth).")
@click.option("--preempt-for-cpu", is_flag=True,
              help="When the node's own programs want every core, preempt berth's tasks as "
                   "for memory (default: their CPU quotas stay at a floor; CPU is "
                   "compressible).")
@click.option("--strategy", default="binpack", show_default=True, type=click.Choice(STRATEGIES))
@click.option("--config", "juliarun_config", default=None,
              type=click.Path(dir_okay=False, exists=True),
              help="JuliaRun's configuration file (images, storage, packages, log); its "
                   "hostpath volumes are allowed on the local agent. Read again on SIGHUP "
                   "or /reconfigure.")
@click.option("--keep-tasks", is_flag=True,
              help="On Ctrl-C leave containers running; the next start adopts them.")
@click.option("--registry-host", default="127.0.0.1", show_default=True,
              help="Address of berth's image registry (0.0.0.0 for nodes elsewhere, which "
                   "are each told the address they reached the master at).")
@click.option("--registry-port", default=DEFAULT_PORT, show_default=True,
              type=click.IntRange(0, 65535), help="Its port (0 picks a free one).")
@click.option("--no-registry", is_flag=True,
              help="Run no registry: every node must already have the images it runs.")
@policy_options
@server_limit_options()  # for each of the three listeners
@tls_options  # for each of them too
@credit_unit_option
@metrics_retention_option
@history_retention_option
def up_command(tls, tls_cert, credit_unit, metrics_retention, history_retention,
               data_dir: Path,
               db_url: str | None, host: str, master_host: str, insecure: bool, port: int,
               master_port: int, agent_port: int, hostname: str | None,
               nodetype: str | None, attributes: str | None, resources: str | None,
               headroom: str | None, allow_volume: tuple[str, ...], allow_privileged: bool,
               ignore_incumbent: bool, preempt_for_cpu: bool, strategy: str,
               juliarun_config: str | None, keep_tasks: bool, registry_host: str,
               registry_port: int, no_registry: bool,
               pids_limit: int, allow_new_privileges: bool,
               cap_add: tuple[str, ...], limits) -> None:
    """Run master, framework and one local agent together (SQLite under --data-dir)."""
    import docker

    from api.auth import ExposureRefused
    from api.serving import check_descriptor_budget, raise_descriptor_limit
    from cli.agent import DEFAULT_HEADROOM, agent_config, container_policy
    from cli.embedded import start_embedded
    from cli.registry import registry_server, warn_if_exposed
    from framework.juliarun_config import parse_config
    from master.registry_server import RegistryUnavailable
    from offers.problems import SpecError
    from persistence.database import default_url

    for path in allow_volume:
        if not os.path.isabs(path):
            raise click.UsageError(f"--allow-volume: {path!r} is not an absolute path")
    try:
        config = agent_config("127.0.0.1", hostname=hostname, nodetype=nodetype,
                              attributes=attributes, resources=resources,
                              headroom=headroom or DEFAULT_HEADROOM,
                              data_dir=data_dir / "agent", port=agent_port,
                              ignore_incumbent=ignore_incumbent,
                              preempt_for_cpu=preempt_for_cpu)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    policy = container_policy(pids_limit, allow_new_privileges, cap_add)
    if juliarun_config is not None:
        try:
            juliarun = parse_config(Path(juliarun_config).read_text())
        except (OSError, SpecError) as exc:
            raise click.UsageError(f"--config {juliarun_config}: {exc}") from None
        allow_volume = (*allow_volume, *juliarun.host_paths())
    url = db_url or default_url(data_dir)
    raise_descriptor_limit()
    check_descriptor_budget(limits, limits, limits)  # master, framework, agent

    async def serve() -> None:
        registry = None if no_registry else registry_server(data_dir, registry_host,
                                                            registry_port)
        try:
            running = await start_embedded(
                config, db_url=url, host=host, master_host=master_host, insecure=insecure,
                tls=tls, tls_cert=tls_cert, credit_unit=credit_unit,
                master_port=master_port, framework_port=port,
                agent_port=agent_port, strategy=strategy, allowed_volumes=allow_volume,
                allow_privileged=allow_privileged, container_policy=policy, limits=limits,
                juliarun_config=juliarun_config, metrics_retention=metrics_retention,
                registry=registry, history_retention=history_retention)
        except RegistryUnavailable as exc:
            raise click.ClickException(
                f"berth's registry did not start: {exc} (another --registry-port, or "
                f"--no-registry to run without one)") from None
        except SpecError as exc:
            raise click.ClickException(f"--config {juliarun_config}: {exc}") from None
        except docker.errors.DockerException as exc:
            raise click.ClickException(f"cannot reach the Docker engine: {exc}") from None
        except OSError as exc:
            raise click.ClickException(f"cannot listen: {exc}") from None
        except ExposureRefused as exc:
            raise click.ClickException(str(exc)) from None
        if registry is not None:
            warn_if_exposed(registry)
        shown = f"registry {registry.address}" if registry is not None else "no registry"
        click.echo(f"berth up: framework {running.framework.url}, master {running.master.url}, "
                   f"agent :{running.agent.port}, {shown} (db {url.split('@')[-1]}); "
                   f"Ctrl-C stops", err=True)
        click.echo(f"berth up: web UI {running.framework.ui_url}", err=True)
        if juliarun_config is not None and running.framework.juliarun is not None:
            on_hangup(running.framework.juliarun.reload)
        await until_signalled()
        click.echo("berth up: stopping" + (" (tasks keep running)" if keep_tasks else
                                           " and stopping its containers"), err=True)
        await running.stop(keep_tasks=keep_tasks)

    asyncio.run(serve())
