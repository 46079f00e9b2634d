"""Health checks without a machine: what results mean (grace, failures in a row, a
success resetting them, `max_failures`), what the parsers accept and refuse (every
problem named by field), the Mesos TaskInfo round trip, and the way health travels
through the master's core and the framework's job status."""

from __future__ import annotations

import pytest

from api.agent_messages import agent_message
from api.mesos_task_info import launch_from_task_info
from executor.health import CheckResult, HealthState, observe
from executor.tasks import StatusUpdate, UsageSample
from master import events as E
from offers.health import HealthCheck
from offers.job import parse_job
from offers.launch import LaunchSpec
from offers.problems import SpecError
from offers.protocol.mesos import status_from_mesos, status_to_mesos
from offers.protocol.task_info import task_info
from offers.states import TaskState
from offers.task import parse_task

OK = CheckResult(True, "GET :8080/ answered 200", 1.5)
BAD = CheckResult(False, "GET :8080/ answered 404, not 200", 0.9)


def _check(**fields) -> HealthCheck:
    return HealthCheck.model_validate({"http": {"port": 8080}, **fields})


def _run(check: HealthCheck, results: list[tuple[float, CheckResult]]):
    """Feed (time, result) pairs in order; the steps taken."""
    state, steps = HealthState(started_at=0.0), []
    for now, result in results:
        step = observe(check, state, result, now)
        state = step.state
        steps.append(step)
    return steps


# -- the decisions ------------------------------------------------------------------------


def test_failures_in_the_grace_period_do_not_count():
    check = _check(grace=10, interval=1, timeout=1, max_failures=2)
    steps = _run(check, [(t, BAD) for t in range(1, 10)])
    assert all(s.kill is None and s.report is None for s in steps)
    assert steps[-1].state.failures == 0 and steps[-1].state.healthy is None


def test_max_failures_in_a_row_after_grace_kill_with_what_failed():
    check = _check(grace=2, interval=1, timeout=1, max_failures=3)
    steps = _run(check, [(1, BAD), (2, BAD), (3, BAD), (4, BAD)])
    assert [s.report for s in steps] == [None, False, None, None]  # told once
    assert [s.kill is not None for s in steps] == [False, False, False, True]
    assert steps[-1].kill == ("unhealthy: GET :8080/ answered 404, not 200 "
                              "(GET :8080/ failed 3 times in a row)")


def test_a_success_resets_the_count_of_failures():
    check = _check(grace=0, interval=1, timeout=1, max_failures=3)
    steps = _run(check, [(1, BAD), (2, BAD), (3, OK), (4, BAD), (5, BAD), (6, OK)])
    assert all(s.kill is None for s in steps)
    assert [s.report for s in steps] == [False, None, True, False, None, True]
    assert steps[4].state.failures == 2 and steps[5].state.failures == 0


def test_once_healthy_the_grace_period_is_over():
    check = _check(grace=60, interval=1, timeout=1, max_failures=2)
    steps = _run(check, [(1, OK), (2, BAD), (3, BAD)])
    assert [s.report for s in steps] == [True, False, None]
    assert steps[-1].kill is not None and steps[-1].kill.startswith("unhealthy: ")


def test_one_failure_is_enough_with_max_failures_1():
    check = HealthCheck(command=("false",), grace=0, interval=1, timeout=1, max_failures=1)
    [step] = _run(check, [(1, CheckResult(False, "command false exited 1"))])
    assert step.kill == "unhealthy: command false exited 1 (command false failed once)"


# -- what is accepted and refused ---------------------------------------------------------

_PORTS = [{"host_port": 31000, "container_port": 8080},
          {"host_port": 31001, "container_port": 9090}]


def _problems(parse, data) -> dict[str, str]:
    with pytest.raises(SpecError) as caught:
        parse(data)
    return {p.field: p.problem for p in caught.value.problems}


def _job(health_check, **template) -> dict:
    return {"name": "web", "task": {"dockerimage": "berth/busybox", "ports": _PORTS,
                                    "health_check": health_check, **template}}


