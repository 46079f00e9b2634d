"""A task's container output, read by the agent from Docker and carried through the master
to the framework: `GET /v1/tasks/{id}/logs` on both, per stream, `tail`, `follow`.

Real master, framework and agent over loopback, real containers (berth/busybox)."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
import docker
import pytest

from api.agent_node import start_agent
from api.framework_server import start_framework
from cli.agent import agent_config
from executor.docker_backend import DockerBackend
from framework.process.master_logs import MasterLogsError, task_logs
from offers.states import TaskState
from tests.agent_helpers import build_images, remove_agent_containers, wait_for
from tests.master_fixtures import start_test_master
from tests.test_agent_docker import Recorder, spec

pytestmark = pytest.mark.docker

TALKER = "for i in 1 2 3 4 5; do echo out $i; echo err $i >&2; done"
OUT = "".join(f"out {i}\n" for i in range(1, 6))
ERR = "".join(f"err {i}\n" for i in range(1, 6))


@pytest.fixture(scope="session")
def images() -> None:
    build_images()


class Cluster:
    def __init__(self, master, framework, agent, session):
        self.master, self.framework, self.agent, self.session = master, framework, agent, session

    async def submit(self, shell: str) -> str:
        body = {"id": f"talk{uuid.uuid4().hex[:6]}", "dockerimage": "berth/busybox",
                "mem": "32", "cpus": "0.1", "arguments": ["sh", "-c", shell]}
        async with self.session.post(f"{self.framework.url}/v1/tasks", json=body) as resp:
            assert resp.status == 202, await resp.text()
            return resp.headers["Location"].removeprefix("/v1/tasks/")

    async def state(self, task_id: str) -> str:
        async with self.session.get(f"{self.framework.url}/v1/tasks/{task_id}") as resp:
            return (await resp.json())["state"]

    async def reach(self, task_id: str, state: str) -> None:
        async def reached():
            return await self.state(task_id) == state
        await wait_for_async(reached, what=f"{task_id} {state}")

    async def get(self, where: str, task_id: str, **query) -> tuple[int, str]:
        base = self.master.url if where == "master" else self.framework.url
        async with self.session.get(f"{base}/v1/tasks/{task_id}/logs", params=query) as resp:
            return resp.status, await resp.text()


async def wait_for_async(predicate, timeout: float = 60.0, what: str = "condition"):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.fixture
async def cluster(images, tmp_path):
    master = await start_test_master(tmp_path)
    framework = await start_framework(master.url, "127.0.0.1", 0,
                                      db_url=f"sqlite:///{tmp_path / 'fw.db'}",
                                      tick_seconds=0.05)
    config = agent_config(master.url, hostname=f"node-{uuid.uuid4().hex[:6]}",
                          resources="cpus:2;mem:1024", headroom="",
                          data_dir=tmp_path / "agent", ignore_incumbent=True)
    agent = await start_agent(config, host="127.0.0.1", port=0)
    session = aiohttp.ClientSession()
    yield Cluster(master, framework, agent, session)
    await session.close()
    agent_id = agent.agent.agent_id
    await agent.stop()
    await framework.stop()
    await master.stop()
    if agent_id:
        remove_agent_containers(agent_id)


async def test_an_ended_tasks_lines_per_stream_and_tail_through_master_and_framework(cluster):
    task_id = await cluster.submit(TALKER)
    await cluster.reach(task_id, "FINISHED")  # exited: the container is kept for its logs
    for where in ("master", "framework"):
        assert await cluster.get(where, task_id) == (200, OUT)
        assert await cluster.get(where, task_id, stream="stderr") == (200, ERR)
        # tail counts the lines of the stream asked for, not both streams together
        assert await cluster.get(where, task_id, stream="stderr", tail="2") == \
            (200, "err 4\nerr 5\n")
        assert await cluster.get(where, task_id, tail="1") == (200, "out 5\n")
        assert await cluster.get(where, task_id, tail="0") == (200, "")
        assert await cluster.get(where, task_id, tail="50") == (200, OUT)
    # Many requests at once share the agent's one link.
    asked = [(stream, n) for stream in ("stdout", "stderr") for n in range(1, 6)]
    answers = await asyncio.gather(*(cluster.get("master", task_id, stream=stream,
                                                 tail=str(n)) for stream, n in asked))
    lines = {"stdout": OUT.splitlines(True), "stderr": ERR.splitlines(True)}
    assert answers == [(200, "".join(lines[stream][-n:])) for stream, n in asked]
    # The framework's client, as the framework's own routes use it.
    chunks = [c async for c in task_logs(cluster.master.url, task_id, "stderr", 3)]
    assert b"".join(chunks) == b"err 3\nerr 4\nerr 5\n"


async def test_follow_streams_lines_as_printed_and_ends_with_the_container(cluster):
    task_id = await cluster.submit(
        "echo first; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo second; echo bye >&2")
    await cluster.reach(task_id, "RUNNING")
    url = f"{cluster.framework.url}/v1/tasks/{task_id}/logs"
    async with cluster.session.get(url, params={"follow": "true"}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        seen = b""
        while b"first\n" not in seen:
            seen += await resp.content.readany()
        assert seen == b"first\n"  # "second" is not printed before we let it
        client = docker.from_env()
        try:
            [container] = client.containers.list(filters={"label": f"berth.task_id={task_id}"})
            container.exec_run(["touch", "/tmp/go"])
        finally:
            client.close()
        seen += await resp.content.read()  # to the end: the stream ends with the container
    assert seen == b"first\nsecond\n"
    await cluster.reach(task_id, "FINISHED")


async def test_a_reader_that_leaves_cancels_its_request_at_the_agent(cluster):
    task_id = await cluster.submit("echo hello; sleep 300")
    await cluster.reach(task_id, "RUNNING")
    agent = cluster.agent.agent
    url = f"{cluster.master.url}/v1/tasks/{task_id}/logs"
    async with aiohttp.ClientSession() as other, \
            other.get(url, params={"follow": "true"}) as resp:
        assert await resp.content.readline() == b"hello\n"
        assert agent.logs.active == 1
    await wait_for(lambda: agent.logs.active == 0, what="the agent's reader cancelled")
    await wait_for(lambda: cluster.master.logs.active == 0,
                   what="the master's request gone")


async def test_unknown_task_404_and_bad_parameters_400_naming_them(cluster):
    for where in ("master", "framework"):
        async with cluster.session.get(
                f"{getattr(cluster, where).url}/v1/tasks/nosuch-1/logs") as resp:
            assert resp.status == 404
            body = await resp.json()
            assert "nosuch-1" in body["message"] and body["errors"][0]["field"] == "task_id"
        for query, field in (({"stream": "both"}, "stream"), ({"tail": "-1"}, "tail"),
                             ({"tail": "ten"}, "tail"), ({"follow": "maybe"}, "follow")):
            async with cluster.session.get(
                    f"{getattr(cluster, where).url}/v1/tasks/nosuch-1/logs",
                    params=query) as resp:
                assert resp.status == 400
                body = await resp.json()
                assert [e["field"] for e in body["errors"]] == [field]
    with pytest.raises(MasterLogsError) as refused:
        async for _ in task_logs(cluster.master.url, "nosuch-1"):
            pass
    assert refused.value.status == 404


async def test_a_task_whose_agent_is_not_connected_is_503(cluster):
    task_id = await cluster.submit(TALKER)
    await cluster.reach(task_id, "FINISHED")
    await cluster.agent.stop()
    for where in ("master", "framework"):
        status, text = await cluster.get(where, task_id)
        assert status == 503 and "not connected" in text


async def test_a_removed_container_is_404_saying_so(cluster):
    task_id = await cluster.submit(TALKER)
    await cluster.reach(task_id, "FINISHED")
    backend = cluster.agent.agent.backend
    await wait_for(lambda: len(backend.ended) == 1, what="the ended container kept")
    backend.ended.delay = 0  # as if the gc delay were over
    await backend.collect_garbage()
    status, text = await cluster.get("framework", task_id)
    assert status == 404 and "removed" in text


async def test_ended_containers_are_kept_for_the_gc_delay_then_removed(images):
    agent_id = f"test-{uuid.uuid4().hex[:10]}"
    now = [time.time()]  # adoption reads Docker's own end times
    recorder = Recorder()
    backend = DockerBackend(agent_id=agent_id, on_status=recorder, clock=lambda: now[0],
                            gc_delay=600)
    await backend.start()
    client = docker.from_env()
    mine = {"label": [f"berth.agent_id={agent_id}"]}
    try:
        task = spec(shell=True, command="echo done")
        await backend.launch(task)
        await wait_for(lambda: recorder.reached(task.task_id, TaskState.FINISHED))
        await wait_for(lambda: len(backend.ended) == 1, what="the container kept")
        [kept] = client.containers.list(all=True, filters=mine)
        assert kept.status == "exited"
        assert backend.allocated().cpus == 0 and backend.running() == []
        assert b"".join([c async for c in backend.logs(task.task_id, "stdout", None,
                                                       False)]) == b"done\n"

        # A restarted agent neither adopts it nor reports its end again, but keeps it.
        await backend.close()
        again = Recorder()
        backend = DockerBackend(agent_id=agent_id, on_status=again, clock=lambda: now[0],
                                gc_delay=600)
        await backend.start()
        assert await backend.adopt() == []
        assert again.updates == [] and len(backend.ended) == 1

        now[0] += 601  # the gc delay is over
        await backend.reconcile()  # the periodic sweep
        assert client.containers.list(all=True, filters=mine) == []
    finally:
        await backend.close()
        client.close()
        remove_agent_containers(agent_id)


async def test_a_follow_whose_agent_goes_away_breaks_off_rather_than_ending(cluster):
    task_id = await cluster.submit("echo hello; sleep 300")
    await cluster.reach(task_id, "RUNNING")
    chunks = task_logs(cluster.master.url, task_id, follow=True)
    assert await anext(chunks) == b""  # the log is open
    assert await anext(chunks) == b"hello\n"
    await cluster.agent.stop()  # the container keeps running; the link is gone
    with pytest.raises(MasterLogsError) as broken:
        await anext(chunks)
    assert broken.value.status == 502
