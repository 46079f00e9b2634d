"""Random task JSON, valid and not, against the REST API of a real framework subscribed to
a real master (loopback HTTP, SQLite): no answer is a 5xx, and afterwards the scheduler
still launches a normal task.

The bodies mix task-shaped objects with random field values (wrong types, huge and tiny
numbers, NUL bytes, unknown fields), arbitrary JSON, deep nesting, long numbers and raw
bytes, sent with JSON, form or no content types, with and without an Idempotency-Key.
Accepted tasks wait (no agent yet) and are killed at the end; whether odd-but-valid
specs can be launched is the scheduler's tests' business.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.framework_server import start_framework
from tests.master_fixtures import FakeAgent, start_test_master, wait_for

NORMAL = {"id": "normal", "dockerimage": "stress", "mem": "100", "cpus": "0.5",
          "nodetype": "lab"}
ROUTES = [("POST", "/client/task"), ("PUT", "/client/task"), ("POST", "/v1/tasks"),
          ("POST", "/v1/usage")]
CONTENT_TYPES = [None, "application/json", "application/json; charset=utf-8", "text/plain",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]

texts = st.text(max_size=20)  # NUL bytes and every other code point included
numbers = st.one_of(
    st.integers(), st.integers(min_value=-(10**80), max_value=10**80),
    st.floats(allow_nan=False, allow_infinity=False), st.just(5e-324), st.just(1e308),
    st.just(1e-7), st.just(0))
scalars = st.one_of(st.none(), st.booleans(), numbers, texts,
                    numbers.map(str), st.sampled_from(["0.0000001", "5e-324", "1e999", "NaN"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)), max_leaves=12)
task_fields = {
    "mem": scalars, "cpus": scalars, "disk": scalars,
    "sla": st.one_of(st.sampled_from(["singleton", "one-per-node", "twice"]), json_values),
    "nodetype": st.one_of(texts, json_values), "reshuffleable": json_values,
    "notmetered": json_values, "privileged": json_values,
    "arguments": st.one_of(st.lists(st.one_of(texts, numbers), max_size=4), json_values),
    "env": st.one_of(st.dictionaries(texts, st.one_of(texts, numbers), max_size=3),
                     json_values),
    "networkmode": st.one_of(st.sampled_from(["bridge", "host", "none", "mesh"]), texts),
    "ports": st.one_of(st.lists(st.fixed_dictionaries(
        {"host_port": scalars, "container_port": scalars}), max_size=3), json_values),
    "volumes": st.one_of(st.lists(st.fixed_dictionaries(
        {"host_path": texts, "container_path": texts, "mode": texts}), max_size=2),
        json_values),
    "colour": json_values,  # unknown
}
tasks = st.fixed_dictionaries(
    {"id": st.one_of(st.from_regex(r"\A[a-z][a-z0-9-]{0,12}\Z"), texts, json_values),
     "dockerimage": st.one_of(st.just("stress"), texts, json_values)},
    optional=task_fields)
# Mostly valid tasks, with odd but legal values (tiny and huge sizes, NUL bytes in env
# and arguments), so that many bodies get past validation.
likely_tasks = st.fixed_dictionaries(
    {"id": st.from_regex(r"\A[a-z][a-z0-9-]{0,12}\Z"), "dockerimage": st.just("stress")},
    optional={"mem": st.one_of(st.floats(1e-300, 1e8), st.sampled_from(["5e-324", "100"])),
              "cpus": st.one_of(st.floats(1e-9, 64), st.just("0.0000001")),
              "env": st.dictionaries(st.from_regex(r"\A[A-Z_]{1,8}\Z"), texts, max_size=3),
              "arguments": st.lists(texts, max_size=3),
              "nodetype": texts, "sla": st.sampled_from(["singleton", "one-per-node"])})


def _encode(value) -> bytes:
    return json.dumps(value, allow_nan=False).encode()


bodies = st.one_of(
    likely_tasks.map(_encode),
    tasks.map(_encode),
    json_values.map(_encode),
    st.binary(max_size=200),
    st.integers(min_value=1, max_value=20_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(min_value=1, max_value=20_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.integers(min_value=1, max_value=6000).map(
        lambda n: b'{"id":"big","dockerimage":"stress","mem":' + b"7" * n + b"}"),
    tasks.map(_encode).map(lambda b: b.replace(b"stress", b"str\\u0000ess")),
)
keys = st.one_of(st.none(), st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e),
                                    max_size=300), st.sampled_from(["k1", "k2"]))


def test_random_task_json_gets_no_5xx_and_a_normal_task_still_launches(tmp_path):
    loop = asyncio.new_event_loop()
    run = loop.run_until_complete

    async def start():
        master = await start_test_master(tmp_path)
        fw = await start_framework(master.url, "127.0.0.1", 0,
                                   db_url=f"sqlite:///{tmp_path / 'fw.db'}", tick_seconds=0.05)
        return master, fw, aiohttp.ClientSession()

    master, fw, session = run(start())
    accepted: set[str] = set()
    statuses: Counter[int] = Counter()

    async def send(route, body, content_type, key) -> int:
        method, path = route
        headers = {} if content_type is None else {"Content-Type": content_type}
        if key is not None:
            headers["Idempotency-Key"] = key
        async with session.request(method, f"{fw.url}{path}", data=body, headers=headers,
                                   skip_auto_headers=["Content-Type"]) as resp:
            text = await resp.text()
            if resp.status == 202 and "Location" in resp.headers:
                accepted.add(resp.headers["Location"].removeprefix("/v1/tasks/"))
            statuses[resp.status] += 1
            assert resp.status < 500, (resp.status, text, body[:300])
            assert resp.content_type == "application/json", text
            return resp.status

    @settings(max_examples=200, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(route=st.sampled_from(ROUTES), body=bodies,
           content_type=st.one_of(st.sampled_from(CONTENT_TYPES[:2]),
                                  st.sampled_from(CONTENT_TYPES)), key=keys)
    def fuzz(route, body, content_type, key):
        run(send(route, body, content_type, key))

    async def afterwards():
        async with session.get(f"{fw.url}/client/task") as resp:
            assert resp.status == 200
            listed = {t["internal_id"] for t in await resp.json()}
        assert accepted <= listed
        for internal in accepted:  # their launch is the scheduler's tests' business
            async with session.delete(f"{fw.url}/v1/tasks/{internal}") as resp:
                assert resp.status in (200, 404)
        async with session.post(f"{fw.url}/client/task", json=NORMAL) as resp:
            assert resp.status == 202
            internal = resp.headers["Location"].removeprefix("/v1/tasks/")
        agent = await FakeAgent.register(master.url, "node-1", nodetype="lab")
        try:
            launch = await agent.next_message("LAUNCH")
            assert launch["task"]["task_id"] == internal
            await agent.status(internal, "RUNNING", container_id="c0ffee")

            async def running():
                async with session.get(f"{fw.url}/v1/tasks/{internal}") as resp:
                    return (await resp.json())["state"] == "RUNNING"

            await wait_for(running, what="the normal task RUNNING")
        finally:
            await agent.close()

    async def stop():
        await session.close()
        await fw.stop()
        await master.stop()

    try:
        fuzz()
        # Not vacuous: many requests, some accepted, some refused for each reason.
        assert sum(statuses.values()) >= 100, statuses
        assert {202, 400, 415} <= set(statuses), statuses
        run(afterwards())
    finally:
        run(stop())
        loop.close()
