"""Fetching a task's image from berth's registry when the node's engine lacks it.

A node runs what its engine has; berth's registry (master/registry_server.py) is where
built images live for every node. When a task names an image this engine lacks and the
agent knows the registry, the image is pulled as `<registry>/<image>` and tagged back
under the name the task used, so the container is created exactly as on a node that had
it. Names that already carry a registry host are not rewritten: only berth's own
registry is pulled from (no other registry is reachable from a berth cluster). Pulls of
one image by launches at the same time happen once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from docker.errors import DockerException, NotFound

from executor.docker_errors import docker_text

log = structlog.get_logger("executor.image_pull")


@dataclass(frozen=True)
class Reference:
    """An image reference split Docker's way: `[host[:port]/]path[:tag][@digest]`."""

    host: str | None  # a registry host when the first path part names one
    path: str  # "berth/busybox", "busybox"
    tag: str | None
    digest: str | None

    @property
    def repository(self) -> str:
        return f"{self.host}/{self.path}" if self.host else self.path


def parse_reference(image: str) -> Reference:
    """Split without judging: the engine says whether the name is valid. The first part
    is a registry host when it has a dot or a port, or is `localhost` (Docker's rule)."""
    rest, _, digest = image.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    tag = None
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1:]
    first, sep, remainder = rest.partition("/")
    host = None
    if sep and ("." in first or ":" in first or first == "localhost"):
        host, rest = first, remainder
    return Reference(host, rest, tag, digest or None)


def registry_source(image: str, registry: str) -> str | None:
    """What to pull from `registry` for a task's `image`: `<registry>/<image>` with the
    tag (`latest` when none) or digest it had, the name itself when it already names
    that registry, None when it names another registry (left alone)."""
    ref = parse_reference(image)
    if ref.host is not None and ref.host != registry:
        return None
    source = f"{registry}/{ref.path}"
    if ref.digest:
        return f"{source}@{ref.digest}"
    return f"{source}:{ref.tag or 'latest'}"


def local_name(image: str) -> tuple[str, str] | None:
    """(repository, tag) to tag a pulled image back as the task's name; None for a digest
    reference, which cannot be a tag (such a task runs the pulled reference itself)."""
    ref = parse_reference(image)
    if ref.digest:
        return None
    return ref.repository, ref.tag or "latest"


class ImagePuller:
    """Makes a task's image present on this node's engine. `registry` (`host:port`, or
    None) may change while the agent runs: the master tells it at each registration."""

    def __init__(self, client: Any, registry: str | None = None,
                 run: Callable[..., Any] | None = None):
        """`run(fn, *args)` awaits a blocking SDK call off the event loop
        (asyncio.to_thread by default: a pull may take long and must not hold a slot of
        the backend's own small pool)."""
        self.client = client
        self.registry = registry
        self._run = run or asyncio.to_thread
        self._pulling: dict[str, asyncio.Future[str | None]] = {}

    async def ensure(self, image: str) -> tuple[str, str | None]:
        """(the reference to create the container from, None) when the image is here or
        was pulled; (image, the reason) when it cannot be had."""
        try:
            await self._run(self.client.images.get, image)
            return image, None
        except NotFound:
            pass
        except DockerException as exc:
            return image, f"cannot ask Docker about image {image}: {docker_text(exc)[:300]}"
        registry = self.registry
        if not registry:
            return image, f"image {image} not found on this node"
        source = registry_source(image, registry)
        if source is None:
            return image, (f"image {image} not found on this node; it names registry "
                           f"{parse_reference(image).host}, not berth's registry {registry}")
        pending = self._pulling.get(source)
        if pending is None:
            pending = asyncio.ensure_future(self._pull(image, source, registry))
            self._pulling[source] = pending
            pending.add_done_callback(lambda _: self._pulling.pop(source, None))
        reason = await asyncio.shield(pending)
        if reason is not None:
            return image, reason
        return (image if local_name(image) else source), None

    async def _pull(self, image: str, source: str, registry: str) -> str | None:
        log.info("image_pull", image=image, source=source)
        try:
            pulled = await self._run(self.client.images.pull, source)
            name = local_name(image)
            if name is not None:
                await self._run(pulled.tag, *name)
        except NotFound as exc:
            return (f"image {image} not found on this node nor in registry {registry} "
                    f"({docker_text(exc)[:300]})")
        except DockerException as exc:
            return (f"image {image} not found on this node, and registry {registry} could "
                    f"not serve it: {docker_text(exc)[:300]}")
        log.info("image_pulled", image=image, source=source)
        return None
