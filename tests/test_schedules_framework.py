"""Scheduled jobs and client parameters through the framework's REST API, on a real
SQLite store, with the framework's clock injected (minutes pass in milliseconds) and its
tick driven by the test. No master: runs are placed by offers fed to the service, as the
master would send them, and end by the statuses an agent would report.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from cli import main
from framework import events as ev
from framework.driver import FrameworkService
from offers.offer import Offer
from offers.states import TaskState as S
from tests.clocked_framework import call, framework_starter, http, tick_at
from tests.framework_harness import Clock

__all__ = ["http"]  # the fixture

TASK = {"dockerimage": "berth/busybox", "cpus": 0.1, "mem": 16,
        "arguments": ["sh", "-c", "echo $GREETING ${WHO}"]}


def at(*args) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def scheduled(name="report", **schedule) -> dict:
    return {"name": name, "type": "batch", "task": TASK,
            "schedule": {"cron": "* * * * *", **schedule}}


@pytest.fixture
def clock():
    return Clock(at(2026, 5, 1, 12, 0, 30))


@pytest.fixture
async def start(tmp_path, clock):
    async for starter in framework_starter(tmp_path, clock):
        yield starter



def active_runs(service: FrameworkService, name: str) -> list[str]:
    state = service.schedules.get(name)
    return [run.name for run, job in service.schedules.runs(state) if not job.phase.final]


def run_to_the_end(service: FrameworkService, run: str, state: S = S.FINISHED) -> None:
    """Place the run's pending instance on an offered agent, report it RUNNING, then
    `state`."""
    service.apply(ev.OffersReceived((Offer(id=f"o-{run}", agent_id="a1", hostname="h1",
                                           cpus=4.0, mem=4096.0, disk=1000.0,
                                           ports=((31000, 32000),)),)))
    [record] = service.scheduler.job_instances(service.scheduler.job(run))
    service.apply(ev.TaskStatusChanged(record.task_id, S.RUNNING, None, "a1"))
    service.apply(ev.TaskStatusChanged(record.task_id, state, None, "a1",
                                       exit_code=0 if state is S.FINISHED else 1))


async def test_every_minute_with_forbid_skips_firings_while_a_run_lasts(start, clock, http):
    fw = await start()
    status, doc = await call(http, fw, "POST", "/v1/jobs", scheduled(concurrency="forbid"))
    assert status == 201, doc
    assert doc["phase"] == "scheduled"
    assert doc["schedule"]["next_firing"]["utc"] == "2026-05-01T12:01:00+00:00"
    assert fw.service.scheduler.job("report") is None  # a template does not run itself

    await tick_at(fw, clock, at(2026, 5, 1, 12, 0, 59))
    assert fw.service.schedules.get("report").runs == ()
    await tick_at(fw, clock, at(2026, 5, 1, 12, 1, 0, 400_000))
    assert active_runs(fw.service, "report") == ["report-20260501T1201Z"]
    for minute in (2, 3, 4):  # the run lasts: these firings are skipped, not queued
        await tick_at(fw, clock, at(2026, 5, 1, 12, minute, 1))
        assert active_runs(fw.service, "report") == ["report-20260501T1201Z"]
    run_to_the_end(fw.service, "report-20260501T1201Z")
    await tick_at(fw, clock, at(2026, 5, 1, 12, 4, 30))
    assert active_runs(fw.service, "report") == []  # 12:04 was skipped, not delayed
    await tick_at(fw, clock, at(2026, 5, 1, 12, 5, 0, 100_000))
    assert active_runs(fw.service, "report") == ["report-20260501T1205Z"]

    status, doc = await call(http, fw, "GET", "/v1/jobs/report")
    assert status == 200
    assert [(r["name"], r["phase"]) for r in doc["schedule"]["runs"]] == [
        ("report-20260501T1201Z", "complete"), ("report-20260501T1205Z", "pending")]
    assert doc["schedule"]["last_firing"]["utc"] == "2026-05-01T12:05:00+00:00"
    assert doc["schedule"]["next_firing"]["utc"] == "2026-05-01T12:06:00+00:00"
    status, listing = await call(http, fw, "GET", "/v1/jobs")
    names = {j["name"]: j["phase"] for j in listing["jobs"]}
    assert names == {"report": "scheduled", "report-20260501T1201Z": "complete",
                     "report-20260501T1205Z": "pending"}


async def test_a_restart_across_a_firing_runs_it_exactly_once(start, clock, http):
    fw = await start()
    status, doc = await call(http, fw, "POST", "/v1/jobs", scheduled(
        "hourly", cron="0 * * * *", catch_up="latest"))
    assert status == 201, doc
    await tick_at(fw, clock, at(2026, 5, 1, 12, 30))
    await fw.stop()

    clock.now = at(2026, 5, 1, 15, 20)  # down across 13:00, 14:00 and 15:00
    fw = await start()
    assert fw.service.schedules.get("hourly").runs == ()
    await fw.service.tick()
    await tick_at(fw, clock, at(2026, 5, 1, 15, 21))
    assert [r.name for r in fw.service.schedules.get("hourly").runs] == [
        "hourly-20260501T1500Z"]
    await fw.stop()

    fw = await start()  # and again right after: the firing is on disk, not run twice
    await tick_at(fw, clock, at(2026, 5, 1, 15, 22))
    assert [r.name for r in fw.service.schedules.get("hourly").runs] == [
        "hourly-20260501T1500Z"]
    assert fw.service.scheduler.job("hourly-20260501T1500Z") is not None
    await tick_at(fw, clock, at(2026, 5, 1, 16, 0, 1))
    assert [r.name for r in fw.service.schedules.get("hourly").runs] == [
        "hourly-20260501T1500Z", "hourly-20260501T1600Z"]


async def test_catch_up_none_skips_a_firing_missed_while_down(start, clock, http):
    fw = await start()
    await call(http, fw, "POST", "/v1/jobs", scheduled("quiet", cron="0 * * * *",
                                                       catch_up="none"))
    await fw.stop()
    clock.now = at(2026, 5, 1, 13, 30)
    fw = await start()
    await fw.service.tick()
    state = fw.service.schedules.get("quiet")
    assert state.runs == () and state.last_firing == at(2026, 5, 1, 13, 0)


async def test_manual_launch_and_history_limits_delete_older_runs(start, clock, http):
    fw = await start()
    job = scheduled("nightly", cron="@daily", at="03:00", successful_runs_history=2,
                    failed_runs_history=1)
    await call(http, fw, "POST", "/v1/jobs", {**job, "restart": {"attempts": 0}})
    names = []
    for second, outcome in enumerate((S.FINISHED, S.FINISHED, S.FAILED, S.FINISHED,
                                      S.FAILED)):
        clock.now = at(2026, 5, 1, 12, 1, second)
        status, doc = await call(http, fw, "POST", "/v1/jobs/nightly/launch")
        assert status == 201, doc
        names.append(doc["name"])
        assert doc["name"] == f"nightly-20260501T12010{second}Z-manual"
        run_to_the_end(fw.service, doc["name"], outcome)
    await fw.service.tick()
    kept = [r.name for r in fw.service.schedules.get("nightly").runs]
    assert kept == [names[1], names[3], names[4]]  # 2 succeeded, 1 failed
    assert fw.service.scheduler.job(names[0]) is None  # older runs deleted
    assert fw.service.scheduler.job(names[2]) is None
    status, _ = await call(http, fw, "POST", "/v1/jobs/nightly-20260501T120103Z-manual/"
                                              "launch")
    assert status == 409  # an ordinary job is not launched
    status, _ = await call(http, fw, "POST", "/v1/jobs/nope/launch")
    assert status == 404
    status, answer = await call(http, fw, "DELETE", "/v1/jobs/nightly")
    assert status == 200, answer
    assert fw.service.scheduler.job(names[4]) is None
    status, _ = await call(http, fw, "GET", "/v1/jobs/nightly")
    assert status == 404


@pytest.mark.parametrize("schedule, field, named", [
    ({"cron": "61 * * * *"}, "schedule.cron", "61 * * * *"),
    ({"cron": ["@daily", "every day"]}, "schedule.cron[1]", "every day"),
    ({"cron": "@daily", "time_zone": "Europe/Atlantis"}, "schedule.time_zone",
     "Europe/Atlantis"),
    ({"cron": "@daily", "concurrency": "sometimes"}, "schedule.concurrency", "forbid"),
])
async def test_a_bad_schedule_is_a_400_naming_the_field_and_nothing_is_stored(
        start, http, schedule, field, named):
    fw = await start()
    body = {"name": "bad", "type": "batch", "task": TASK, "schedule": schedule}
    status, answer = await call(http, fw, "POST", "/v1/jobs", body)
    assert status == 400, answer
    problems = {e["field"]: e["problem"] for e in answer["errors"]}
    assert field in problems and named in problems[field], problems
    assert (await call(http, fw, "GET", "/v1/jobs/bad"))[0] == 404
    assert fw.service.store.schedules() == []


async def test_a_client_parameter_change_is_seen_by_the_next_run(start, clock, http):
    fw = await start()
    status, doc = await call(http, fw, "PUT", "/v1/clients/acme/parameters",
                             {"GREETING": "hello", "WHO": "world", "OWN": "client's"})
    assert status == 200 and doc["parameters"]["GREETING"] == "hello", doc
    job = scheduled("greet", cron="@monthly")
    job["client"] = "acme"
    job["task"] = {**TASK, "env": {"OWN": "the job's"}}
    assert (await call(http, fw, "POST", "/v1/jobs", job))[0] == 201

    def launched_spec(run: str):
        [record] = fw.service.scheduler.job_instances(fw.service.scheduler.job(run))
        return record.spec

    _, first = await call(http, fw, "POST", "/v1/jobs/greet/launch")
    spec = launched_spec(first["name"])
    assert spec.env["GREETING"] == "hello" and spec.env["OWN"] == "the job's"
    assert spec.arguments == ("sh", "-c", "echo $GREETING world")

    status, _ = await call(http, fw, "PUT", "/v1/clients/acme/parameters",
                           {"GREETING": "bonjour", "WHO": "le monde"})
    assert status == 200
    clock.now += 1
    _, second = await call(http, fw, "POST", "/v1/jobs/greet/launch")
    spec = launched_spec(second["name"])
    assert spec.env["GREETING"] == "bonjour" and spec.arguments[-1] == "echo $GREETING le monde"
    assert launched_spec(first["name"]).env["GREETING"] == "hello"  # the first as it ran
    assert "hello" not in str((await call(http, fw, "GET", "/v1/jobs/greet"))[1]["spec"])

    await fw.stop()  # the parameters are on disk, apart from the template
    fw = await start()
    status, doc = await call(http, fw, "GET", "/v1/clients/acme/parameters")
    assert status == 200 and doc == {"client": "acme", "namespace": "default",
                                     "parameters": {"GREETING": "bonjour",
                                                    "WHO": "le monde"}}
    clock.now += 1
    _, third = await call(http, fw, "POST", "/v1/jobs/greet/launch")
    assert launched_spec(third["name"]).env["GREETING"] == "bonjour"


@pytest.mark.parametrize("body, field", [
    ({"GOOD": "1", "1BAD": "x"}, "1BAD"),
    ({"WITH-DASH": "x"}, "WITH-DASH"),
    ({"NUMBER": 3}, "NUMBER"),
])
async def test_a_bad_client_parameter_is_a_400_naming_it_and_nothing_is_stored(
        start, http, body, field):
    fw = await start()
    assert (await call(http, fw, "PUT", "/v1/clients/acme/parameters", {"OLD": "kept"}))[0] \
        == 200
    status, answer = await call(http, fw, "PUT", "/v1/clients/acme/parameters", body)
    assert status == 400, answer
    assert [e["field"] for e in answer["errors"]] == [field]
    assert field in answer["errors"][0]["problem"] or field == "NUMBER"
    _, doc = await call(http, fw, "GET", "/v1/clients/acme/parameters")
    assert doc["parameters"] == {"OLD": "kept"}
    assert [p.values for p in fw.service.store.client_parameters()] == [{"OLD": "kept"}]


async def test_clients_are_per_namespace(start, http):
    fw = await start()
    await call(http, fw, "PUT", "/v1/clients/acme/parameters?namespace=team-a", {"K": "a"})
    status, _ = await call(http, fw, "GET", "/v1/clients/acme/parameters")
    assert status == 404  # `default`'s acme has none
    _, doc = await call(http, fw, "GET", "/v1/clients/acme/parameters?namespace=team-a")
    assert doc["parameters"] == {"K": "a"} and doc["namespace"] == "team-a"


async def test_the_cli_launches_and_sets_and_reads_client_parameters(start, clock, http):
    fw = await start()
    runner = CliRunner()

    async def berth(*args):
        result = await asyncio.to_thread(runner.invoke, main, [*args, "--url", fw.url])
        return result.exit_code, result.output

    code, out = await berth("client", "set", "acme", "GREETING=hi there", "WHO=you")
    assert code == 0 and "2 parameters set" in out, out
    code, out = await berth("client", "get", "acme")
    assert code == 0 and out == "GREETING=hi there\nWHO=you\n"
    code, out = await berth("client", "set", "acme", "1X=y")
    assert code != 0 and "1X" in out
    job = {**scheduled("cli", cron="@weekly", at="06:15"), "client": "acme"}
    assert (await call(http, fw, "POST", "/v1/jobs", job))[0] == 201
    code, out = await berth("job", "launch", "cli")
    assert code == 0 and "launched cli-20260501T120030Z-manual" in out, out
    code, out = await berth("job", "status", "cli")
    assert code == 0 and "15 6 * * 0" in out and "cli-20260501T120030Z-manual" in out, out


async def test_launches_within_one_second_each_get_a_run(start, http):
    fw = await start()
    await call(http, fw, "POST", "/v1/jobs", scheduled("quick", cron="@daily"))
    names = [(await call(http, fw, "POST", "/v1/jobs/quick/launch"))[1]["name"]
             for _ in range(3)]
    assert names == ["quick-20260501T120030Z-manual", "quick-20260501T120030Z-manual-2",
                     "quick-20260501T120030Z-manual-3"]


async def test_a_scheduled_job_is_not_stopped_or_scaled_but_its_runs_are(start, http):
    fw = await start()
    await call(http, fw, "POST", "/v1/jobs", scheduled("tmpl", cron="@daily"))
    status, answer = await call(http, fw, "POST", "/v1/jobs/tmpl/stop", {})
    assert status == 409 and "scheduled job" in answer["message"]
    assert (await call(http, fw, "PUT", "/v1/jobs/tmpl/scale", {"count": 2}))[0] == 409
    assert (await call(http, fw, "POST", "/v1/jobs", scheduled("tmpl")))[0] == 409  # taken
    _, run = await call(http, fw, "POST", "/v1/jobs/tmpl/launch")
    status, stopped = await call(http, fw, "POST", f"/v1/jobs/{run['name']}/stop", {})
    assert status == 200 and stopped["phase"] == "stopped"
    status, answer = await call(http, fw, "DELETE", "/v1/jobs/tmpl")
    assert status == 200, answer
