"""`berth client set CLIENT KEY=VALUE... | get CLIENT`: a client's global parameters
(`/v1/clients/{client}/parameters` on the framework), per namespace."""

from __future__ import annotations

import json
import urllib.parse

import click

from cli.client import fail, request, url_option

namespace_option = click.option("--namespace", help="Whose client (default: yours, else "
                                                    "`default`).")


@click.group("client")
def client_group() -> None:
    """Set and read clients' global parameters (what their jobs' runs get)."""


def _url(url: str, client: str, namespace: str | None) -> str:
    query = f"?{urllib.parse.urlencode({'namespace': namespace})}" if namespace else ""
    return f"{url}/v1/clients/{urllib.parse.quote(client, safe='')}/parameters{query}"


@client_group.command("set")
@click.argument("client")
@click.argument("pairs", nargs=-1, required=True, metavar="KEY=VALUE...")
@namespace_option
@url_option
def set_parameters(client: str, pairs: tuple[str, ...], namespace: str | None,
                   url: str) -> None:
    """Replace CLIENT's parameters by KEY=VALUE pairs (all of them: what is not given is
    dropped)."""
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="KEY=VALUE")
        values[key] = value
    status, answer = request("PUT", _url(url, client, namespace), json.dumps(values).encode())
    if status != 200:
        fail(status, answer)
    click.echo(f"client {client} ({answer['namespace']}): "
               f"{len(answer['parameters'])} parameters set")


@client_group.command("get")
@click.argument("client")
@namespace_option
@url_option
@click.option("--json", "as_json", is_flag=True, help="The raw JSON.")
def get_parameters(client: str, namespace: str | None, url: str, as_json: bool) -> None:
    """CLIENT's parameters, one KEY=VALUE a line."""
    status, answer = request("GET", _url(url, client, namespace))
    if status != 200:
        fail(status, answer)
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    for key, value in sorted(answer["parameters"].items()):
        click.echo(f"{key}={value}")
