"""The master's exec route (api/master_exec.py) over real HTTP with a fake agent link:
the EXEC message it sends down, the EXEC_RESULT it relays up, and its refusals naming
the field; and the agent's half (executor/script_exec.py) answering for a task it does
not run."""

from __future__ import annotations

import asyncio
import base64

import aiohttp
from aiohttp import web

from api.master_exec import ExecRelay
from executor.script_exec import ScriptExecutor


class Link:
    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()


async def _serve(relay: ExecRelay):
    app = web.Application()
    app.router.add_post("/v1/tasks/{task_id}/exec", relay.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


async def test_a_command_goes_down_as_exec_and_its_result_comes_back():
    link = Link()
    relay = ExecRelay(lambda agent: link if agent == "a1" else None,
                      lambda task: {"t1": "a1", "t2": "a2"}.get(task))
    runner, url = await _serve(relay)
    try:
        async with aiohttp.ClientSession() as session:
            call = asyncio.ensure_future(session.post(f"{url}/v1/tasks/t1/exec", json={
                "argv": ["sh", "-c", "echo hi"], "workdir": "/srv",
                "archive": base64.b64encode(b"tar").decode(), "archive_path": "/srv"}))
            message = await asyncio.wait_for(link.queue.get(), 10)
            assert (message["type"], message["task_id"], message["argv"],
                    message["workdir"]) == ("EXEC", "t1", ("sh", "-c", "echo hi"), "/srv")
            assert relay.receive(link, {"type": "EXEC_RESULT",
                                        "request_id": message["request_id"],
                                        "exit_code": 3, "stdout": "hi\n", "stderr": ""})
            async with await call as resp:
                assert resp.status == 200
                assert (await resp.json())["exit_code"] == 3

            for body, field in (({"argv": "echo"}, "argv"), ({"workdir": "rel"}, "workdir"),
                                ({"bogus": 1}, "bogus"), ({"timeout": -1}, "timeout")):
                async with session.post(f"{url}/v1/tasks/t1/exec", json=body) as resp:
                    assert resp.status == 400
                    assert (await resp.json())["errors"][0]["field"] == field
            async with session.post(f"{url}/v1/tasks/nope/exec", json={}) as resp:
                assert resp.status == 404
            async with session.post(f"{url}/v1/tasks/t2/exec", json={}) as resp:
                assert resp.status == 503  # its agent has no link

            call = asyncio.ensure_future(session.post(f"{url}/v1/tasks/t1/exec",
                                                      json={"argv": ["sleep", "9"]}))
            await asyncio.wait_for(link.queue.get(), 10)
            relay.link_closed(link)
            async with await call as resp:
                assert resp.status == 502 and "closed" in (await resp.json())["message"]
    finally:
        await runner.cleanup()


async def test_the_agent_answers_not_found_for_a_task_it_does_not_run():
    woken = []
    executor = ScriptExecutor(None, lambda task: None, lambda: woken.append(1))
    executor.handle({"type": "EXEC", "request_id": "r1", "task_id": "t9", "argv": ["true"]})
    answer = await asyncio.wait_for(executor.outgoing.get(), 10)
    assert (answer["type"], answer["request_id"], answer["exit_code"], answer["problem"]) \
        == ("EXEC_RESULT", "r1", None, "not_found")
    executor.handle({"type": "EXEC", "request_id": "r2", "task_id": "t9", "argv": "true"})
    answer = await asyncio.wait_for(executor.outgoing.get(), 10)
    assert answer["problem"] == "bad_request" and woken
    executor.close()
