"""HTC over `/v1/farms` with a real SQLite store and no master (jobs are submitted and
stay pending): throughput = f(cost) and a target, select, a bag added later submitted at
once as batch jobs on the current configuration; refusals naming the field, nothing
stored by a refused request; the configuration kept across a restart."""

from __future__ import annotations

import asyncio
import dataclasses

import aiohttp
import pytest
from click.testing import CliRunner

from api.framework_server import start_framework
from cli import main
from framework.farms import FarmPhase
from tests.test_farm_http import _sampled_farm, framework

__all__ = ["framework"]  # the fixture


async def test_throughput_select_and_a_bag_added_on_the_configuration(framework):
    fw = framework["fw"]
    farm_id = await _sampled_farm(fw)  # small: 3 nodes at 0.1; large: 2 at 0.5; 2 slots
    base = f"{fw.url}/v1/farms/{farm_id}"
    samples = fw.service.farms.get(farm_id).samples
    small, large = (2 * 3600 / (sum(samples[t]) / 31) for t in ("small", "large"))
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/throughput") as resp:
            answer = await resp.json()
        assert resp.status == 200 and len(answer["function"]) == 11
        assert answer["configuration"] is None
        # a node: 2 lanes x 3600 / its mean (about 603 tasks/hour small, 1815 large)
        assert answer["max_throughput"] == pytest.approx(3 * small + 2 * large)
        async with session.get(f"{base}/throughput?target=2000") as resp:
            chosen = (await resp.json())["for_target"]
        assert chosen["pool"] == {"small": 1, "large": 1} and chosen["cost"] == 0.6
        async with session.get(f"{base}/throughput?target=9000") as resp:
            body = await resp.json()
        assert resp.status == 422
        assert body["errors"] == [{"field": "target", "problem": "no pool reaches it"}]
        assert "the most there is: large x2, small x3: 5439.0 tasks/hour for 1.3000/hour" \
            in body["message"]
        async with session.get(f"{base}/throughput?target=-1") as resp:
            assert resp.status == 400
            assert (await resp.json())["errors"][0]["field"] == "target"

        async with session.post(f"{base}/bags", json={"bag": "true\n"}) as resp:
            assert resp.status == 409  # no configuration yet
        async with session.post(f"{base}/select", json={}) as resp:
            assert resp.status == 400
            assert (await resp.json())["errors"][0]["field"] == "target"
        async with session.post(f"{base}/select", json={"target": 1e6}) as resp:
            assert resp.status == 422
        async with session.post(f"{base}/select", json={"target": 2000}) as resp:
            view = await resp.json()
        assert resp.status == 200
        assert view["htc"] == {"target": 2000, "configuration": {"small": 1, "large": 1}}

        for bag, field in (("true\n\ntrue\n", "bag:2"), (None, "bag")):
            async with session.post(f"{base}/bags", json={"bag": bag}) as resp:
                assert resp.status == 400
                assert (await resp.json())["errors"][0]["field"] == field
        async with session.post(f"{base}/bags", json={"bag": "echo a\n" * 12}) as resp:
            view = await resp.json()
        assert resp.status == 202 and view["added"] == 1
        [bag] = view["bags"]
        # split by rate: about 1 to 3 (small 11.9 s a task, large 4.0 s)
        assert bag["pool"] == {"small": 1, "large": 1}
        assert bag["shares"] == {"small": 3, "large": 9}
        assert bag["phase"] == "running" and bag["tasks"] == 12

    scheduler = fw.service.scheduler
    for nodetype, count in (("small", 3), ("large", 9)):
        job = scheduler.job(f"{farm_id}-bag1-{nodetype}")
        assert job is not None, f"bag 1's {nodetype} job was not submitted"
        assert job.counts == (count,) and job.parallelism == min(2, count)
        assert job.templates[0].nodetype == nodetype

    await fw.stop()
    framework["fw"] = fw = await start_framework(None, "127.0.0.1", 0,
                                                 db_url=framework["url"])
    async with aiohttp.ClientSession() as session, \
            session.get(f"{fw.url}/v1/farms/{farm_id}") as resp:
        view = await resp.json()
    assert view["htc"]["configuration"] == {"small": 1, "large": 1}
    assert [b["number"] for b in view["bags"]] == [1]


