"""`GET /v1/events`, `GET /v1/session` and the UI's files on a real framework (no master):
a submitted task arrives on the stream, a reconnect with Last-Event-ID misses nothing,
a slow reader is dropped without holding anyone, namespaces are kept apart, the stream
and the session need credentials once users exist while the UI's files do not."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from api.framework_server import start_framework
from framework import events as ev
from framework.process.event_hub import EventHub
from offers.offer import Offer
from tests.test_auth_http import basic, berth

JSON = {"Content-Type": "application/json"}


def _task(name: str, namespace: str = "default") -> dict:
    return {"id": name, "dockerimage": "busybox", "mem": 16, "cpus": 0.1,
            "namespace": namespace}


async def _events(resp, count: int, kinds=("task",)) -> list[tuple[str, str, dict]]:
    """The next `count` events of those kinds: (id, event, data)."""
    out, block = [], {}
    while len(out) < count:
        line = (await asyncio.wait_for(resp.content.readline(), 10)).decode().rstrip("\n")
        if line:
            key, _, value = line.partition(": ")
            block[key] = value
            continue
        if block.get("event") in kinds:
            out.append((block["id"], block["event"], json.loads(block["data"])))
        block = {}
    return out


@pytest.fixture
async def framework(tmp_path):
    fw = await start_framework(None, "127.0.0.1", 0, db_url=f"sqlite:///{tmp_path / 'b.db'}")
    async with aiohttp.ClientSession(headers=JSON) as http:
        yield fw, http
    await fw.stop()


async def test_a_submitted_task_arrives_on_the_stream_after_a_reset(framework):
    fw, http = framework
    async with http.get(f"{fw.url}/v1/events") as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream"
        assert (await resp.content.readline()).startswith(b"retry:")
        (_id, kind, reset), = await _events(resp, 1, kinds=("reset",))
        assert kind == "reset" and reset["last_id"] >= 0
        async with http.post(f"{fw.url}/v1/tasks", json=_task("hello")) as posted:
            assert posted.status == 202
        (_id, kind, task), = await _events(resp, 1)
        assert (task["name"], task["state"]) == ("hello", "PENDING")


async def test_why_a_task_waits_arrives_on_the_stream_when_an_offer_round_finds_it(framework):
    """The reason a pending task gives (not stored: it changes with every round) reaches a
    page that was already open, not only one that loads the task list after the round."""
    fw, http = framework
    async with http.get(f"{fw.url}/v1/events") as resp:
        await http.post(f"{fw.url}/v1/tasks", json={**_task("too-big"), "cpus": 512})
        (_, _, task), = await _events(resp, 1)
        assert task["state"] == "PENDING" and "512 cpus" not in (task["reason"] or "")
        fw.service.apply(ev.OffersReceived((Offer(
            id="o-1", agent_id="a1", hostname="h1", cpus=4.0, mem=4096.0, disk=1000.0,
            ports=()),)))
        (_, _, task), = await _events(resp, 1)
    assert task["name"] == "too-big" and task["state"] == "PENDING"
    assert "512 cpus" in task["reason"] and "1 nodes" in task["reason"], task["reason"]


async def test_a_reconnect_with_last_event_id_gets_what_it_missed(framework):
    fw, http = framework
    async with http.get(f"{fw.url}/v1/events") as resp:
        await http.post(f"{fw.url}/v1/tasks", json=_task("first"))
        (seen, _, _), = await _events(resp, 1)
    for name in ("second", "third"):  # while nobody listens
        await http.post(f"{fw.url}/v1/tasks", json=_task(name))
    async with http.get(f"{fw.url}/v1/events", headers={"Last-Event-ID": seen}) as resp:
        missed = await _events(resp, 2)
    assert [data["name"] for _, _, data in missed] == ["second", "third"]


async def test_a_reader_that_falls_behind_is_dropped_and_the_publisher_never_waits():
    hub = EventHub(keep=10, queue_size=3)
    slow, _ = hub.subscribe()
    quick, _ = hub.subscribe()
    for n in range(5):
        hub.publish("task", {"n": n})
        await quick.queue.get()
    assert slow.dropped and not quick.dropped and slow not in hub.readers
    _, missed = hub.subscribe(after=2)  # still kept: resumed
    assert [c.data["n"] for c in missed] == [2, 3, 4]
    for n in range(20):
        hub.publish("task", {"n": n})
    assert hub.subscribe(after=2)[1] is None  # fell out of the ring: start from a snapshot


async def test_the_ui_is_served_compressed_with_a_policy(framework):
    fw, http = framework
    async with http.get(f"{fw.url}/ui", allow_redirects=False) as resp:
        assert resp.status == 302 and resp.headers["Location"] == "/ui/"
    async with http.get(f"{fw.url}/ui/", headers={"Accept-Encoding": "gzip"}) as resp:
        assert resp.status == 200 and resp.headers["Content-Encoding"] == "gzip"
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
        assert '<script type="module" src="js/app.js">' in await resp.text()
    async with http.get(f"{fw.url}/ui/js/app.js") as resp:
        assert resp.content_type == "text/javascript"
    async with http.get(f"{fw.url}/ui/../api/auth.py") as resp:
        assert resp.status == 404


@pytest.fixture
async def secured(tmp_path):
    berth(tmp_path, "user", "add", "root", "--admin", "--password-stdin", stdin="rootpass1\n")
    berth(tmp_path, "user", "add", "alice", "--namespace", "team-a", "--password-stdin",
          stdin="alicepass\n")
    fw = await start_framework(None, "127.0.0.1", 0,
                               db_url=f"sqlite:///{(tmp_path / 'berth.db').resolve()}")
    async with aiohttp.ClientSession(headers=JSON) as http:
        yield fw, http
    await fw.stop()


async def test_with_users_the_stream_needs_credentials_and_keeps_namespaces_apart(secured):
    fw, http = secured
    async with http.get(f"{fw.url}/v1/events") as resp:
        assert resp.status == 401
    async with http.get(f"{fw.url}/ui/login.html") as resp:
        assert resp.status == 200  # the page itself holds nothing
    async with http.get(f"{fw.url}/v1/session", headers=basic("alice", "alicepass")) as resp:
        assert await resp.json() == {"user": "alice", "role": "user", "scope": "write",
                                     "namespaces": ["team-a"], "token_id": None}
    root = basic("root", "rootpass1")
    async with http.get(f"{fw.url}/v1/events", headers=basic("alice", "alicepass")) as resp:
        await http.post(f"{fw.url}/v1/tasks", json=_task("theirs", "team-b"), headers=root)
        await http.post(f"{fw.url}/v1/tasks", json=_task("mine", "team-a"), headers=root)
        (_, _, task), = await _events(resp, 1)
    assert task["name"] == "mine"
