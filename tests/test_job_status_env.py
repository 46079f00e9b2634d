"""A job's status never shows env values (secrets go there), for a job JSON or a
Charmander task seen as a job: only the names, as task listings do."""

from __future__ import annotations

import aiohttp
import pytest

from api.framework_server import start_framework


@pytest.fixture
async def framework(tmp_path):
    fw = await start_framework(None, "127.0.0.1", 0, db_url=f"sqlite:///{tmp_path / 'b.db'}")
    yield fw
    await fw.stop()


async def test_env_values_are_hidden_in_every_template(framework):
    secret = {"DB_PASSWORD": "hunter2"}
    job = {"name": "solver", "type": "parallel", "count": 1,
           "master": {"dockerimage": "berth/busybox", "env": secret},
           "task": {"dockerimage": "berth/busybox", "env": secret}}
    task = {"id": "one", "dockerimage": "berth/busybox", "env": secret}
    async with aiohttp.ClientSession(headers={"Content-Type": "application/json"}) as http:
        async with http.post(f"{framework.url}/v1/jobs", json=job) as resp:
            assert resp.status == 201
            submitted = await resp.text()
        async with http.post(f"{framework.url}/v1/tasks", json=task) as resp:
            assert resp.status == 202
            internal = resp.headers["Location"].removeprefix("/v1/tasks/")
        async with http.get(f"{framework.url}/v1/jobs/solver") as resp:
            status = await resp.json()
        async with http.get(f"{framework.url}/v1/jobs/{internal}") as resp:
            charmander = await resp.text()
    assert "hunter2" not in submitted and "hunter2" not in charmander
    assert status["spec"]["master"]["env"] == status["spec"]["task"]["env"] == {
        "DB_PASSWORD": "***"}
