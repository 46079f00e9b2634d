"""Shared helpers for the agent's tests: polling with a deadline, images, cleanup."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parent.parent
TEST_LABEL = "berth.test"


async def wait_for(predicate: Callable[[], object], timeout: float = 30.0,
                   what: str = "condition") -> object:
    """Poll until `predicate()` is truthy; the deadline only bounds a failure."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_images() -> None:
    subprocess.run([str(ROOT / "scripts" / "local-images.sh")], check=True)


def remove_agent_containers(agent_id: str) -> None:
    client = docker.from_env()
    try:
        for c in client.containers.list(all=True, sparse=True,
                                        filters={"label": [f"berth.agent_id={agent_id}"]}):
            with contextlib.suppress(docker.errors.APIError):  # the backend may be removing it
                c.remove(force=True)
    finally:
        client.close()
