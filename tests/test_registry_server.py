"""berth's registry process: Debian's docker-registry started, answering /v2/, stopped."""

from __future__ import annotations

import asyncio
import socket
import subprocess

import aiohttp
import pytest

from master.registry_server import RegistryServer, RegistryUnavailable, registry_config


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_config_keeps_blobs_under_the_data_dir_and_allows_deletes(tmp_path):
    text = registry_config(tmp_path / "registry", "127.0.0.1", 5123)
    assert f"rootdirectory: {tmp_path / 'registry'}" in text
    assert "addr: 127.0.0.1:5123" in text
    assert "enabled: true" in text


def test_registry_answers_and_stops(tmp_path):
    async def scenario():
        server = RegistryServer(tmp_path, port=_free_port())
        await server.start()
        try:
            async with aiohttp.ClientSession() as session, \
                    session.get(f"{server.url}/v2/_catalog") as answer:
                assert answer.status == 200
                assert (await answer.json()) == {"repositories": []}
        finally:
            await server.stop()
        with pytest.raises(aiohttp.ClientError):
            async with aiohttp.ClientSession() as session, \
                    session.get(f"{server.url}/v2/") as answer:
                pass
    asyncio.run(scenario())


def test_taken_port_is_a_clear_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        async def scenario():
            with pytest.raises(RegistryUnavailable, match=f"127.0.0.1:{port}"):
                await RegistryServer(tmp_path, port=port).start(timeout=5)
        asyncio.run(scenario())


def test_missing_binary_says_what_to_install(tmp_path):
    async def scenario():
        with pytest.raises(RegistryUnavailable, match="not installed"):
            await RegistryServer(tmp_path, binary="no-such-registry-binary").start()
    asyncio.run(scenario())


@pytest.mark.docker
def test_an_image_pushed_to_it_can_be_pulled_back(tmp_path):
    async def scenario():
        server = RegistryServer(tmp_path, port=_free_port())
        await server.start()
        try:
            tag = f"{server.address}/berth-test/busybox:1"
            for command in (["docker", "tag", "berth/busybox", tag], ["docker", "push", tag],
                            ["docker", "rmi", tag], ["docker", "pull", tag]):
                await asyncio.to_thread(subprocess.run, command, check=True,
                                        capture_output=True)
            subprocess.run(["docker", "rmi", tag], check=True, capture_output=True)
        finally:
            await server.stop()
    asyncio.run(scenario())
