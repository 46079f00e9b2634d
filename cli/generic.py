"""`berth job code upload|list|enable|download|delete`, `berth job script
run|interrupt|cleanup|status` and `berth job volume create|list|delete`: ConPaaS's
cpsclient verbs for a service job, as clients of the framework's `/v1/jobs/{name}/code`,
`/scripts` and `/volumes` routes (docs/generic-service.md)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from cli.client import fail, open_url, request, url_option


def _job(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def _call(method: str, url: str, body: dict | None = None, ok=(200,)) -> dict:
    data = None if body is None else json.dumps(body).encode()
    status, answer = request(method, url, data, timeout=120)
    if status not in ok:
        fail(status, answer)
    return answer


@click.group("code")
def code_group() -> None:
    """A service job's code versions (ConPaaS's upload_code, list_uploads, ...)."""


@code_group.command("upload")
@click.argument("job")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--description", default="", help="Shown by `berth job code list`.")
@url_option
def upload(job: str, archive: Path, description: str, url: str) -> None:
    """Upload ARCHIVE (tar, tar.gz, tar.bz2 or zip) as a new code version of JOB."""
    query = urllib.parse.urlencode({"filename": archive.name, "description": description})
    status, answer = request("POST", f"{url}/v1/jobs/{_job(job)}/code?{query}",
                             archive.read_bytes(),
                             headers={"Content-Type": "application/octet-stream"},
                             timeout=120)
    if status != 201:
        fail(status, answer)
    click.echo(f"Code version {answer['id']} uploaded")


@code_group.command("list")
@click.argument("job")
@url_option
def list_uploads(job: str, url: str) -> None:
    """JOB's code versions, the active one marked `*`."""
    answer = _call("GET", f"{url}/v1/jobs/{_job(job)}/code")
    table = Table(title=f"code versions of {job}")
    for column in ("CURRENT", "CODEVERSIONID", "FILENAME", "DESCRIPTION"):
        table.add_column(column)
    for version in answer["codeVersions"]:
        table.add_row("*" if version["current"] else "", version["id"], version["filename"],
                      version["description"])
    Console().print(table)


@code_group.command("enable")
@click.argument("job")
@click.argument("version")
@url_option
def enable(job: str, version: str, url: str) -> None:
    """Make VERSION JOB's active code (init.sh runs on every instance)."""
    _call("PUT", f"{url}/v1/jobs/{_job(job)}/code/{_job(version)}/active")
    click.echo(f"{version} enabled")


@code_group.command("download")
@click.argument("job")
@click.argument("version")
@url_option
def download(job: str, version: str, url: str) -> None:
    """Save VERSION's archive under its original name in the current directory."""
    outgoing = urllib.request.Request(f"{url}/v1/jobs/{_job(job)}/code/{_job(version)}")
    try:
        with open_url(outgoing, 120) as resp:
            data = resp.read()
            disposition = resp.headers.get("Content-Disposition", "")
    except urllib.error.HTTPError as exc:
        fail(exc.code, json.loads(exc.read() or b"{}"))
        return
    name = disposition.partition('filename="')[2].rstrip('"') or f"{version}.tar"
    target = Path(Path(name).name)  # never a path out of the current directory
    target.write_bytes(data)
    click.echo(f"{version} saved as {target}")


@code_group.command("delete")
@click.argument("job")
@click.argument("version")
@url_option
def delete(job: str, version: str, url: str) -> None:
    """Delete VERSION (not the active one)."""
    _call("DELETE", f"{url}/v1/jobs/{_job(job)}/code/{_job(version)}")
    click.echo(f"{version} deleted")


@click.group("script")
def script_group() -> None:
    """A service job's lifecycle scripts (ConPaaS's run, interrupt, cleanup, ...)."""


def _requested(script: str):
    @script_group.command(script, help=f"Run {script}.sh on every instance of JOB with "
                          "PARAMETERS ($1, $2... inside).")
    @click.argument("job")
    @click.argument("parameters", nargs=-1)
    @url_option
    def command(job: str, parameters: tuple[str, ...], url: str) -> None:
        _call("POST", f"{url}/v1/jobs/{_job(job)}/scripts/{script}",
              {"parameters": list(parameters)}, ok=(202,))
        click.echo(f"{script}.sh started on every instance of {job}")
    return command


for _script in ("run", "interrupt", "cleanup"):
    _requested(_script)


@script_group.command("status")
@click.argument("job")
@click.argument("instance", required=False)
@click.option("--json", "as_json", is_flag=True, help="The raw JSON (outputs included).")
@url_option
def status(job: str, instance: str | None, as_json: bool, url: str) -> None:
    """Each instance's scripts; with INSTANCE, its outputs and log too."""
    query = f"?instance={urllib.parse.quote(instance)}" if instance else ""
    answer = _call("GET", f"{url}/v1/jobs/{_job(job)}/scripts{query}")
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    for found in answer["instances"]:
        click.echo(f"{found['instance']} ({found['role']}, {found['address']})")
        for name, script in found["scripts"].items():
            code = "" if script["exit_code"] is None else f" ({script['exit_code']})"
            click.echo(f"  {name}.sh: {script['state']}{code}")
            if instance:
                for stream in ("stdout", "stderr"):
                    if script[stream]:
                        click.echo(f"    {stream}: " + script[stream].rstrip().replace(
                            "\n", "\n      "))
        if instance:
            click.echo("  log:\n    " + found["log"].replace("\n", "\n    "))


@click.group("volume")
def volume_group() -> None:
    """A service job's volumes (ConPaaS's create_volume, list_volumes, delete_volume)."""


@volume_group.command("create")
@click.argument("job")
@click.argument("name")
@click.argument("size", type=click.IntRange(1))
@click.argument("instance")
@url_option
def create_volume(job: str, name: str, size: int, instance: str, url: str) -> None:
    """Create volume NAME of SIZE MB on INSTANCE (restarted with it, at /media/NAME)."""
    answer = _call("POST", f"{url}/v1/jobs/{_job(job)}/volumes",
                   {"name": name, "size": size, "instance": instance}, ok=(201,))
    click.echo(f"Volume {answer['name']} created on {instance} ({answer['mount']})")


@volume_group.command("list")
@click.argument("job")
@url_option
def list_volumes(job: str, url: str) -> None:
    """JOB's volumes and the instance that mounts each."""
    answer = _call("GET", f"{url}/v1/jobs/{_job(job)}/volumes")
    table = Table(title=f"volumes of {job}")
    for column in ("NAME", "SIZE (MB)", "INSTANCE", "MOUNT"):
        table.add_column(column)
    for volume in answer["volumes"]:
        table.add_row(volume["name"], str(volume["size"]), volume["instance"] or "",
                      volume["mount"])
    Console().print(table)


@volume_group.command("delete")
@click.argument("job")
@click.argument("name")
@url_option
def delete_volume(job: str, name: str, url: str) -> None:
    """Detach and delete volume NAME (its instance restarts without it)."""
    _call("DELETE", f"{url}/v1/jobs/{_job(job)}/volumes/{_job(name)}")
    click.echo(f"Volume {name} deleted")