def test_a_job_template_takes_each_kind_of_check_with_marathons_defaults():
    spec = parse_job(_job({"http": {"path": "/health", "status": 200}}))
    check = spec.task.health_check
    assert (check.kind, check.http.path, check.http.status) == ("http", "/health", 200)
    assert (check.grace, check.interval, check.timeout, check.max_failures) == (30, 10, 5, 3)
    assert parse_job(_job({"tcp": {"port_index": 1}})).task.health_check.kind == "tcp"
    command = parse_job(_job({"command": ["sh", "-c", "test -f /ready"], "interval": "2",
                              "timeout": 1})).task.health_check
    assert command.command == ("sh", "-c", "test -f /ready") and command.interval == 2


def test_a_timeout_above_the_interval_is_named_with_the_interval():
    problems = _problems(parse_job, _job({"http": {}, "interval": 5, "timeout": 8}))
    assert problems == {"task.health_check.timeout":
                        "must not exceed interval (5 s), not 8 s: a check would still run "
                        "when the next one is due"}


@pytest.mark.parametrize(("check", "field", "words"), [
    ({}, "task.health_check", "exactly one of `http`, `tcp` or `command`"),
    ({"http": {}, "tcp": {}}, "task.health_check", "not http and tcp"),
    ({"http": {"path": "health"}}, "task.health_check.http.path", "must start with /"),
    ({"http": {"status": 700}}, "task.health_check.http.status", "less than or equal"),
    ({"http": {"port": 8080, "port_index": 0}}, "task.health_check.http.port_index",
     "not both"),
    ({"tcp": {"port": 70000}}, "task.health_check.tcp.port", "less than or equal"),
    ({"tcp": {"port_index": 2}}, "task.health_check.tcp.port_index",
     "the task has 2 port mapping(s)"),
    ({"command": []}, "task.health_check.command", "at least 1 item"),
    ({"command": [""]}, "task.health_check.command", "must not be empty"),
    ({"http": {}, "max_failures": 0}, "task.health_check.max_failures",
     "greater than or equal to 1"),
    ({"http": {}, "max_failures": 2.5}, "task.health_check.max_failures", "whole number"),
    ({"http": {}, "grace": -1}, "task.health_check.grace", "greater than or equal to 0"),
    ({"http": {}, "interval": "often"}, "task.health_check.interval", "not a number"),
    ({"http": {}, "timeout": 0}, "task.health_check.timeout", "greater than 0"),
    ({"http": {}, "every": 3}, "task.health_check.every", "unknown field"),
])
def test_bad_health_checks_are_named_by_field(check, field, words):
    problems = _problems(parse_job, _job(check))
    assert field in problems, problems
    assert words in problems[field]


def test_a_network_check_needs_a_port_it_can_reach():
    no_ports = {"name": "web", "task": {"dockerimage": "berth/busybox",
                                        "health_check": {"http": {}}}}
    assert _problems(parse_job, no_ports) == {
        "task.health_check.http.port": "is required when the task has no port mappings"}
    sealed = {"id": "x", "dockerimage": "berth/busybox", "networkmode": "none",
              "health_check": {"tcp": {"port": 80}}}
    assert "command" in _problems(parse_task, sealed)["health_check.tcp"]


def test_a_charmander_task_takes_a_health_check_and_launches_it_on_the_container_port():
    task = parse_task({"id": "web", "dockerimage": "berth/busybox", "ports": _PORTS,
                       "health_check": {"http": {"port_index": 1, "path": "/up"},
                                        "interval": 2, "timeout": 1}})
    launch = LaunchSpec.from_task("web-1", "f1", task)
    assert launch.health_check.http.port == 9090  # ports[1]'s container port
    assert launch.health_check.http.port_index is None
    default = parse_task({"id": "web", "dockerimage": "berth/busybox", "ports": _PORTS,
                          "health_check": {"tcp": {}}})
    assert LaunchSpec.from_task("web-2", "f1", default).health_check.tcp.port == 8080
    assert _problems(parse_task, {"id": "web", "dockerimage": "berth/busybox",
                                  "health_check": {"command": ["true"], "interval": 2,
                                                   "timeout": 3}}) == {
        "health_check.timeout": "must not exceed interval (2 s), not 3 s: a check would "
                                "still run when the next one is due"}


