"""Images a node lacks, fetched from berth's registry: which reference is pulled, under
which name it is tagged back, one pull for launches at the same time, and the reasons
when it cannot be had. The Docker client is a stand-in recording calls; the real pull
is in tests/test_registry_cluster.py."""

from __future__ import annotations

import asyncio
import threading

import aiohttp
import pytest
from docker.errors import APIError, ImageNotFound, NotFound

from api.registry_address import address_for, check_registry_address, local_address
from executor.image_pull import ImagePuller, local_name, parse_reference, registry_source

REG = "127.0.0.1:5000"


@pytest.mark.parametrize(("image", "source", "tagged_as"), [
    ("berth/busybox", f"{REG}/berth/busybox:latest", ("berth/busybox", "latest")),
    ("busybox", f"{REG}/busybox:latest", ("busybox", "latest")),
    ("busybox:1.36", f"{REG}/busybox:1.36", ("busybox", "1.36")),
    ("team/app:v2.1", f"{REG}/team/app:v2.1", ("team/app", "v2.1")),
    ("app@sha256:" + "a" * 64, f"{REG}/app@sha256:" + "a" * 64, None),
    ("app:v1@sha256:" + "b" * 64, f"{REG}/app@sha256:" + "b" * 64, None),
    (f"{REG}/app:3", f"{REG}/app:3", (f"{REG}/app", "3")),  # names berth's registry
    ("docker.io/library/busybox", None, ("docker.io/library/busybox", "latest")),
    ("localhost:5001/app:1", None, ("localhost:5001/app", "1")),
    ("localhost/app", None, ("localhost/app", "latest")),
    ("quay.io/org/app", None, ("quay.io/org/app", "latest")),
])
def test_what_is_pulled_and_what_it_is_tagged_as(image, source, tagged_as):
    assert registry_source(image, REG) == source
    assert local_name(image) == tagged_as


def test_a_port_in_the_host_is_not_taken_for_a_tag():
    ref = parse_reference("10.0.0.5:5000/team/app")
    assert (ref.host, ref.path, ref.tag, ref.digest) == ("10.0.0.5:5000", "team/app", None, None)
    assert parse_reference("library/busybox").host is None


@pytest.mark.parametrize(("text", "address"), [
    ("10.0.0.5:5000", "10.0.0.5:5000"), ("registry.lan", "registry.lan:5000"),
    ("[::1]:5000", "[::1]:5000"), ("0.0.0.0:5001", "0.0.0.0:5001")])
def test_registry_addresses_accepted(text, address):
    assert check_registry_address(text) == address


@pytest.mark.parametrize(("text", "problem"), [
    ("http://10.0.0.5:5000", "no scheme"), ("host:5000/path", "no path"),
    ("host:http", "port must be a number"), ("host:0", "port must be a number"),
    ("::1:5000", "brackets"), ("", "empty")])
def test_registry_addresses_refused_say_why(text, problem):
    with pytest.raises(ValueError, match=problem):
        check_registry_address(text)


def test_a_wildcard_registry_is_told_as_the_address_the_agent_reached():
    assert address_for("0.0.0.0:5000", "172.17.0.1") == "172.17.0.1:5000"
    assert address_for("0.0.0.0:5000", "::1") == "[::1]:5000"
    assert address_for("10.1.2.3:5000", "172.17.0.1") == "10.1.2.3:5000"
    assert address_for(None, "172.17.0.1") is None
    assert local_address("0.0.0.0:5005") == "127.0.0.1:5005"


class FakeImage:
    def __init__(self, client: FakeClient, ref: str):
        self.client, self.ref = client, ref

    def tag(self, repository: str, tag: str) -> bool:
        self.client.local.add(f"{repository}:{tag}")
        self.client.calls.append(("tag", f"{repository}:{tag}"))
        return True


