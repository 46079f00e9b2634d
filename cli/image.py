"""`berth image ...`: Jisto's image verbs (seed 000, sections 4.4 and 4.8) over the
framework's image API (api/images_app.py): upload an image template, list, delete, pull.
Answers with jistocli's messages, so scripts that read them keep working."""

from __future__ import annotations

import os
import time
import urllib.parse
from pathlib import Path

import click
from urllib3 import encode_multipart_formdata

from cli.client import fail, request, url_option

UPLOAD_TIMEOUT = 600.0


def _login(user: str | None) -> None:
    """With `-u USER`, ask the password as jistocli does and send them (HTTP Basic)."""
    if user is None:
        return
    password = click.prompt(f"{time.strftime('%Y/%m/%d %H:%M:%S')} Enter password for: "
                            f"{user}", hide_input=True, prompt_suffix="", err=True)
    os.environ.pop("BERTH_TOKEN", None)
    os.environ["BERTH_USER"], os.environ["BERTH_PASSWORD"] = user, password


user_option = click.option("-u", "--user", default=None,
                           help="A berth user; the password is asked for.")


def _quoted(name: str) -> str:
    return urllib.parse.quote(name, safe="/")  # the tag's colon as %3A, as Jisto's API


@click.group("image")
def image_group() -> None:
    """berth's images: image templates built into its registry, images pulled into it."""


@image_group.command("upload")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@user_option
@url_option
def upload(archive: Path, user: str | None, url: str) -> None:
    """Upload an image template ARCHIVE (a tar.gz with config.json, build.sh, run.sh and
    the application's files); berth builds it and pushes it to its registry."""
    _login(user)
    body, content_type = encode_multipart_formdata([
        ("contentType", "images"),
        ("files[]", (archive.name, archive.read_bytes(), "application/gzip"))])
    status, answer = request("POST", f"{url}/upload", body,
                             headers={"Content-Type": content_type},
                             timeout=UPLOAD_TIMEOUT)
    if status != 200:
        fail(status, answer)
    click.echo(f"Image {{{answer['name']}}} uploaded. Note that it may not be available "
               "for immediate use.")


@image_group.command("list")
@user_option
@url_option
def list_images(user: str | None, url: str) -> None:
    """berth's images: name, state, size, when created, why a build failed."""
    _login(user)
    status, answer = request("GET", f"{url}/v1/images", retries=2)
    if status != 200:
        fail(status, answer)
    click.echo(f"{'NAME':<40} {'STATE':<9} {'SIZE':>10}  {'CREATED':<19}  REASON")
    for image in answer["images"]:
        size = "" if image["size"] is None else f"{image['size'] / 1e6:.1f}MB"
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(image["created"]))
        click.echo(f"{image['name']:<40} {image['state']:<9} {size:>10}  {created:<19}  "
                   f"{image['reason'] or ''}".rstrip())


@image_group.command("delete")
@click.argument("name")
@user_option
@url_option
def delete(name: str, user: str | None, url: str) -> None:
    """Delete the image NAME from berth's registry and its list."""
    _login(user)
    status, answer = request("POST", f"{url}/deleteImage/{_quoted(name)}")
    if status != 200:
        fail(status, answer)
    click.echo(f"Image {{{name}}} Deleted.")


@image_group.command("pull")
@click.argument("name")
@user_option
@url_option
def pull(name: str, user: str | None, url: str) -> None:
    """Pull NAME (`hello-world:latest`) from the upstream registry into berth's."""
    _login(user)
    status, answer = request("POST", f"{url}/pullImage/{_quoted(name)}")
    if status != 200:
        fail(status, answer)
    click.echo(f"Image {{{answer['name']}}} pulled. Note that it may not be available "
               "for immediate use.")


@image_group.command("log")
@click.argument("name")
@user_option
@url_option
def build_log(name: str, user: str | None, url: str) -> None:
    """The build (or pull) log of the image NAME."""
    _login(user)
    status, answer = request("GET", f"{url}/v1/images/{_quoted(name)}/log")
    if status != 200:
        fail(status, answer)
    click.echo(answer, nl=False)
