"""The Docker backend against the real engine: launch, fetch, kill, fail, meter, adopt."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import docker
import pytest

from executor.container_spec import ContainerPolicy, VolumePolicy, container_name
from executor.docker_backend import DockerBackend
from executor.tasks import StatusUpdate
from offers.launch import LaunchSpec
from offers.states import TaskState
from offers.task import PortMapping, Volume
from tests.agent_helpers import build_images, free_port, remove_agent_containers, wait_for

pytestmark = pytest.mark.docker


@pytest.fixture(scope="session")
def images() -> None:
    build_images()


@pytest.fixture
def agent_id() -> str:
    agent = f"test-{uuid.uuid4().hex[:10]}"
    yield agent
    remove_agent_containers(agent)


class Recorder:
    """Collects the statuses a backend reports."""

    def __init__(self) -> None:
        self.updates: list[StatusUpdate] = []

    def __call__(self, update: StatusUpdate) -> None:
        self.updates.append(update)

    def states(self, task_id: str) -> list[TaskState]:
        return [u.state for u in self.updates if u.task_id == task_id]

    def last(self, task_id: str) -> StatusUpdate | None:
        mine = [u for u in self.updates if u.task_id == task_id]
        return mine[-1] if mine else None

    def reached(self, task_id: str, state: TaskState) -> StatusUpdate | None:
        return next((u for u in self.updates if u.task_id == task_id and u.state == state),
                    None)


@pytest.fixture
async def backend(images, agent_id, tmp_path):
    recorder = Recorder()
    b = DockerBackend(agent_id=agent_id, on_status=recorder,
                      policy=VolumePolicy(allowed=(str(tmp_path),)))
    b.recorder = recorder
    await b.start()
    yield b
    await b.close()


def spec(task_id: str | None = None, **fields) -> LaunchSpec:
    task_id = task_id or f"t{uuid.uuid4().hex[:8]}-1"
    base = dict(task_id=task_id, framework_id="fw-test", name=task_id.split("-")[0],
                image="berth/busybox:latest", cpus=0.1, mem=32)
    base.update(fields)
    return LaunchSpec(**base)


def container_exists(task_id: str) -> bool:
    client = docker.from_env()
    try:
        client.containers.get(container_name(task_id))
        return True
    except docker.errors.NotFound:
        return False
    finally:
        client.close()


async def test_httpd_with_published_port_and_read_only_volume_then_kill(backend, tmp_path):
    (tmp_path / "index.html").write_text("hello from berth\n")
    port = free_port()
    task = spec(shell=True, command="httpd -f -p 8080 -h /www",
                ports=(PortMapping(host_port=port, container_port=8080),),
                volumes=(Volume(host_path=str(tmp_path), container_path="/www", mode="ro"),))
    await backend.launch(task)
    running = await wait_for(lambda: backend.recorder.reached(task.task_id, TaskState.RUNNING),
                             what="RUNNING")
    assert running.container_id
    assert backend.recorder.states(task.task_id)[:2] == [TaskState.STARTING, TaskState.RUNNING]

    async def fetch() -> str | None:
        try:
            async with aiohttp.ClientSession() as session, \
                    session.get(f"http://127.0.0.1:{port}/index.html") as resp:
                return await resp.text() if resp.status == 200 else None
        except aiohttp.ClientError:
            return None

    body = None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while body is None and loop.time() < deadline:
        body = await fetch()
        if body is None:
            await asyncio.sleep(0.1)
    assert body == "hello from berth\n"

    # The volume is read-only inside the container.
    client = docker.from_env()
    try:
        result = client.containers.get(running.container_id).exec_run(
            ["sh", "-c", "echo x > /www/new"])
        assert result.exit_code != 0
    finally:
        client.close()
    assert not (tmp_path / "new").exists()

    await backend.kill(task.task_id, grace_seconds=2)
    killed = await wait_for(lambda: backend.recorder.reached(task.task_id, TaskState.KILLED),
                            what="KILLED")
    assert killed.reason
    assert TaskState.KILLING in backend.recorder.states(task.task_id)
    await wait_for(lambda: not container_exists(task.task_id), what="the task's name freed")
    assert task.task_id not in backend.tasks


async def test_missing_image_is_error_with_reason(backend):
    task = spec(image="berth/no-such-image:42")
    await backend.launch(task)
    last = backend.recorder.last(task.task_id)
    assert last.state is TaskState.ERROR
    assert last.reason == "image berth/no-such-image:42 not found on this node"
    assert not container_exists(task.task_id)


async def test_exit_code_is_failed_with_it(backend):
    task = spec(shell=True, command="echo about to fail >&2; exit 3")
    await backend.launch(task)
    failed = await wait_for(lambda: backend.recorder.reached(task.task_id, TaskState.FAILED),
                            what="FAILED")
    assert failed.exit_code == 3
    assert "3" in failed.reason
    assert "about to fail" in failed.message
    await wait_for(lambda: not container_exists(task.task_id), what="the task's name freed")


async def test_exit_zero_is_finished(backend):
    task = spec(arguments=("--timeout", "1", "--cpu", "1"), image="stress:latest")
    await backend.launch(task)
    done = await wait_for(lambda: backend.recorder.reached(task.task_id, TaskState.FINISHED),
                          what="FINISHED")
    assert done.exit_code == 0


async def test_port_clash_is_error_with_reason(backend):
    port = free_port()
    mapping = (PortMapping(host_port=port, container_port=8080),)
    first = spec(shell=True, command="httpd -f -p 8080", ports=mapping)
    second = spec(shell=True, command="httpd -f -p 8080", ports=mapping)
    await backend.launch(first)
    await wait_for(lambda: backend.recorder.reached(first.task_id, TaskState.RUNNING))
    await backend.launch(second)
    error = await wait_for(lambda: backend.recorder.reached(second.task_id, TaskState.ERROR),
                           what="ERROR")
    assert f"host port {port} is already in use" in error.reason
    await wait_for(lambda: not container_exists(second.task_id), what="the task's name freed")
    assert backend.tasks[first.task_id].state is TaskState.RUNNING


async def test_privileged_and_disallowed_host_paths_are_refused(backend, tmp_path):
    privileged = spec(privileged=True, shell=True, command="sleep 30")
    await backend.launch(privileged)
    refused = backend.recorder.last(privileged.task_id)
    assert refused.state is TaskState.ERROR
    assert "privileged" in refused.reason

    outside = spec(shell=True, command="sleep 30",
                   volumes=(Volume(host_path="/etc", container_path="/host-etc", mode="ro"),))
    await backend.launch(outside)
    refused = backend.recorder.last(outside.task_id)
    assert refused.state is TaskState.ERROR
    assert "/etc may not be mounted" in refused.reason
    assert str(tmp_path) in refused.reason

    climbing = spec(shell=True, command="sleep 30", volumes=(
        Volume(host_path=f"{tmp_path}/../..", container_path="/x", mode="ro"),))
    await backend.launch(climbing)
    assert backend.recorder.last(climbing.task_id).state is TaskState.ERROR
    for task in (privileged, outside, climbing):
        assert not container_exists(task.task_id)


async def test_metering_yields_samples_of_a_memory_hog(backend):
    task = spec(image="stress:latest", arguments=("--vm-bytes", "40M", "--vm", "1"), mem=100)
    await backend.launch(task)
    await wait_for(lambda: backend.recorder.reached(task.task_id, TaskState.RUNNING))
    samples = []

    async def sample_has_memory() -> bool:
        samples.extend(await backend.meter())
        return any(s.mem >= 35 for s in samples)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not await sample_has_memory():
        assert loop.time() < deadline, f"no sample showed the 40 MiB: {samples}"
        await asyncio.sleep(0.5)
    sample = samples[-1]
    assert sample.task_id == task.task_id
    assert 35 <= sample.mem <= 100
    assert sample.cpus >= 0


async def test_repeated_launch_does_not_run_twice(backend):
    task = spec(shell=True, command="sleep 60")
    await backend.launch(task)
    await wait_for(lambda: backend.recorder.reached(task.task_id, TaskState.RUNNING))
    await backend.launch(task)
    client = docker.from_env()
    try:
        found = client.containers.list(filters={"label": [f"berth.task_id={task.task_id}"]})
    finally:
        client.close()
    assert len(found) == 1


async def test_a_restarted_backend_adopts_running_and_reports_stopped(images, agent_id):
    first = Recorder()
    old = DockerBackend(agent_id=agent_id, on_status=first)
    await old.start()
    keeps = spec(shell=True, command="sleep 120", mem=48, cpus=0.2,
                 ports=(PortMapping(host_port=free_port(), container_port=80),))
    ends = spec(shell=True, command="sleep 1; exit 7")
    await old.launch(keeps)
    await old.launch(ends)
    await wait_for(lambda: first.reached(keeps.task_id, TaskState.RUNNING))
    await wait_for(lambda: first.reached(ends.task_id, TaskState.RUNNING))
    await old.close()  # the agent goes away; its containers do not

    client = docker.from_env()
    try:
        def ended() -> bool:
            return client.containers.get(container_name(ends.task_id)).status == "exited"
        await wait_for(ended, what="the short task to exit while no agent watched")
    finally:
        client.close()

    second = Recorder()
    new = DockerBackend(agent_id=agent_id, on_status=second)
    await new.start()
    try:
        running = await new.adopt()
        assert [r["task_id"] for r in running] == [keeps.task_id]
        adopted = new.tasks[keeps.task_id]
        assert adopted.allocated.cpus == pytest.approx(0.2)
        assert adopted.allocated.mem == pytest.approx(48)
        assert adopted.host_ports == {keeps.ports[0].host_port}
        failed = second.reached(ends.task_id, TaskState.FAILED)
        assert failed is not None and failed.exit_code == 7
        await new.kill(keeps.task_id, grace_seconds=1)
        await wait_for(lambda: second.reached(keeps.task_id, TaskState.KILLED))
    finally:
        await new.close()


async def test_other_agents_containers_are_not_adopted(images, agent_id):
    mine = DockerBackend(agent_id=agent_id)
    await mine.start()
    try:
        await mine.launch(spec(shell=True, command="sleep 60"))
        other = DockerBackend(agent_id=agent_id + "-other")
        await other.start()
        try:
            assert await other.adopt() == []
        finally:
            await other.close()
    finally:
        await mine.close()


async def test_a_container_removed_behind_the_agents_back_is_reported(backend):
    task = spec(shell=True, command="sleep 60")
    await backend.launch(task)
    running = await wait_for(lambda: backend.recorder.reached(task.task_id, TaskState.RUNNING))
    client = docker.from_env()
    try:
        client.containers.get(running.container_id).remove(force=True)
    finally:
        client.close()
    failed = await wait_for(lambda: backend.recorder.reached(task.task_id, TaskState.FAILED),
                            what="FAILED")
    assert failed.exit_code == 137 or "removed" in failed.reason
    await backend.reconcile()  # nothing left to catch up on
    assert task.task_id not in backend.tasks


async def test_the_seeds_stress60mb_task_runs_as_written(backend):
    from offers.task import parse_task

    seed = {"id": "stress60", "dockerimage": "stress", "mem": "100", "reshuffleable": True,
            "nodetype": "lab", "arguments": ["--vm-bytes", "60M", "--vm", "1"]}
    task = LaunchSpec.from_task(f"stress60-{uuid.uuid4().int % 10**19}", "fw-test",
                                parse_task(seed))
    await backend.launch(task)
    await wait_for(lambda: backend.recorder.reached(task.task_id, TaskState.RUNNING))
    samples = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not any(s.mem >= 55 for s in samples):
        assert loop.time() < deadline, f"never saw ~60 MiB in use: {samples}"
        samples.extend(await backend.meter())
        await asyncio.sleep(0.5)
    assert max(s.mem for s in samples) < 100  # within its limit, not OOM-killed
    await backend.kill(task.task_id, grace_seconds=5)
    killed = await wait_for(lambda: backend.recorder.reached(task.task_id, TaskState.KILLED))
    assert killed.exit_code != 137  # stopped by SIGTERM, not after the grace period


# -- issue 9: volumes resolved for real, safer containers by default ------------------------


async def test_a_planted_symlink_cannot_mount_what_lies_outside(backend, tmp_path,
                                                               tmp_path_factory):
    # One task plants /allowed/root -> somewhere outside; the next asks to mount it rw.
    outside = tmp_path_factory.mktemp("outside")
    (tmp_path / "root").symlink_to(outside)
    escape = spec(shell=True, command="echo escaped > /h/escaped", volumes=(
        Volume(host_path=str(tmp_path / "root"), container_path="/h", mode="rw"),))
    await backend.launch(escape)
    last = await wait_for(lambda: (u := backend.recorder.last(escape.task_id)) and
                          u.state.terminal and u, what="a terminal status")
    assert last.state is TaskState.ERROR
    assert f"host path {tmp_path / 'root'} (which resolves to {outside})" in last.reason
    assert not (outside / "escaped").exists()
    assert not container_exists(escape.task_id)

    # A link that stays inside works, and Docker is handed the resolved path only.
    (tmp_path / "data").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "data")
    inside = spec(shell=True, command="echo hi > /d/file; sleep 30", volumes=(
        Volume(host_path=str(tmp_path / "alias"), container_path="/d", mode="rw"),))
    await backend.launch(inside)
    running = await wait_for(lambda: backend.recorder.reached(inside.task_id, TaskState.RUNNING),
                             what="RUNNING")
    client = docker.from_env()
    try:
        binds = client.api.inspect_container(running.container_id)["HostConfig"]["Binds"]
    finally:
        client.close()
    assert binds == [f"{tmp_path / 'data'}:/d:rw"]
    await wait_for(lambda: (tmp_path / "data" / "file").exists(), what="the file written")


async def test_a_path_redirected_between_check_and_create_is_refused(images, agent_id,
                                                                    tmp_path):
    (tmp_path / "v").mkdir()
    seen: list[str] = []

    def resolve(path: str) -> str:  # the check sees tmp/v, the re-check sees it moved to /
        if path == str(tmp_path / "v"):
            seen.append(path)
            return path if len(seen) == 1 else "/"
        return path
    recorder = Recorder()
    b = DockerBackend(agent_id=agent_id, on_status=recorder,
                      policy=VolumePolicy(allowed=(str(tmp_path),), resolve=resolve))
    await b.start()
    try:
        task = spec(shell=True, command="sleep 30", volumes=(
            Volume(host_path=str(tmp_path / "v"), container_path="/v"),))
        await b.launch(task)
        last = recorder.last(task.task_id)
        assert last.state is TaskState.ERROR
        assert f"host path {tmp_path / 'v'} changed while the task was being launched" \
            in last.reason
        assert not container_exists(task.task_id)
    finally:
        await b.close()


async def test_containers_run_with_a_pids_limit_and_no_new_privileges(backend):
    task = spec(shell=True, command="sleep 30")
    await backend.launch(task)
    running = await wait_for(lambda: backend.recorder.reached(task.task_id, TaskState.RUNNING),
                             what="RUNNING")
    client = docker.from_env()
    try:
        container = client.containers.get(running.container_id)
        host = container.attrs["HostConfig"]
        assert host["PidsLimit"] == 1024
        assert host["SecurityOpt"] == ["no-new-privileges:true"]
        assert set(host["CapDrop"]) == {"AUDIT_WRITE", "MKNOD", "NET_RAW"}
        assert not host.get("CapAdd")
        # And the kernel agrees, seen from inside the container.
        status = container.exec_run(["cat", "/proc/self/status"]).output.decode()
        assert "NoNewPrivs:\t1" in status
        caps = int(next(line for line in status.splitlines()
                        if line.startswith("CapBnd:")).split()[1], 16)
        assert not caps & (1 << 13)  # CAP_NET_RAW is gone from the bounding set
    finally:
        client.close()


async def test_the_operator_can_lift_the_limits(images, agent_id):
    recorder = Recorder()
    b = DockerBackend(agent_id=agent_id, on_status=recorder, container_policy=ContainerPolicy(
        pids_limit=0, allow_new_privileges=True, cap_add=("NET_RAW", "SYS_PTRACE")))
    await b.start()
    try:
        task = spec(shell=True, command="sleep 30")
        await b.launch(task)
        running = await wait_for(lambda: recorder.reached(task.task_id, TaskState.RUNNING),
                                 what="RUNNING")
        client = docker.from_env()
        try:
            host = client.api.inspect_container(running.container_id)["HostConfig"]
        finally:
            client.close()
        assert host["PidsLimit"] in (None, 0, -1)  # unlimited
        assert not host.get("SecurityOpt")
        assert set(host["CapDrop"]) == {"AUDIT_WRITE", "MKNOD"}
        assert host["CapAdd"] == ["SYS_PTRACE"]
    finally:
        await b.close()