class FakeClient:
    """Images on the node (`local`) and in the registry (`remote`); pulls wait on `gate`."""

    def __init__(self, local=(), remote=(), pull_error: Exception | None = None):
        self.local = set(local)
        self.remote = set(remote)
        self.pull_error = pull_error
        self.calls: list[tuple[str, str]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.images = self

    def get(self, name: str) -> FakeImage:
        if name in self.local or f"{name}:latest" in self.local:
            return FakeImage(self, name)
        raise ImageNotFound(f"No such image: {name}")

    def pull(self, ref: str) -> FakeImage:
        self.calls.append(("pull", ref))
        self.gate.wait(10)
        if self.pull_error is not None:
            raise self.pull_error
        if ref not in self.remote:
            raise NotFound("manifest unknown")
        return FakeImage(self, ref)


def test_an_image_on_the_node_is_not_pulled():
    client = FakeClient(local={"berth/busybox:latest"}, remote={f"{REG}/berth/busybox:latest"})
    result = asyncio.run(ImagePuller(client, REG).ensure("berth/busybox"))
    assert result == ("berth/busybox", None)
    assert client.calls == []


def test_a_missing_image_is_pulled_and_tagged_under_the_tasks_name():
    client = FakeClient(remote={f"{REG}/app:2"})
    result = asyncio.run(ImagePuller(client, REG).ensure("app:2"))
    assert result == ("app:2", None)
    assert client.calls == [("pull", f"{REG}/app:2"), ("tag", "app:2")]


def test_a_digest_reference_runs_as_pulled():
    digest = "app@sha256:" + "c" * 64
    client = FakeClient(remote={f"{REG}/{digest}"})
    assert asyncio.run(ImagePuller(client, REG).ensure(digest)) == (f"{REG}/{digest}", None)


def test_launches_at_the_same_time_pull_once():
    client = FakeClient(remote={f"{REG}/app:latest"})
    client.gate.clear()
    puller = ImagePuller(client, REG)

    async def scenario():
        launches = [asyncio.ensure_future(puller.ensure("app")) for _ in range(5)]
        await asyncio.sleep(0.05)  # ok: lets all five reach the pull before it ends
        client.gate.set()
        return await asyncio.gather(*launches)

    assert asyncio.run(scenario()) == [("app", None)] * 5
    assert [c for c in client.calls if c[0] == "pull"] == [("pull", f"{REG}/app:latest")]


def test_without_a_registry_the_reason_is_as_before():
    result = asyncio.run(ImagePuller(FakeClient()).ensure("nope"))
    assert result == ("nope", "image nope not found on this node")


def test_an_image_in_neither_place_names_both():
    _, reason = asyncio.run(ImagePuller(FakeClient(), REG).ensure("nope:1"))
    assert reason.startswith(f"image nope:1 not found on this node nor in registry {REG}")


def test_an_unreachable_registry_is_named():
    client = FakeClient(pull_error=APIError("Get http://127.0.0.1:5000/v2/: connection refused"))
    _, reason = asyncio.run(ImagePuller(client, REG).ensure("app"))
    assert f"registry {REG} could not serve it" in reason and "connection refused" in reason


def test_another_registrys_image_is_left_alone():
    client = FakeClient()
    _, reason = asyncio.run(ImagePuller(client, REG).ensure("quay.io/org/app"))
    assert reason == ("image quay.io/org/app not found on this node; it names registry "
                      f"quay.io, not berth's registry {REG}")
    assert client.calls == []


async def test_the_master_tells_each_agent_the_registry_as_it_reached_the_master(tmp_path):
    from tests.master_fixtures import start_test_master

    body = {"hostname": "n1", "total": {"cpus": 1, "mem": 512}, "running": []}
    for configured, told in (("0.0.0.0:5999", "127.0.0.1:5999"),
                             ("10.1.2.3:5000", "10.1.2.3:5000"), (None, None)):
        master = await start_test_master(tmp_path, registry=configured)
        try:
            async with aiohttp.ClientSession() as http, \
                    http.post(f"{master.url}/agent/v1/register", json=body) as resp:
                assert resp.status == 200
                assert (await resp.json())["registry"] == told
        finally:
            await master.stop()
