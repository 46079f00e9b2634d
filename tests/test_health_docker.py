"""Health checks with the real engine: `berth/busybox`'s `httpd` behind an HTTP check goes
healthy and its response time is metered; a check that fails (a wrong path, a command
that exits 1, a port nothing listens on) kills the container, which ends FAILED with
`unhealthy: ...`. The agent's Docker backend alone here; the whole of `berth up` (the job
restarted by its policy, its status counting healthy instances, the master's metering) in
tests/test_health_session.py."""

from __future__ import annotations

import uuid

import pytest

from executor.docker_backend import DockerBackend
from offers.health import HealthCheck
from offers.launch import LaunchSpec
from offers.states import TaskState
from tests.agent_helpers import build_images, remove_agent_containers, wait_for
from tests.test_agent_docker import Recorder

pytestmark = pytest.mark.docker

HTTPD = ("sh", "-c", "mkdir -p /www && echo ok > /www/index.html && "
                     "exec httpd -f -p 8080 -h /www")


@pytest.fixture(scope="module")
def images() -> None:
    build_images()


@pytest.fixture
async def backend(images):
    agent_id = f"test-{uuid.uuid4().hex[:10]}"
    recorder = Recorder()
    b = DockerBackend(agent_id=agent_id, on_status=recorder, unhealthy_kill_grace=1.0)
    b.recorder = recorder
    await b.start()
    yield b
    await b.close()
    remove_agent_containers(agent_id)


def _spec(check: dict, arguments=HTTPD) -> LaunchSpec:
    task_id = f"h{uuid.uuid4().hex[:8]}-1"
    return LaunchSpec(task_id=task_id, framework_id="fw-test", name=task_id.split("-")[0],
                      image="berth/busybox:latest", cpus=0.1, mem=32, arguments=arguments,
                      health_check=HealthCheck.model_validate(
                          {"grace": 0, "interval": 0.5, "timeout": 0.5, **check}))


def _health(recorder: Recorder, task_id: str) -> list[bool]:
    return [u.healthy for u in recorder.updates if u.task_id == task_id
            and u.healthy is not None]


async def test_httpd_behind_an_http_check_goes_healthy_and_its_response_time_is_metered(
        backend):
    spec = _spec({"http": {"port": 8080, "path": "/index.html", "status": 200},
                  "max_failures": 5})
    await backend.launch(spec)
    await wait_for(lambda: True in _health(backend.recorder, spec.task_id), 30,
                   "a healthy report")
    update = next(u for u in backend.recorder.updates if u.healthy)
    assert update.state is TaskState.RUNNING
    assert update.message == "GET :8080/index.html answered 200"
    assert backend.tasks[spec.task_id].healthy is True
    await backend.meter()  # the first look at CPU only sets its mark
    await wait_for(lambda: backend.tasks[spec.task_id].response_times, 30, "a check")
    [sample] = await backend.meter()
    assert sample.fields.get("response_time", 0) > 0
    assert sample.as_dict()["response_time"] == round(sample.fields["response_time"], 4)
    await backend.kill(spec.task_id, 1.0)
    await wait_for(lambda: backend.recorder.reached(spec.task_id, TaskState.KILLED), 30,
                   "KILLED")


@pytest.mark.parametrize(("check", "reason"), [
    ({"http": {"port": 8080, "path": "/nowhere"}, "max_failures": 2},
     "unhealthy: GET :8080/nowhere answered 404, not 2xx or 3xx (GET :8080/nowhere "
     "failed 2 times in a row)"),
    ({"command": ["false"], "max_failures": 1},
     "unhealthy: command false exited 1 (command false failed once)"),
    ({"tcp": {"port": 9999}, "max_failures": 2}, "unhealthy: tcp :9999 did not connect"),
])
async def test_a_failing_check_kills_the_container_and_it_ends_failed_unhealthy(
        backend, check, reason):
    spec = _spec(check)
    await backend.launch(spec)
    ended = await wait_for(lambda: backend.recorder.reached(spec.task_id, TaskState.FAILED),
                           60, "FAILED")
    assert ended.reason.startswith(reason), ended.reason
    assert _health(backend.recorder, spec.task_id) == [False]  # told once, then killed
    states = backend.recorder.states(spec.task_id)
    assert states[-3:] == [TaskState.RUNNING, TaskState.KILLING, TaskState.FAILED], states


async def test_an_agent_that_restarts_checks_the_containers_it_adopts(images):
    agent_id = f"test-{uuid.uuid4().hex[:10]}"
    first = DockerBackend(agent_id=agent_id, on_status=Recorder())
    await first.start()
    spec = _spec({"http": {"port": 8080, "path": "/index.html"}, "max_failures": 5})
    try:
        await first.launch(spec)
        await wait_for(lambda: first.on_status.reached(spec.task_id, TaskState.RUNNING), 30,
                       "RUNNING")
        await first.close()  # the container keeps running
        recorder = Recorder()
        second = DockerBackend(agent_id=agent_id, on_status=recorder)
        await second.start()
        try:
            assert [t["task_id"] for t in await second.adopt()] == [spec.task_id]
            assert second.tasks[spec.task_id].health_check == spec.health_check
            await wait_for(lambda: True in _health(recorder, spec.task_id), 30,
                           "a healthy report from the adopting agent")
        finally:
            await second.close()
    finally:
        remove_agent_containers(agent_id)
