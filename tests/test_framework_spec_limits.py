"""Sizes and bytes that no container can run with are a 400 naming the field, over real
HTTP, and the framework keeps placing the tasks of everyone else afterwards."""

from __future__ import annotations

import json

import aiohttp
import pytest

from api.framework_server import start_framework

NORMAL = {"id": "normal", "dockerimage": "stress", "mem": "100", "cpus": "0.5"}


@pytest.fixture
async def framework(tmp_path):
    fw = await start_framework(None, "127.0.0.1", 0, db_url=f"sqlite:///{tmp_path / 'b.db'}")
    yield fw
    await fw.stop()


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"cpus": "0.0000001"}, "cpus", "at least 0.01"),
    ({"mem": "5e-324"}, "mem", "at least 4"),
    ({"disk": "5e-324"}, "disk", "0 or at least 1"),
    ({"env": {"A": "x\u0000y"}}, "env.A", "NUL"),
    ({"arguments": ["\u0000"]}, "arguments[0]", "NUL"),
    ({"nodetype": "lab\u0000"}, "nodetype", "NUL"),
    ({"dockerimage": "stress\u0000"}, "dockerimage", "NUL"),
])
async def test_a_size_too_small_or_a_nul_byte_is_a_400_naming_the_field(framework, fields,
                                                                         field, words):
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{framework.url}/client/task",
                             data=json.dumps({**NORMAL, **fields}),
                             headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 400
            body = await resp.json()
        async with http.get(f"{framework.url}/client/task") as resp:
            assert await resp.json() == []  # nothing was queued
    problems = {e["field"]: e["problem"] for e in body["errors"]}
    assert field in problems, body
    assert words in problems[field]
