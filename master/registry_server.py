"""berth's image registry: Debian's `docker-registry` (the Docker distribution registry) run
as a child process beside the master, its blobs under the data dir.

A process, not a library: the distribution registry is what Docker engines already speak to
(`docker push` / `docker pull`), so nothing here reimplements its protocol. This module only
writes its configuration, starts it, waits until `/v2/` answers and stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import structlog

log = structlog.get_logger("berth.registry")

BINARY = "docker-registry"
DEFAULT_PORT = 5000


PR_SET_PDEATHSIG = 1  # prctl(2): the signal a child gets when its parent dies


def _ending_with_parent() -> Callable[[], object] | None:
    """What the registry child runs before the registry, on Linux: ask for SIGTERM when
    berth dies. A `berth up` killed with SIGKILL cannot stop its registry, which would
    then hold the registry's port and make the next `berth up` on the same data dir fail
    to start one. (Looked up here, in berth: the child between fork and exec only calls.)"""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # this process's own C library
    return lambda: prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class RegistryUnavailable(Exception):
    """The registry could not be started (binary missing, port taken, it exited)."""


def registry_config(root: Path, host: str, port: int) -> str:
    """The registry's YAML: filesystem storage under `root`, deletes allowed (Jisto's
    deleteImage removes manifests), plain HTTP on `host:port`."""
    return "\n".join([
        "version: 0.1",
        "log:",
        "  level: warn",
        "  formatter: text",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {root}",
        "  delete:",
        "    enabled: true",
        "http:",
        f"  addr: {host}:{port}",
        "",
    ])


@dataclass
class RegistryServer:
    """One `docker-registry` child. `address` (`host:port`) is what engines push to and
    pull from; `url` is its HTTP API."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    binary: str = BINARY
    _process: asyncio.subprocess.Process | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    async def start(self, timeout: float = 15.0) -> None:
        path = shutil.which(self.binary)
        if path is None:
            raise RegistryUnavailable(
                f"{self.binary} is not installed (Debian's docker-registry package; "
                f"scripts/setup.sh installs it)")
        root = self.data_dir / "registry"
        root.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "registry.yml"
        config.write_text(registry_config(root, self.host, self.port))
        self._process = await asyncio.create_subprocess_exec(
            path, "serve", str(config), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            preexec_fn=_ending_with_parent())
        try:
            await self._wait_ready(timeout)
        except BaseException:
            await self.stop()
            raise
        log.info("registry_started", address=self.address, root=str(root))

    async def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while True:
                process = self._process
                assert process is not None
                if process.returncode is not None:
                    error = await process.stderr.read() if process.stderr else b""
                    raise RegistryUnavailable(
                        f"{self.binary} on {self.address} exited with {process.returncode}: "
                        f"{error.decode(errors='replace').strip()[-500:]}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(f"{self.url}/v2/",
                                           timeout=aiohttp.ClientTimeout(total=1)) as answer:
                        if answer.status == 200:
                            return
                if time.monotonic() > deadline:
                    raise RegistryUnavailable(
                        f"{self.binary} on {self.address} did not answer within {timeout:g} s")
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            async with asyncio.timeout(5):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()
