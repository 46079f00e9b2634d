"""`/v1/farms` over real HTTP with a real SQLite store and no master (nothing runs): the
refusals naming the field (bag:LINE, budget, deadline, phase), nothing stored by a
refused request, schedules from stored samples, and farms kept across a restart."""

from __future__ import annotations

import asyncio
import dataclasses

import aiohttp
import pytest

from api.framework_server import start_framework
from framework.farms import BadFarmInput, FarmPhase, NodeType


@pytest.fixture
async def framework(tmp_path):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    holder = {"fw": await start_framework(None, "127.0.0.1", 0, db_url=url), "url": url}
    yield holder
    await holder["fw"].stop()


async def _sampled_farm(fw) -> str:
    """A farm as if sampled: two node types, 31 runtimes each."""
    farms = fw.service.farms
    farm = await farms.create("default", "berth/busybox", "true\n" * 100, slots=2,
                              nodetypes={"small": NodeType("small", 0.1, 3),
                                         "large": NodeType("large", 0.5, 2)})
    sampled = dataclasses.replace(
        farm, phase=FarmPhase.SAMPLED, sampled=tuple(range(31)),
        samples={"small": tuple(10.0 + i % 5 for i in range(31)),
                 "large": tuple(3.0 + i % 3 for i in range(31))})
    await farms._write(sampled)
    return farm.id


async def test_bad_input_is_refused_naming_the_field_and_nothing_is_stored(framework):
    base = framework["fw"].url
    async with aiohttp.ClientSession() as session:
        for bag, field, problem in (("true\n\ntrue\n", "bag:2", "is empty"),
                                    ("true\n" + "x" * 4097 + "\n", "bag:2", "4097 characters"),
                                    ("", "bag", "has no command")):
            async with session.post(f"{base}/v1/farms", json={"image": "i", "bag": bag}) \
                    as resp:
                body = await resp.json()
                assert resp.status == 400, body
                assert body["errors"][0]["field"] == field
                assert problem in body["errors"][0]["problem"]
        async with session.post(f"{base}/v1/farms", json={"bag": "true"}) as resp:
            assert resp.status == 400
            assert (await resp.json())["errors"][0]["field"] == "image"
        async with session.post(f"{base}/v1/farms", json={"image": "i", "bag": "true"}) \
                as resp:
            assert resp.status == 400  # no master: no agents, no node type
            assert (await resp.json())["errors"][0]["field"] == "nodetypes"
        async with session.post(f"{base}/v1/farms", json={"image": "i", "bag": "true",
                                                          "pool": 3}) as resp:
            assert resp.status == 400
            assert (await resp.json())["errors"] == [{"field": "pool",
                                                      "problem": "unknown field"}]
        async with session.get(f"{base}/v1/farms") as resp:
            assert (await resp.json()) == {"farms": []}
        async with session.get(f"{base}/v1/farms/nope") as resp:
            assert resp.status == 404


async def test_schedules_and_a_deadline_no_schedule_meets(framework):
    fw = framework["fw"]
    farm_id = await _sampled_farm(fw)
    base = fw.url
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/v1/farms/{farm_id}/schedules") as resp:
            found = (await resp.json())["schedules"]
        assert len(found) == 4 * 3 - 1
        costs = [s["cost"]["mean"] for s in found]
        assert costs == sorted(costs)  # cheapest first
        async with session.post(f"{base}/v1/farms/{farm_id}/run",
                                json={"deadline": 1}) as resp:
            body = await resp.json()
            assert resp.status == 422
            assert body["errors"] == [{"field": "deadline", "problem": "no schedule meets it"}]
            assert "the cheapest is #0" in body["message"]
            assert "the fastest is #" in body["message"]
        async with session.post(f"{base}/v1/farms/{farm_id}/run",
                                json={"budget": 1, "deadline": 1}) as resp:
            assert resp.status == 400
        async with session.post(f"{base}/v1/farms/{farm_id}/run",
                                json={"schedule": 99}) as resp:
            assert resp.status == 400
        async with session.post(f"{base}/v1/farms/{farm_id}/sample", json={}) as resp:
            assert resp.status == 409  # sampled already
        async with session.get(f"{base}/v1/farms/{farm_id}") as resp:
            view = await resp.json()
        assert view["phase"] == "sampled" and view["pool"] == {}  # nothing changed


async def test_a_farm_is_kept_across_a_restart(framework):
    fw = framework["fw"]
    farm_id = await _sampled_farm(fw)
    await fw.stop()
    framework["fw"] = fw = await start_framework(None, "127.0.0.1", 0,
                                                 db_url=framework["url"])
    async with aiohttp.ClientSession() as session, \
            session.get(f"{fw.url}/v1/farms/{farm_id}") as resp:
        view = await resp.json()
    assert view["phase"] == "sampled" and view["samples"]["small"]["count"] == 31
    assert view["nodetypes"] == {"large": {"price": 0.5, "nodes": 2},
                                 "small": {"price": 0.1, "nodes": 3}}


async def test_a_farm_whose_jobs_could_not_be_submitted_is_refused_at_creation(framework):
    farms = framework["fw"].service.farms
    with pytest.raises(BadFarmInput) as caught:
        await farms.create("default", "berth/busybox", "true\n", cpus=-1.0,
                           nodetypes={"small": NodeType("small", 0.1, 1)})
    assert [p.field for p in caught.value.problems] == ["cpus"]
    assert farms.farms == {} and await asyncio.to_thread(farms.store.all) == []
