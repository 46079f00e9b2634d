"""`berth framework`: the Charmander framework on its own, subscribed to a master."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from cli.registry import registry_option
from cli.server_options import (
    bearer_from_file,
    credit_unit_option,
    history_retention_option,
    master_ca_option,
    metrics_retention_option,
    server_limit_options,
    tls_options,
)
from cli.signals import on_hangup, until_signalled

STRATEGIES = ("binpack", "spread", "first-fit", "random", "intelligence")


def master_url(text: str) -> str:
    return (text if "://" in text else f"http://{text}").rstrip("/")


@click.command("framework")
@click.option("--master", required=True, help="The master: HOST:PORT or a URL.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; beyond loopback it needs a user configured "
                   "(berth user add) or --insecure.")
@click.option("--insecure", is_flag=True,
              help="Listen beyond loopback without authentication (logged at every start).")
@click.option("--port", default=7075, show_default=True, type=click.IntRange(0, 65535),
              help="Port of the Charmander REST API.")
@click.option("--db", "db_url", default=None,
              help="SQLAlchemy URL [default: sqlite:///<data-dir>/berth.db]")
@click.option("--data-dir", default="./data", show_default=True,
              type=click.Path(file_okay=False, path_type=Path))
@click.option("--master-token-file", type=click.Path(dir_okay=False),
              envvar="BERTH_MASTER_TOKEN_FILE",
              help="A token the master accepts (when it has users), one per file.")
@click.option("--strategy", default="binpack", show_default=True,
              type=click.Choice(STRATEGIES), help="How pending tasks are placed on offers.")
@click.option("--seed", default=0, show_default=True, help="Seed of the random strategy.")
@click.option("--config", "juliarun_config", default=None,
              type=click.Path(dir_okay=False, exists=True),
              help="JuliaRun's configuration file (images, storage, packages, log); "
                   "read again on SIGHUP or /reconfigure.")
@registry_option("berth's registry as this host reaches it (HOST:PORT), where built "
                 "images are pushed.")
@click.option("--upstream-registry", default="registry-1.docker.io", show_default=True,
              help="Where `pullImage` (berth image pull) pulls images from.")
@click.option("--image-base", default="berth/busybox", show_default=True,
              help="The image image templates are built on.")
@click.option("--max-image-template", default=64, show_default=True,
              type=click.IntRange(1, 4096), help="MiB of an uploaded image template.")
@server_limit_options()
@tls_options
@master_ca_option
@credit_unit_option
@metrics_retention_option
@history_retention_option
def framework_command(tls, tls_cert, master_ssl, credit_unit, metrics_retention,
                      history_retention, registry,
                      master: str, host: str, insecure: bool,
                      port: int, db_url: str | None, data_dir: Path,
                      master_token_file: str | None, strategy: str, seed: int,
                      juliarun_config: str | None, limits,
                      upstream_registry: str, image_base: str,
                      max_image_template: int) -> None:
    """Run the Charmander framework: its REST API, placing tasks on the master's offers."""
    from api.auth import ExposureRefused
    from api.framework_server import start_framework
    from api.serving import check_descriptor_budget, raise_descriptor_limit
    from offers.problems import SpecError
    from persistence.database import default_url

    url = db_url or default_url(data_dir)
    credential = bearer_from_file(master_token_file, "--master-token-file")

    raise_descriptor_limit()
    check_descriptor_budget(limits)

    async def serve() -> None:
        try:
            running = await start_framework(master_url(master), host, port, db_url=url,
                                            strategy=strategy, seed=seed, limits=limits,
                                            insecure=insecure, master_credential=credential,
                                            master_ssl=master_ssl, tls=tls,
                                            credit_unit=credit_unit,
                                            juliarun_config=juliarun_config,
                                            metrics_retention=metrics_retention,
                                            history_retention=history_retention,
                                            registry=registry,
                                            upstream_registry=upstream_registry,
                                            image_base=image_base,
                                            max_image_template=max_image_template * 2**20)
        except SpecError as exc:
            raise click.ClickException(f"--config {juliarun_config}: {exc}") from None
        except OSError as exc:
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from None
        except ExposureRefused as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"berth framework: REST API on {running.url}, master {master_url(master)}",
                   err=True)
        if running.juliarun is not None and running.juliarun.path is not None:
            on_hangup(running.juliarun.reload)
        await until_signalled()
        await running.stop()

    asyncio.run(serve())