# -- on the wire --------------------------------------------------------------------------


@pytest.mark.parametrize("check", [
    {"http": {"port_index": 0, "path": "/health", "status": 204}, "grace": 4, "interval": 2,
     "timeout": 1.5, "max_failures": 5},
    {"tcp": {"port": 6379}},
    {"command": ["sh", "-c", "test -f /tmp/ready"], "interval": 1, "timeout": 1},
])
def test_the_check_survives_the_mesos_task_info_the_master_reads(check):
    task = parse_task({"id": "web", "dockerimage": "berth/busybox", "ports": _PORTS,
                       "health_check": check})
    launch = LaunchSpec.from_task("web-1", "f1", task)
    info = task_info(launch, "a1")
    assert info["health_check"]["type"] in ("HTTP", "TCP", "COMMAND")
    assert launch_from_task_info(info, "f1").spec.health_check == launch.health_check


def test_a_mesos_framework_may_send_a_health_check_in_mesos_words():
    task = parse_task({"id": "web", "dockerimage": "berth/busybox"})
    info = task_info(LaunchSpec.from_task("web-1", "f1", task), "a1")
    info["health_check"] = {"type": "COMMAND", "command": {"value": "test -f /ready"},
                            "interval_seconds": 2, "consecutive_failures": 1}
    check = launch_from_task_info(info, "f1").spec.health_check
    assert check.command == ("sh", "-c", "test -f /ready")
    assert (check.interval, check.timeout, check.max_failures) == (2, 2, 1)
    info["health_check"] = {"type": "HTTP", "http": {"port": 80}, "interval_seconds": 1,
                            "timeout_seconds": 9}
    with pytest.raises(SpecError) as caught:
        launch_from_task_info(info, "f1")
    assert [p.field for p in caught.value.problems] == [
        "task_info.health_check.timeout_seconds"]
    info["health_check"] = {"type": "GRPC"}
    with pytest.raises(SpecError) as caught:
        launch_from_task_info(info, "f1")
    assert caught.value.problems[0].field == "task_info.health_check.type"


def test_health_and_response_time_in_the_agents_messages():
    status = StatusUpdate("t1", TaskState.RUNNING, message="GET :80/ answered 200",
                          healthy=True).as_message()
    assert agent_message("a1", status).healthy is True
    assert agent_message("a1", {**status, "healthy": None}).healthy is None
    with pytest.raises(SpecError) as caught:
        agent_message("a1", {**status, "healthy": "yes"})
    assert caught.value.problems[0].field == "healthy"
    sample = UsageSample("t1", 10.0, 0.5, 20.0, fields={"response_time": 3.25}).as_dict()
    assert sample["response_time"] == 3.25
    assert "response_time" not in UsageSample("t1", 10.0, 0.5, 20.0).as_dict()
    metering = agent_message("a1", {"type": "METERING", "samples": [sample]})
    assert dict(metering.samples[0].fields)["response_time"] == 3.25
    for bad in (-1, "fast", True, float("inf")):
        with pytest.raises(SpecError):
            agent_message("a1", {"type": "METERING",
                                 "samples": [{**sample, "response_time": bad}]})


def test_the_master_tells_the_framework_when_health_changes_and_only_then():
    from tests.master_harness import (
                accept,
        launch,
        make_master,
        offers_for,
        register,
        subscribe,
        updates,
    )
    m, _clock = make_master()
    register(m)
    subscribe(m)
    [offer] = offers_for(m.handle(E.Allocate()))
    accept(m, [offer.id], launch("t1"))
    m.handle(E.AgentStatus("a1", "t1", TaskState.RUNNING))
    sick = updates(m.handle(E.AgentStatus("a1", "t1", TaskState.RUNNING, None,
                                          "GET :80/ answered 500", healthy=False)))
    assert [(u.state, u.healthy, u.reason) for u in sick] == [
        (TaskState.RUNNING, False, "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED")]
    mesos = status_to_mesos(sick[0])
    assert mesos["healthy"] is False and mesos["state"] == "TASK_RUNNING"
    assert mesos["message"] == "GET :80/ answered 500"
    assert status_from_mesos(mesos).healthy is False
    assert updates(m.handle(E.AgentStatus("a1", "t1", TaskState.RUNNING, None, "again",
                                          healthy=False))) == []  # no change, no news
    assert m.tasks["t1"].healthy is False
    ended = updates(m.handle(E.AgentStatus("a1", "t1", TaskState.FAILED,
                                           "unhealthy: GET :80/ answered 500")))
    assert ended[0].state is TaskState.FAILED
    assert ended[0].message.startswith("unhealthy: GET :80/ answered 500")


