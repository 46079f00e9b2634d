"""A master on a free loopback port, a minimal v1 scheduler client and a websocket agent.

For integration tests (this branch's and the Docker end-to-end ones): everything speaks
real HTTP; nothing is mocked.

    master = await start_test_master(tmp_path)
    fw = await SchedulerClient.subscribe(master.url, "test")
    agent = await FakeAgent.register(master.url, "node-1", nodetype="lab")
    offers = await fw.next_event("OFFERS")
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from api.master_app import RunningMaster, start_master
from offers.protocol import mesos as mj

DEFAULT_TIMEOUT = 20.0  # a failure bound, not a performance expectation


async def start_test_master(tmp_path, **options: Any) -> RunningMaster:
    options.setdefault("db_url", f"sqlite:///{tmp_path / 'berth.db'}")
    options.setdefault("tick_seconds", 0.05)
    return await start_master("127.0.0.1", 0, **options)


@pytest.fixture
async def master(tmp_path):
    """A test master, stopped after the test."""
    running = await start_test_master(tmp_path)
    yield running
    await running.stop()


async def get_json(url: str) -> tuple[int, dict]:
    """GET `url`: the status and the JSON body."""
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return r.status, await r.json()


async def wait_for(predicate: Callable[[], Any], timeout: float = DEFAULT_TIMEOUT,
                   what: str = "condition") -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class SchedulerClient:
    """Just enough of a Mesos v1 scheduler: subscribe, read events, make calls."""

    def __init__(self, url: str, session: aiohttp.ClientSession):
        self.url = url
        self.session = session
        self.framework_id: str | None = None
        self.stream_id: str | None = None
        self.events: asyncio.Queue[dict] = asyncio.Queue()
        self.seen: list[dict] = []
        self.backlog: list[dict] = []
        self._reader: asyncio.Task | None = None
        self._response: aiohttp.ClientResponse | None = None

    @classmethod
    async def subscribe(cls, url: str, name: str = "test", framework_id: str | None = None,
                        capabilities=("PARTITION_AWARE", "TASK_KILLING_STATE"),
                        failover_timeout: float = 7 * 24 * 3600.0,
                        headers: dict[str, str] | None = None) -> SchedulerClient:
        client = cls(url, aiohttp.ClientSession(headers=headers))
        await client._subscribe(name, framework_id, capabilities, failover_timeout)
        return client

    async def _subscribe(self, name, framework_id, capabilities, failover_timeout) -> None:
        call = mj.subscribe_call(name, framework_id=framework_id, capabilities=capabilities,
                                 failover_timeout=failover_timeout)
        self._response = await self.session.post(f"{self.url}/api/v1/scheduler", json=call,
                                                 timeout=aiohttp.ClientTimeout(total=None))
        assert self._response.status == 200, await self._response.text()
        self.stream_id = self._response.headers["Mesos-Stream-Id"]
        self._reader = asyncio.create_task(self._read())
        subscribed = await self.next_event("SUBSCRIBED")
        self.framework_id = subscribed["subscribed"]["framework_id"]["value"]

    async def _read(self) -> None:
        decoder = mj.RecordIODecoder()
        with contextlib.suppress(aiohttp.ClientError, asyncio.CancelledError):
            async for chunk in self._response.content.iter_any():
                for event in decoder.feed(chunk):
                    self.seen.append(event)
                    await self.events.put(event)
        await self.events.put({"type": "__CLOSED__"})

    async def next_event(self, kind: str, predicate: Callable[[dict], bool] = lambda e: True,
                         timeout: float = DEFAULT_TIMEOUT) -> dict:
        """The oldest unclaimed event of `kind` matching `predicate`. Events passed over
        stay in `backlog` for later calls (all are in `seen`)."""
        for i, event in enumerate(self.backlog):
            if event["type"] == kind and predicate(event):
                return self.backlog.pop(i)

        async def find() -> dict:
            while True:
                event = await self.events.get()
                if event["type"] == kind and predicate(event):
                    return event
                if event["type"] == "__CLOSED__" and kind != "__CLOSED__":
                    raise AssertionError(f"stream closed while waiting for {kind}")
                self.backlog.append(event)
        return await asyncio.wait_for(find(), timeout)

    async def next_update(self, task_id: str, state: str,
                          timeout: float = DEFAULT_TIMEOUT) -> dict:
        event = await self.next_event(
            "UPDATE", lambda e: e["update"]["status"]["task_id"]["value"] == task_id
            and e["update"]["status"]["state"] == state, timeout)
        return event["update"]["status"]

    async def call(self, body: dict, stream_id: str | None = "current") -> aiohttp.ClientResponse:
        headers = {}
        sid = self.stream_id if stream_id == "current" else stream_id
        if sid:
            headers["Mesos-Stream-Id"] = sid
        resp = await self.session.post(f"{self.url}/api/v1/scheduler", json=body,
                                       headers=headers)
        await resp.read()
        return resp

    async def accept(self, offer_ids, task_infos, refuse_seconds=0.0):
        return await self.call(mj.accept_call(self.framework_id, offer_ids, task_infos,
                                              refuse_seconds))

    async def acknowledge(self, status: dict):
        return await self.call(mj.acknowledge_call(self.framework_id, status))

    async def close(self) -> None:
        if self._reader:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._response is not None:
            self._response.close()
        await self.session.close()


def docker_task_info(task_id: str, agent_id: str, *, image="berth/busybox:latest", cpus=0.1,
                     mem=32.0, host_port: int | None = None, container_port: int = 80,
                     network="BRIDGE", volumes=(), shell_command: str | None = None,
                     arguments=()) -> dict:
    """A Mesos TaskInfo as a framework library would build it."""
    resources = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
                 {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}}]
    docker: dict[str, Any] = {"image": image, "network": network}
    if host_port is not None:
        resources.append({"name": "ports", "type": "RANGES",
                          "ranges": {"range": [{"begin": host_port, "end": host_port}]}})
        docker["port_mappings"] = [{"host_port": host_port, "container_port": container_port,
                                    "protocol": "tcp"}]
    command = ({"shell": True, "value": shell_command} if shell_command is not None
               else {"shell": False, "arguments": list(arguments)})
    return {"name": task_id, "task_id": {"value": task_id}, "agent_id": {"value": agent_id},
            "resources": resources, "command": command,
            "container": {"type": "DOCKER", "docker": docker, "volumes": [
                {"host_path": h, "container_path": c, "mode": m} for h, c, m in volumes]}}


class FakeAgent:
    """Plays an agent over the real agent link: registers, heartbeats, reports statuses,
    and records the LAUNCH/KILL messages it is sent (it runs nothing)."""

    def __init__(self, url: str, session: aiohttp.ClientSession, body: dict):
        self.url = url
        self.session = session
        self.body = body
        self.agent_id: str | None = None
        self.answer: dict = {}
        self.messages: asyncio.Queue[dict] = asyncio.Queue()
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._tasks: list[asyncio.Task] = []
        self.heartbeating = True

    @classmethod
    async def register(cls, url: str, hostname: str, *, agent_id: str | None = None,
                       nodetype: str = "lab", cpus=4.0, mem=4096.0, disk=10000.0,
                       ports="31000-31099", running=(),
                       session: aiohttp.ClientSession | None = None) -> FakeAgent:
        resources = {"cpus": cpus, "mem": mem, "disk": disk, "ports": ports}
        body = {"agent_id": agent_id, "hostname": hostname,
                "endpoint": f"http://{hostname}:5051", "attributes": {"nodetype": nodetype},
                "total": resources, "spare": resources, "running": list(running)}
        agent = cls(url, session or aiohttp.ClientSession(), body)
        await agent.connect()
        return agent

    async def connect(self) -> None:
        resp = await self.session.post(f"{self.url}/agent/v1/register", json=self.body)
        assert resp.status == 200, await resp.text()
        self.answer = await resp.json()
        self.agent_id = self.body["agent_id"] = self.answer["agent_id"]
        self.ws = await self.session.ws_connect(
            f"{self.url}/agent/v1/stream?agent_id={self.agent_id}")
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._beat())]

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for msg in self.ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await self.messages.put(msg.json())

    async def _beat(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                await asyncio.sleep(self.answer.get("heartbeat_seconds", 1) / 4)
                if self.heartbeating:
                    await self.ws.send_json({"type": "HEARTBEAT"})

    async def send(self, message: dict) -> None:
        await self.ws.send_json(message)

    async def send_str(self, text: str) -> None:
        await self.ws.send_str(text)

    async def status(self, task_id: str, state: str, **fields: Any) -> None:
        await self.send({"type": "STATUS", "task_id": task_id, "state": state, **fields})

    async def next_message(self, kind: str, timeout: float = DEFAULT_TIMEOUT) -> dict:
        async def find() -> dict:
            while True:
                msg = await self.messages.get()
                if msg.get("type") == kind:
                    return msg
        return await asyncio.wait_for(find(), timeout)

    async def go_silent(self) -> None:
        """Like a `kill -9`: the link drops and nothing more is said."""
        for task in self._tasks:
            task.cancel()
        if self.ws is not None:
            await self.ws.close()

    async def close(self) -> None:
        await self.go_silent()
        await self.session.close()
