"""`berth registry`: berth's image registry on its own (`berth up` runs one beside its
master), and the `--registry HOST:PORT` option the other roles share."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import click
import structlog

from api.registry_address import check_registry_address, is_wildcard
from cli.signals import until_signalled
from master.registry_server import DEFAULT_PORT, RegistryServer, RegistryUnavailable

log = structlog.get_logger("berth.registry")


class RegistryAddress(click.ParamType):
    name = "HOST:PORT"

    def convert(self, value, param, ctx):
        try:
            return check_registry_address(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def registry_option(help_text: str):
    return click.option("--registry", default=None, type=RegistryAddress(), help=help_text)


def free_port(host: str) -> int:
    """A port free on `host` now (the registry binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1" if is_wildcard(f"{host}:0") else host, 0))
        return probe.getsockname()[1]


def registry_server(data_dir: Path, host: str, port: int) -> RegistryServer:
    """The registry to start: port 0 picks a free one (tests, several clusters on a host)."""
    if not 0 <= port <= 65535:
        raise click.UsageError(f"--registry-port: {port} is not a port")
    return RegistryServer(data_dir, host, port or free_port(host))


def warn_if_exposed(server: RegistryServer) -> None:
    if not server.host.startswith("127.") and server.host != "localhost":
        log.warning("registry_exposed", address=server.address,
                    note="the registry does not authenticate: whoever reaches this address "
                         "can push and pull images")


@click.command("registry")
@click.option("--data-dir", default="./data", show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Blobs go under <data-dir>/registry.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 for nodes elsewhere; it has no "
                   "authentication).")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535),
              help="0 picks a free port.")
def registry_command(data_dir: Path, host: str, port: int) -> None:
    """Run berth's image registry (Debian's docker-registry) until Ctrl-C."""

    async def serve() -> None:
        server = registry_server(data_dir, host, port)
        try:
            await server.start()
        except RegistryUnavailable as exc:
            raise click.ClickException(f"berth's registry did not start: {exc}") from None
        warn_if_exposed(server)
        click.echo(f"berth registry: {server.address} (blobs under {data_dir / 'registry'}); "
                   f"Ctrl-C stops", err=True)
        try:
            await until_signalled()
        finally:
            await server.stop()

    asyncio.run(serve())
