"""The master against hostile or unlucky input, over real HTTP on loopback (issue 9):
one bad LAUNCH fails alone, no number or nesting a client sends raises, frameworks do not
pile up, and a full disk answers 503 and does nothing until it has room again."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from offers.launch import LaunchSpec
from offers.protocol import mesos as mj
from offers.protocol.task_info import task_info
from tests.master_fixtures import (
    FakeAgent,
    SchedulerClient,
    docker_task_info,
    get_json,
    master,
    start_test_master,
    wait_for,
)
from tests.small_disk import fill, free, small_disk

__all__ = ["master", "small_disk"]  # the fixtures


async def _post(url: str, data: bytes, headers: dict | None = None) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as s, s.post(
            url, data=data, headers={"Content-Type": "application/json", **(headers or {})}
    ) as r:
        return r.status, await r.json(content_type=None)


def _offer_id(event: dict) -> str:
    return event["offers"]["offers"][0]["id"]["value"]


async def _offer_on(fw: SchedulerClient, agent_id: str) -> str:
    """The id of the next offer for `agent_id` (other agents' offers are left alone)."""
    def on_agent(event: dict) -> bool:
        return any(o["agent_id"]["value"] == agent_id for o in event["offers"]["offers"])
    event = await fw.next_event("OFFERS", on_agent)
    return next(o["id"]["value"] for o in event["offers"]["offers"]
                if o["agent_id"]["value"] == agent_id)


# -- one unlaunchable operation never fails the others ---------------------------------------


async def test_one_bad_launch_is_refused_alone_and_the_rest_of_the_accept_launches(master):
    fw = await SchedulerClient.subscribe(master.url, "mixed")
    agent = await FakeAgent.register(master.url, "node-1")
    try:
        offer = _offer_id(await fw.next_event("OFFERS"))
        # What the framework sends for a task of 0.0000001 cpus: six decimals round it to 0.
        tiny = task_info(LaunchSpec(task_id="tiny", framework_id=fw.framework_id,
                                       name="tiny", image="berth/busybox:latest",
                                       cpus=0.0000001, mem=32), agent.agent_id)
        bare = docker_task_info("bare", agent.agent_id)
        del bare["container"]
        good = docker_task_info("good", agent.agent_id)
        resp = await fw.accept([offer], [tiny, good, bare])
        assert resp.status == 202

        launch = await agent.next_message("LAUNCH")
        assert launch["task"]["task_id"] == "good"
        error = await fw.next_update("tiny", "TASK_ERROR")
        assert error["reason"] == "REASON_TASK_INVALID"
        assert "cpus" in error["message"] and "greater than 0" in error["message"]
        error = await fw.next_update("bare", "TASK_ERROR")
        assert error["reason"] == "REASON_TASK_INVALID" and "container" in error["message"]
        _, state = await get_json(f"{master.url}/state")
        assert [(t["id"], t["state"]) for t in state["tasks"]] == [("good", "STAGING")]
    finally:
        await fw.close()
        await agent.close()


NUMBERS = ["1" + "0" * 4000, "1" + "0" * 5000, "5e-324", "1e308", "-1e308", "NaN",
           "Infinity", "-Infinity", "-0.0", "0"]


async def test_no_number_a_client_sends_raises_in_the_master(master):
    url = f"{master.url}/api/v1/scheduler"
    for number in NUMBERS:  # before anyone else subscribes: these compete for no offer
        call = json.dumps(mj.subscribe_call("numbers", failover_timeout="@N@"))
        async with aiohttp.ClientSession() as s, s.post(
                url, data=call.replace('"@N@"', number).encode(),
                headers={"Content-Type": "application/json"}) as r:
            assert r.status < 500, (number, await r.text())
        registration = json.dumps({"hostname": "n", "total": {"cpus": "@N@"}})
        status, answer = await _post(f"{master.url}/agent/v1/register",
                                     registration.replace('"@N@"', number).encode())
        assert status < 500, (number, answer)

    fw = await SchedulerClient.subscribe(master.url, "numbers")
    agent = await FakeAgent.register(master.url, "node-1")
    headers = {"Mesos-Stream-Id": fw.stream_id}
    try:
        for i, number in enumerate(NUMBERS):
            for name in ("cpus", "mem"):
                offer = await _offer_on(fw, agent.agent_id)
                info = docker_task_info(f"t{i}-{name}", agent.agent_id)
                info["resources"] = [r for r in info["resources"] if r["name"] != name]
                info["resources"].append({"name": name, "type": "SCALAR",
                                          "scalar": {"value": "@N@"}})
                call = mj.accept_call(fw.framework_id, [offer], [info], refuse_seconds=0)
                body = json.dumps(call).replace('"@N@"', number).encode()
                status, answer = await _post(url, body, headers)
                assert status < 500, (number, answer)
                if status != 202:  # the offer was not used: give it back
                    decline = mj.decline_call(fw.framework_id, [offer], refuse_seconds=0)
                    assert (await fw.call(decline)).status == 202
            decline = mj.decline_call(fw.framework_id, ["nope"], refuse_seconds="@N@")
            body = json.dumps(decline).replace('"@N@"', number).encode()
            status, answer = await _post(url, body, headers)
            assert status < 500, (number, answer)
        # And the master still launches a normal task afterwards.
        offer = await _offer_on(fw, agent.agent_id)
        assert (await fw.accept([offer], [docker_task_info("fine", agent.agent_id)])).status \
            == 202
        while (await agent.next_message("LAUNCH"))["task"]["task_id"] != "fine":
            pass
    finally:
        await fw.close()
        await agent.close()


@pytest.mark.parametrize("field, value, named", [
    ("running", 5, "running"), ("ended", True, "ended"), ("running", {"task_id": "t"}, "running"),
    ("running", [{"task_id": "t", "framework_id": {"x": 1}}], "running[0]"),
    ("total", {"cpus": 1, "ports": 7}, "total.ports"),
    ("total", {"cpus": 1, "ports": {"a": 1}}, "total.ports"),
    ("spare", {"ports": [[1.5, 2]]}, "spare.ports"),
])
async def test_a_registration_of_any_shape_is_a_400_naming_the_field(master, field, value,
                                                                     named):
    body = {"hostname": "odd", "total": {"cpus": 1, "mem": 64}, field: value}
    status, answer = await _post(f"{master.url}/agent/v1/register", json.dumps(body).encode())
    assert status == 400, answer  # these were 500s (TypeError, AttributeError)
    assert [e["field"] for e in answer["errors"]] == [named]
    assert master.service.core.agents == {}


async def test_metering_samples_that_are_not_a_list_are_answered_and_the_link_stays(master):
    agent = await FakeAgent.register(master.url, "node-1")
    try:
        await agent.send({"type": "METERING", "samples": 5})  # crashed the link's handler
        assert "samples" in (await agent.next_message("ERROR"))["message"]
        await agent.send({"type": "CAPACITY", "total": {"ports": 7}, "spare": {}})
        assert "ports" in (await agent.next_message("ERROR"))["message"]
        await agent.send({"type": "HEARTBEAT"})
        assert not agent.ws.closed
    finally:
        await agent.close()


# -- deep or huge JSON is a 400 ---------------------------------------------------------------


@pytest.mark.parametrize("body, words", [
    (b"[" * 10_000 + b"]" * 10_000, "nested"),
    (b'{"type": "SUBSCRIBE", "x": ' + b"9" * 5000 + b"}", "digits"),
])
@pytest.mark.parametrize("route", ["/api/v1/scheduler", "/agent/v1/register"])
async def test_deep_or_huge_json_is_a_400_naming_the_problem(master, route, body, words):
    status, answer = await _post(f"{master.url}{route}", body)
    assert status == 400, answer
    assert answer["code"] == 400 and words in answer["message"]
    assert answer["errors"] and words in answer["errors"][0]["problem"]


async def test_deep_json_on_the_agent_link_is_answered_and_the_link_stays(master):
    agent = await FakeAgent.register(master.url, "node-1")
    try:
        await agent.send_str("[" * 10_000 + "]" * 10_000)
        error = await agent.next_message("ERROR")
        assert "nested" in error["message"]
        await agent.status("ghost", "RUNNING")  # still read: an unknown task is killed
        assert (await agent.next_message("KILL"))["task_id"] == "ghost"
    finally:
        await agent.close()


async def test_odd_values_on_the_agent_link_are_refused_by_field_not_taken_for_a_bad_disk(
        master):
    fw = await SchedulerClient.subscribe(master.url, "odd")
    agent = await FakeAgent.register(master.url, "node-1")
    try:
        offer = _offer_id(await fw.next_event("OFFERS"))
        await fw.accept([offer], [docker_task_info("t1", agent.agent_id)])
        await agent.next_message("LAUNCH")
        await agent.status("t1", "RUNNING", message={"not": "text"})
        assert "message" in (await agent.next_message("ERROR"))["message"]
        await agent.send_str('{"type": "METERING", "samples": [{"task_id": "t1", "t": '
                             + "1" + "0" * 4000 + ', "cpus": 1, "mem": 1}]}')
        assert "digits" in (await agent.next_message("ERROR"))["message"]  # the JSON limit
        await agent.status("t1", "FAILED", exit_code=10**30)
        failed = await fw.next_update("t1", "TASK_FAILED")
        assert "labels" not in failed  # no exit code that does not fit one
        _, health = await get_json(f"{master.url}/health")
        assert health["store"]["writable"] is True
    finally:
        await fw.close()
        await agent.close()


# -- frameworks do not pile up ----------------------------------------------------------------


async def test_a_framework_with_failover_timeout_0_is_removed_when_it_disconnects(tmp_path):
    master = await start_test_master(tmp_path, max_removed_frameworks=3)
    agent = await FakeAgent.register(master.url, "node-1")
    try:
        fw = await SchedulerClient.subscribe(master.url, "once", failover_timeout=0)
        offer = _offer_id(await fw.next_event("OFFERS"))
        await fw.accept([offer], [docker_task_info("t1", agent.agent_id)])
        await agent.next_message("LAUNCH")
        await fw.close()
        assert (await agent.next_message("KILL"))["task_id"] == "t1"
        _, state = await get_json(f"{master.url}/state")
        assert [(f["id"], f["removed"]) for f in state["frameworks"]] == [
            (fw.framework_id, True)]

        for i in range(6):
            fw = await SchedulerClient.subscribe(master.url, f"once-{i}", failover_timeout=0)
            await fw.close()

        async def settled():
            _, state = await get_json(f"{master.url}/state")
            return state if all(f["removed"] for f in state["frameworks"]) else None
        state = await wait_for(settled, what="every framework removed")
        assert len(state["frameworks"]) == 3  # only the newest removed ones are kept
        assert fw.framework_id in [f["id"] for f in state["frameworks"]]
    finally:
        await agent.close()
        await master.stop()


async def test_subscriptions_beyond_max_frameworks_are_refused_with_503(tmp_path):
    master = await start_test_master(tmp_path, max_frameworks=2)
    first = await SchedulerClient.subscribe(master.url, "one")
    second = await SchedulerClient.subscribe(master.url, "two")
    try:
        call = mj.subscribe_call("three")
        status, answer = await _post(f"{master.url}/api/v1/scheduler",
                                     json.dumps(call).encode())
        assert status == 503
        assert "2" in answer["message"] and "--max-frameworks" in answer["message"]
        # A failover of a known framework is not a new one: it is let in.
        again = await SchedulerClient.subscribe(master.url, "one",
                                                framework_id=first.framework_id)
        await again.close()
        # Torn-down frameworks do not count.
        assert (await second.call(mj.teardown_call(second.framework_id))).status == 202
        third = await SchedulerClient.subscribe(master.url, "three")
        await third.close()
    finally:
        await first.close()
        await second.close()
        await master.stop()


# -- a full disk ------------------------------------------------------------------------------


async def test_a_full_disk_answers_503_does_nothing_and_recovers_without_restart(
        tmp_path, small_disk):
    master = await start_test_master(tmp_path, db_url=f"sqlite:///{small_disk / 'berth.db'}")
    fw = await SchedulerClient.subscribe(master.url, "diskful")
    agent = await FakeAgent.register(master.url, "node-1")
    big = {f"k{i}": "x" * 1000 for i in range(200)}  # a registration that needs new pages
    try:
        offer = _offer_id(await fw.next_event("OFFERS"))
        fill(small_disk)

        resp = await fw.accept([offer], [docker_task_info("t1", agent.agent_id)])
        assert resp.status == 503
        answer = await resp.json()
        assert answer["message"].startswith("the master's state store cannot be written: ")
        registration = {"hostname": "node-2", "attributes": big,
                        "total": {"cpus": 1, "mem": 512}}
        status, answer = await _post(f"{master.url}/agent/v1/register",
                                     json.dumps(registration).encode())
        assert status == 503 and "cannot be written" in answer["message"]

        # Reads keep working, and show that nothing happened.
        status, state = await get_json(f"{master.url}/state")
        assert status == 200
        assert state["tasks"] == [] and state["outstanding_offers"] == 1
        assert [a["hostname"] for a in state["agents"]] == ["node-1"]
        status, health = await get_json(f"{master.url}/health")
        assert status == 200 and health["store"]["writable"] is False

        free(small_disk)

        # The same offer is still good (the refused ACCEPT used nothing up), and the first
        # LAUNCH the agent ever sees is this one: the refused one was never sent.
        resp = await fw.accept([offer], [docker_task_info("t2", agent.agent_id)])
        assert resp.status == 202
        assert (await agent.next_message("LAUNCH"))["task"]["task_id"] == "t2"
        status, answer = await _post(f"{master.url}/agent/v1/register",
                                     json.dumps(registration).encode())
        assert status == 200, answer
        _, health = await get_json(f"{master.url}/health")
        assert health["store"]["writable"] is True
    finally:
        await fw.close()
        await agent.close()
        await master.stop()
        await asyncio.sleep(0)


async def test_a_status_the_full_disk_cannot_take_closes_the_agent_link(tmp_path, small_disk):
    master = await start_test_master(tmp_path, db_url=f"sqlite:///{small_disk / 'berth.db'}")
    fw = await SchedulerClient.subscribe(master.url, "diskful")
    agent = await FakeAgent.register(master.url, "node-1")
    try:
        offer = _offer_id(await fw.next_event("OFFERS"))
        await fw.accept([offer], [docker_task_info("t1", agent.agent_id)])
        await agent.next_message("LAUNCH")
        fill(small_disk)
        await agent.status("t1", "FAILED", exit_code=3)
        # Not recorded, so the agent is told to register again rather than be forgotten.
        await wait_for(lambda: agent.ws.closed, what="the agent link closed")
        assert agent.ws.close_code == 4002
        _, state = await get_json(f"{master.url}/state")
        assert [(t["id"], t["state"]) for t in state["tasks"]] == [("t1", "STAGING")]
        free(small_disk)
        back = await FakeAgent.register(master.url, "node-1", agent_id=agent.agent_id)
        await back.close()
    finally:
        await fw.close()
        await agent.close()
        await master.stop()


async def test_a_framework_that_leaves_while_the_disk_is_full_is_removed_once_it_has_room(
        tmp_path, small_disk):
    master = await start_test_master(tmp_path, db_url=f"sqlite:///{small_disk / 'berth.db'}")
    try:
        fw = await SchedulerClient.subscribe(master.url, "brief", failover_timeout=0)
        fill(small_disk)
        await fw.close()

        async def store_failed():
            _, health = await get_json(f"{master.url}/health")
            return not health["store"]["writable"]
        await wait_for(store_failed, what="the removal to fail on the full disk")
        free(small_disk)

        async def removed():
            _, state = await get_json(f"{master.url}/state")
            return [f["removed"] for f in state["frameworks"]] == [True]
        await wait_for(removed, what="the framework removed once the disk has room")
    finally:
        await master.stop()