def test_a_jobs_status_counts_healthy_and_unhealthy_instances():
    from framework import events as ev
    from framework.job_status import job_document, job_summary
    from tests.framework_harness import Harness

    h = Harness.make()
    h.send(ev.JobSubmitted(parse_job(
        {"name": "web", "count": 3, "task": {"dockerimage": "berth/busybox", "cpus": 0.1,
                                             "mem": 16,
                                             "health_check": {"tcp": {"port": 80}}}})))
    ids = h.run_launches(h.offers(h.offer()))
    assert len(ids) == 3
    agent = h.scheduler.task(ids[0]).agent_id
    h.send(ev.TaskStatusChanged(ids[0], TaskState.RUNNING, None, agent, healthy=True))
    h.send(ev.TaskStatusChanged(ids[1], TaskState.RUNNING, None, agent, healthy=False))
    job = h.scheduler.job("web")
    doc = job_document(job, h.scheduler.job_instances(job))
    assert (doc["running"], doc["healthy"], doc["unhealthy"]) == (3, 1, 1)
    assert {i["id"]: i["healthy"] for i in doc["instances"]} == {
        ids[0]: True, ids[1]: False, ids[2]: None}
    summary = job_summary(job, h.scheduler.running_instances(job))
    assert (summary["healthy"], summary["unhealthy"]) == (1, 1)
    h.send(ev.TaskStatusChanged(ids[1], TaskState.FAILED, "unhealthy: GET :8080/ answered "
                                "404, not 2xx or 3xx", agent))
    job = h.scheduler.job("web")
    doc = job_document(job, h.scheduler.job_instances(job))
    assert (doc["healthy"], doc["unhealthy"], doc["restarts"]) == (1, 0, 1)
    failed = [i for i in doc["instances"] if i["state"] == "FAILED"]
    assert failed[0]["reason"].startswith("unhealthy: ") and failed[0]["healthy"] is None


# -- over HTTP ----------------------------------------------------------------------------


async def test_a_bad_health_check_is_a_400_naming_the_field_and_nothing_is_stored(tmp_path):
    import aiohttp

    from api.framework_server import start_framework

    fw = await start_framework(None, "127.0.0.1", 0, db_url=f"sqlite:///{tmp_path / 'b.db'}")
    try:
        async with aiohttp.ClientSession(
                headers={"Content-Type": "application/json"}) as http:
            bad_job = _job({"http": {"port_index": 0}, "interval": 2, "timeout": 3})
            async with http.post(f"{fw.url}/v1/jobs", json=bad_job) as resp:
                assert resp.status == 400
                answer = await resp.json()
            assert answer["errors"] == [{
                "field": "task.health_check.timeout",
                "problem": "must not exceed interval (2 s), not 3 s: a check would still "
                           "run when the next one is due"}]
            bad_task = {"id": "web", "dockerimage": "berth/busybox",
                        "health_check": {"tcp": {"port_index": 0}}}
            async with http.post(f"{fw.url}/client/task", json=bad_task) as resp:
                assert resp.status == 400
                answer = await resp.json()
            assert [e["field"] for e in answer["errors"]] == ["health_check.tcp.port_index"]
            async with http.get(f"{fw.url}/v1/jobs?tasks=true") as resp:
                assert (await resp.json())["jobs"] == []
            good = _job({"http": {"path": "/health"}, "interval": 2, "timeout": 1})
            async with http.post(f"{fw.url}/v1/jobs", json=good) as resp:
                assert resp.status == 201
                job = await resp.json()
            assert job["spec"]["task"]["health_check"]["http"] == {"path": "/health"}
            assert (job["healthy"], job["unhealthy"]) == (0, 0)
    finally:
        await fw.stop()