async def test_a_farm_without_samples_has_no_throughput(framework):
    fw = framework["fw"]
    farm_id = await _sampled_farm(fw)
    farms = fw.service.farms
    await farms._write(dataclasses.replace(farms.get(farm_id), samples={}))
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{fw.url}/v1/farms/{farm_id}/throughput") as resp:
            assert resp.status == 409
        async with session.post(f"{fw.url}/v1/farms/{farm_id}/select",
                                json={"target": 1}) as resp:
            assert resp.status == 409


async def test_submit_runs_the_rest_of_the_bag_on_the_selected_configuration(framework):
    """ConPaaS's `submit`: the first bag's rest, on the pool `select` chose."""
    fw = framework["fw"]
    farm_id = await _sampled_farm(fw)  # 100 tasks, 31 sampled: 69 left
    base = f"{fw.url}/v1/farms/{farm_id}"
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/run", json={"configuration": True}) as resp:
            body = await resp.json()
        assert resp.status == 409  # nothing selected yet
        assert body["errors"] == [{"field": "configuration", "problem": "none selected"}]
        for bad, field in (({"configuration": "yes"}, "configuration"),
                           ({"configuration": True, "schedule": 0}, "schedule")):
            async with session.post(f"{base}/run", json=bad) as resp:
                assert resp.status == 400
                assert (await resp.json())["errors"][0]["field"] == field
        assert fw.service.farms.get(farm_id).phase is FarmPhase.SAMPLED  # nothing started

        async with session.post(f"{base}/select", json={"target": 2000}) as resp:
            assert resp.status == 200
        async with session.post(f"{base}/run", json={"configuration": True}) as resp:
            view = await resp.json()
        assert resp.status == 202, view
    assert view["phase"] == "running"
    farm = fw.service.farms.get(farm_id)
    assert farm.pool == {"small": 1, "large": 1}  # the selected configuration
    assert sum(farm.shares.values()) == 69 and all(farm.shares.values())
    assert farm.forecast["makespan_low"] <= farm.forecast["makespan"]
    for nodetype, count in farm.shares.items():
        job = fw.service.scheduler.job(farm.job_name("run", nodetype))
        assert job is not None and job.counts == (count,)
        assert job.parallelism == 2 and job.templates[0].nodetype == nodetype


async def test_a_pool_given_by_hand_becomes_the_configuration(framework):
    """ConPaaS's `create_worker`/`remove_worker`: the pool itself, checked by node type."""
    fw = framework["fw"]
    farm_id = await _sampled_farm(fw)  # small: 3 nodes; large: 2
    base = f"{fw.url}/v1/farms/{farm_id}"
    async with aiohttp.ClientSession() as session:
        for body, field in (({"pool": {"small": 4}}, "pool.small"),
                            ({"pool": {"small": -1}}, "pool.small"),
                            ({"pool": {"small": 1.5}}, "pool.small"),
                            ({"pool": {"gpu": 1}}, "pool.gpu"),
                            ({"pool": {"small": 0}}, "pool"),
                            ({"pool": [1]}, "pool"),
                            ({"pool": {"small": 1}, "target": 10}, "target")):
            async with session.post(f"{base}/select", json=body) as resp:
                answer = await resp.json()
            assert resp.status == 400, (body, answer)
            assert answer["errors"][0]["field"] == field, (body, answer)
        assert fw.service.farms.get(farm_id).configuration == {}  # nothing stored

        async with session.post(f"{base}/select",
                                json={"pool": {"small": 3, "large": 0}}) as resp:
            view = await resp.json()
        assert resp.status == 200, view
    assert view["selected"]["pool"] == {"small": 3, "large": 0}
    assert view["selected"]["cost"] == pytest.approx(0.3)
    assert view["htc"] == {"target": view["selected"]["throughput"],
                           "configuration": {"small": 3, "large": 0}}


