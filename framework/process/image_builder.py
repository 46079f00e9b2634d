"""berth's images in the framework process: image templates built through the Docker SDK,
images pulled from the upstream registry, both pushed to berth's registry; deletes.

An upload answers at once: the image is written `building`, then a build runs off the
event loop (a worker thread talks to the engine) and the image ends `ready` or `failed`
with its build log. Docker tags an image only when its build succeeds; a push that fails
removes the tags this build added, so nothing half-built stays tagged. With no registry
configured the image stays in the framework host's engine and is `ready` once built.
The core is told which images are building (`ImagesBuilding`): instances using one wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import docker
import docker.errors
import structlog

from framework import commands as cmd
from framework import events as ev
from framework.images import RESTARTED, ImageBook, ImageRecord, ImageState, ImageStore
from framework.process.change_feed import image_change
from framework.process.event_hub import EventHub
from framework.store import FrameworkStore
from offers.image_template import (
    DEFAULT_BASE,
    MAX_TEMPLATE,
    RUNFILE_NOT_EXECUTABLE,
    ImageTemplate,
    build_context,
    normal_name,
)

log = structlog.get_logger("berth.images")
DOCKER_HUB = "registry-1.docker.io"
MANIFESTS = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json"])


@dataclass(frozen=True)
class ImageSettings:
    """`registry`: berth's registry (host:port) images are pushed to, None: none (images
    stay in this host's engine); `upstream`: where `pullImage` pulls from; `base`: the
    image templates are built on; `max_template`: bytes of an uploaded tar.gz."""

    registry: str | None = None
    upstream: str = DOCKER_HUB
    base: str = DEFAULT_BASE
    max_template: int = MAX_TEMPLATE


class ImagesDriver(Protocol):
    store: FrameworkStore
    clock: Callable[[], float]
    events: EventHub  # what `GET /v1/events` streams (the Images page follows it)

    def apply(self, event: ev.Event) -> list[cmd.Command]: ...


class ImageBusy(Exception):
    """The image is being built or pulled already (the API answers 409)."""


class ImageNotFound(LookupError):
    """berth keeps no image of that name."""


class UpstreamUnreachable(Exception):
    """The upstream registry did not answer (the API answers 502)."""


class _Failed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _scheme(address: str) -> str:
    host = address.rsplit(":", 1)[0] if address.count(":") == 1 else address
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    return "http" if loopback else "https"


def _split(name: str) -> tuple[str, str]:
    repository, _, tag = normal_name(name).rpartition(":")
    return repository, tag


class ImageService:
    """The images of one framework process, in memory (`book`) and on disk."""

    def __init__(self, service: ImagesDriver, settings: ImageSettings | None = None,
                 client: Callable[[], Any] = docker.from_env) -> None:
        self.service = service
        self.settings = settings or ImageSettings()
        self.book = ImageBook(self.settings.registry)
        self.store = ImageStore(service.store.engine)
        self._client_factory = client
        self._client: Any = None
        self._tasks: set[asyncio.Task] = set()
        self._lock = asyncio.Lock()

    # -- life cycle -----------------------------------------------------------------------

    async def load(self) -> None:
        """What the store holds; a build a restart interrupted ends failed, saying so."""
        records = await asyncio.to_thread(self.store.load)
        now = self.service.clock()
        for i, record in enumerate(records):
            if record.state is ImageState.BUILDING:
                records[i] = dataclasses.replace(
                    record, state=ImageState.FAILED, reason=RESTARTED, updated_at=now,
                    log=record.log + f"\n{RESTARTED}\n")
                await asyncio.to_thread(self.store.save, records[i])
        self.book.load(records)
        self._tell()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    # -- requests -------------------------------------------------------------------------

    async def upload(self, template: ImageTemplate) -> ImageRecord:
        """Start building a checked template; on disk as `building` when it returns."""
        context = build_context(template, self.settings.base)
        return await self._begin(template.config.name, "template", self._build(context))

    async def pull(self, name: str) -> ImageRecord:
        """Start pulling `name` from upstream (UpstreamUnreachable if it does not answer)."""
        await self._probe_upstream()
        return await self._begin(normal_name(name), "pull", self._pull)

    async def delete(self, name: str) -> ImageRecord:
        """The image out of berth's registry, this host's engine and the store."""
        async with self._lock:
            record = self.book.get(normal_name(name))
            if record is None:
                raise ImageNotFound(f"no image named {name!r}")
            if record.state is ImageState.BUILDING:
                raise ImageBusy(f"image {record.name} is building; delete it once built")
            if self.settings.registry:
                await self._delete_manifest(record.name)
            await asyncio.to_thread(self._untag, record.name)
            await asyncio.to_thread(self.store.delete, record.name)
            self.book.remove(record.name)
        self.service.events.publish("image", image_change(record, deleted=True))
        return record

    # -- the work -------------------------------------------------------------------------

    async def _begin(self, name: str, origin: str,
                     work: Callable[[str, list[str]], int | None]) -> ImageRecord:
        async with self._lock:
            known = self.book.get(name)
            if known is not None and known.state is ImageState.BUILDING:
                raise ImageBusy(f"image {name} is being built already")
            now = self.service.clock()
            record = ImageRecord(name, ImageState.BUILDING, origin,
                                 known.created_at if known else now, now)
            await asyncio.to_thread(self.store.save, record)
            self.book.put(record)
            self._tell()
        self.service.events.publish("image", image_change(record))
        task = asyncio.get_running_loop().create_task(self._run(record, work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return record

    async def _run(self, record: ImageRecord,
                   work: Callable[[str, list[str]], int | None]) -> None:
        lines: list[str] = []
        try:
            size = await asyncio.to_thread(work, record.name, lines)
            done = dataclasses.replace(record, state=ImageState.READY, size=size)
        except _Failed as exc:
            done = dataclasses.replace(record, state=ImageState.FAILED, reason=exc.reason)
        except Exception as exc:  # the engine away, the SDK surprised: a failure, said
            done = dataclasses.replace(record, state=ImageState.FAILED,
                                       reason=f"{type(exc).__name__}: {exc}")
        done = dataclasses.replace(done, log="".join(lines),
                                   updated_at=self.service.clock())
        if done.reason:
            done = dataclasses.replace(done, log=done.log + f"\n{done.reason}\n")
        log.info("image_done", name=done.name, state=done.state.value, reason=done.reason,
                 size=done.size)
        for attempt in range(30):  # the store is away: keep trying, it must end written
            try:
                await asyncio.to_thread(self.store.save, done)
                break
            except Exception as exc:
                log.warning("image_not_saved", name=done.name, error=str(exc),
                            attempt=attempt)
                await asyncio.sleep(1.0)
        self.book.put(done)
        self._tell()
        self.service.events.publish("image", image_change(done))

    def _build(self, context: bytes) -> Callable[[str, list[str]], int | None]:
        """The build of `context` as the image `name`, its log into `lines`. Never from
        Docker's cache: every upload runs its `buildfile` (it may fetch or stamp something),
        and its log shows that run, as Jisto's build log does."""
        def work(name: str, lines: list[str]) -> int | None:
            api = self.client().api
            error = None
            try:
                for chunk in api.build(fileobj=io.BytesIO(context), custom_context=True,
                                       tag=name, rm=True, forcerm=True, decode=True,
                                       pull=False, nocache=True):
                    if "stream" in chunk:
                        lines.append(chunk["stream"])
                    if "error" in chunk:
                        error = chunk["error"].strip()
            except docker.errors.APIError as exc:
                error = str(exc.explanation or exc)
            if error is not None:
                if RUNFILE_NOT_EXECUTABLE in "".join(lines):
                    raise _Failed(next(line.strip() for line in lines
                                       if RUNFILE_NOT_EXECUTABLE in line))
                raise _Failed(f"the build failed: {error}")
            return self._publish(name, lines)
        return work

    def _pull(self, name: str, lines: list[str]) -> int | None:
        api = self.client().api
        repository, tag = _split(name)
        upstream = self.settings.upstream
        if upstream == DOCKER_HUB:
            source = f"docker.io/{repository if '/' in repository else 'library/' + repository}"
        else:
            source = f"{upstream}/{repository}"
        try:
            for chunk in api.pull(source, tag=tag, stream=True, decode=True):
                if "error" in chunk:
                    raise _Failed(f"pulling {source}:{tag} from {upstream} failed: "
                                  f"{chunk['error']}")
                if "status" in chunk and "id" not in chunk:
                    lines.append(chunk["status"] + "\n")
            api.tag(f"{source}:{tag}", repository, tag)
        except docker.errors.APIError as exc:
            raise _Failed(f"pulling {source}:{tag} from {upstream} failed: "
                          f"{exc.explanation or exc}") from None
        return self._publish(name, lines)

    def _publish(self, name: str, lines: list[str]) -> int | None:
        """Tag `name` for berth's registry and push it there; untagged again if that fails."""
        api = self.client().api
        size = api.inspect_image(name).get("Size")
        registry = self.settings.registry
        if not registry:
            return size
        repository, tag = _split(name)
        target = f"{registry}/{repository}"
        try:
            api.tag(name, target, tag)
            for chunk in api.push(target, tag=tag, stream=True, decode=True):
                if "error" in chunk:
                    raise _Failed(f"the push to {registry} failed: {chunk['error']}")
                if "status" in chunk and "id" not in chunk:
                    lines.append(chunk["status"] + "\n")
        except docker.errors.APIError as exc:
            self._untag(name)
            raise _Failed(f"the push to {registry} failed: {exc.explanation or exc}") \
                from None
        except _Failed:
            self._untag(name)
            raise
        lines.append(f"pushed {target}:{tag}\n")
        return size

    def _untag(self, name: str) -> None:
        api = self.client().api
        refs = [name] + ([f"{self.settings.registry}/{name}"] if self.settings.registry
                         else [])
        for ref in refs:
            with contextlib.suppress(docker.errors.APIError):
                api.remove_image(ref)

    # -- registries -----------------------------------------------------------------------

    async def _probe_upstream(self) -> None:
        upstream = self.settings.upstream
        url = f"{_scheme(upstream)}://{upstream}/v2/"
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as \
                    session, session.get(url) as answer:
                await answer.read()  # any answer (401 included) says it is there
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise UpstreamUnreachable(
                f"the upstream registry {upstream} cannot be reached: "
                f"{exc or type(exc).__name__}") from None

    async def _delete_manifest(self, name: str) -> None:
        registry = self.settings.registry
        repository, tag = _split(name)
        base = f"{_scheme(registry)}://{registry}/v2/{repository}/manifests"
        try:
            await self._delete_at(base, tag)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise UpstreamUnreachable(f"berth's registry {registry} cannot be reached: "
                                      f"{exc or type(exc).__name__}") from None

    async def _delete_at(self, base: str, tag: str) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            async with session.head(f"{base}/{tag}", headers={"Accept": MANIFESTS}) as answer:
                digest = answer.headers.get("Docker-Content-Digest")
                if answer.status == 404 or digest is None:
                    return  # not in the registry (a build that never pushed)
            async with session.delete(f"{base}/{digest}") as answer:
                if answer.status not in (200, 202, 404):
                    raise UpstreamUnreachable(
                        f"berth's registry refused the delete: "
                        f"{answer.status} {await answer.text()}")

    def _tell(self) -> None:
        self.service.apply(ev.ImagesBuilding(self.book.building(), self.settings.registry))