async def test_stop_ends_what_runs_and_delete_forgets_the_farm_and_its_jobs(framework):
    """ConPaaS's `stop` and `terminate` on a farm whose run and added bag are in flight."""
    fw = framework["fw"]
    farm_id = await _sampled_farm(fw)
    base = f"{fw.url}/v1/farms/{farm_id}"
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/select", json={"target": 2000}) as resp:
            assert resp.status == 200
        async with session.post(f"{base}/run", json={"configuration": True}) as resp:
            assert resp.status == 202
        async with session.post(f"{base}/bags", json={"bag": "echo a\n" * 4}) as resp:
            assert resp.status == 202
        farm = fw.service.farms.get(farm_id)
        names = fw.service.farms._job_names(farm)  # (its sample was made up: no jobs)
        assert sorted(names) == sorted(f"{farm_id}-{stage}-{t}" for stage in ("run", "bag1")
                                       for t in ("small", "large"))

        async with session.post(f"{base}/stop", json={}) as resp:
            view = await resp.json()
        assert resp.status == 200, view
        assert (view["phase"], view["reason"]) == ("stopped", "stopped by the user")
        assert view["run_seconds"] is not None
        assert [(b["phase"], b["reason"]) for b in view["bags"]] == [
            ("stopped", "stopped by the user")]
        for name in names:
            assert fw.service.scheduler.job(name).phase.final, name
        spent = view["spent"]
        async with session.post(f"{base}/stop", json={}) as resp:  # nothing left: as it was
            again = await resp.json()
        assert resp.status == 200 and again["phase"] == "stopped"
        assert again["spent"] == spent  # paid until the stop, not after
        async with session.post(f"{base}/run", json={"configuration": True}) as resp:
            assert resp.status == 409  # a stopped farm does not run again

        async with session.delete(base) as resp:
            assert (resp.status, await resp.json()) == (200, {"deleted": farm_id})
        async with session.get(base) as resp:
            assert resp.status == 404
        async with session.delete(base) as resp:
            assert resp.status == 404
    for name in names:
        assert fw.service.scheduler.job(name) is None, name

    await fw.stop()  # the deletion is on disk
    framework["fw"] = fw = await start_framework(None, "127.0.0.1", 0,
                                                 db_url=framework["url"])
    async with aiohttp.ClientSession() as session, \
            session.get(f"{fw.url}/v1/farms/{farm_id}") as resp:
        assert resp.status == 404


async def test_the_cli_submits_stops_and_deletes_a_farm(framework):
    """`berth farm select --pool`, `submit`, `stop` and `delete` over the REST API."""
    fw = framework["fw"]
    farm_id = await _sampled_farm(fw)
    runner = CliRunner()

    async def berth(*args: str):
        return await asyncio.to_thread(runner.invoke, main,
                                       ["farm", *args, "--url", fw.url])

    early = await berth("submit", farm_id)
    assert early.exit_code != 0 and "select a target throughput first" in early.output
    bad = await berth("select", farm_id, "--pool", "small=9")
    assert bad.exit_code != 0 and "pool.small" in bad.output
    chosen = await berth("select", farm_id, "--pool", "large=1")
    assert chosen.exit_code == 0 and "selected large x1:" in chosen.output, chosen.output
    submitted = await berth("submit", farm_id)
    assert submitted.exit_code == 0, submitted.output
    assert fw.service.farms.get(farm_id).pool == {"small": 0, "large": 1}
    stopped = await berth("stop", farm_id)
    assert stopped.exit_code == 0 and "stopped" in stopped.output, stopped.output
    deleted = await berth("delete", farm_id)
    assert deleted.exit_code == 0 and f"Farm {farm_id} deleted." in deleted.output
    assert farm_id not in fw.service.farms.farms
