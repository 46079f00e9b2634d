"""The Charmander seed's curl session, verbatim, against `berth up --nodetype lab`.

Real everything: `berth up` as a subprocess (master, framework, agent, SQLite), the local
Docker engine running the local `stress` image, and `curl` as the client.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

docker = pytest.importorskip("docker")

pytestmark = [pytest.mark.docker,
              pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")]

STRESS60MB = """{
"id": "stress60",
"dockerimage": "stress",
"mem": "100",
"reshuffleable": true,
"nodetype": "lab",
"arguments": ["--vm-bytes", "60M", "--vm", "1"]
}
"""
DEADLINE = 60.0  # a failure bound on a shared machine, not a performance expectation


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _curl(*args: str, cwd: Path) -> str:
    done = subprocess.run(["curl", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=30, check=True)
    return done.stdout


def _poll(predicate, what: str, log: Path | None = None, timeout: float = DEADLINE):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = log.read_text()[-3000:] if log and log.exists() else ""
            raise AssertionError(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.2)  # ok: polling with a deadline, not a timing assertion


@pytest.fixture
def docker_client():
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # no engine here
        pytest.skip(f"no Docker engine: {exc}")
    if not client.images.list(name="stress"):
        pytest.skip("the local stress image is missing: run scripts/local-images.sh")
    yield client
    client.close()


def _start_up(data: Path, log_path: Path, hostname: str, ports: tuple[int, int, int],
              *extra: str) -> subprocess.Popen:
    port, master_port, agent_port = ports
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "up", "--nodetype", "lab", "--data-dir", str(data),
         "--host", "127.0.0.1", "--port", str(port), "--master-port", str(master_port),
         "--agent-port", str(agent_port), "--hostname", hostname,
         # Other people's load on a shared test machine must not leave the task pending.
         "--ignore-incumbent",
         # Its registry on a free port: tests at the same time must not clash on :5000.
         "--registry-port", "0", *extra],
        cwd=Path(__file__).resolve().parent.parent, stdout=log_path.open("a"),
        stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


@pytest.fixture
def berth_up(tmp_path, docker_client):
    ports = (_free_port(), _free_port(), _free_port())
    hostname = f"e2e-{uuid.uuid4().hex[:8]}"
    log_path = tmp_path / "berth-up.log"
    started: list[str] = []

    def start(*extra: str) -> subprocess.Popen:
        proc = _start_up(tmp_path / "data", log_path, hostname, ports, *extra)
        base = f"127.0.0.1:{ports[0]}"
        _poll(lambda: _ping(base, tmp_path) or proc.poll() is not None, "berth up to answer")
        assert proc.poll() is None, log_path.read_text()
        return proc

    procs: list[subprocess.Popen] = []

    def launcher(*extra: str) -> subprocess.Popen:
        procs.append(start(*extra))
        return procs[-1]

    try:
        launcher.master = f"127.0.0.1:{ports[1]}"
        yield f"127.0.0.1:{ports[0]}", launcher, tmp_path, started
    finally:
        for proc in procs:
            _stop(proc)
        for container_id in started:
            with contextlib.suppress(Exception):
                docker_client.containers.get(container_id).remove(force=True)


def _ping(base: str, cwd: Path) -> bool:
    try:
        return "pong" in _curl("-s", f"{base}/admin/ping", cwd=cwd)
    except subprocess.CalledProcessError:
        return False


def test_the_seed_curl_session_works_verbatim(berth_up, docker_client):
    base, launch, cwd, started = berth_up
    proc = launch()
    (cwd / "loadsimulator" / "stress").mkdir(parents=True)
    (cwd / "loadsimulator" / "stress" / "stress60mb.json").write_text(STRESS60MB)

    ping = _curl("-i", f"{base}/admin/ping", cwd=cwd)
    assert ping.startswith("HTTP/1.1 200") and ping.rstrip().endswith("pong")

    answer = _curl("-s", "-X", "POST", "-T", "loadsimulator/stress/stress60mb.json",
                   "-H", "Accept: application/json", "-H", "Content-Type: application/json",
                   f"{base}/client/task", cwd=cwd)
    assert answer == '{"code":202,"message":"Run task: stress60"}'  # byte for byte

    def running():
        tasks = json.loads(_curl("-s", f"{base}/client/task", cwd=cwd))
        return [t for t in tasks if t["id"] == "stress60" and t["state"] == "RUNNING"]

    [task] = _poll(running, "stress60 RUNNING in the list", cwd / "berth-up.log")
    internal = task["internal_id"]
    assert internal.startswith("stress60-") and task["Running"] is True
    [container] = docker_client.containers.list(filters={"label": f"berth.task_id={internal}"})
    started.append(container.id)
    assert container.status == "running"
    assert "stress:latest" in container.image.tags
    assert task["container_id"] and container.id.startswith(task["container_id"][:12])

    killed = _curl("-s", "-X", "DELETE", f"{base}/client/task/stress", cwd=cwd)
    assert killed == f'{{"code":200,"message":"Kill task: {internal}"}}'
    _poll(lambda: not docker_client.containers.list(
        filters={"label": f"berth.task_id={internal}"}), "the container to be gone")

    reshuffle = _curl("-s", f"{base}/client/task/reshuffle", cwd=cwd)
    assert reshuffle == '{"code":202,"message":"Reshuffle tasks"}'

    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0


def test_keep_tasks_leaves_containers_running_and_the_next_start_adopts_them(berth_up,
                                                                             docker_client):
    base, launch, cwd, started = berth_up
    (cwd / "stress60mb.json").write_text(STRESS60MB)
    proc = launch("--keep-tasks")
    _curl("-s", "-X", "POST", "-T", "stress60mb.json", f"{base}/client/task", cwd=cwd)

    def running():
        tasks = json.loads(_curl("-s", f"{base}/client/task", cwd=cwd))
        return [t for t in tasks if t["state"] == "RUNNING"]

    [task] = _poll(running, "stress60 RUNNING", cwd / "berth-up.log")
    [container] = docker_client.containers.list(
        filters={"label": f"berth.task_id={task['internal_id']}"})
    started.append(container.id)
    assert _stop(proc) == 0
    container.reload()
    assert container.status == "running"  # --keep-tasks: still there

    launch()  # same data dir: the agent adopts, the master keeps, the framework reconciles
    [again] = _poll(running, "the adopted task RUNNING again", cwd / "berth-up.log")
    assert again["internal_id"] == task["internal_id"]
    assert [c.id for c in docker_client.containers.list(
        filters={"label": f"berth.task_id={task['internal_id']}"})] == [container.id]

    def master_has_it_running():
        state = json.loads(_curl("-s", f"{launch.master}/state", cwd=cwd))
        return [t for t in state["tasks"]
                if t["id"] == task["internal_id"] and t["state"] == "RUNNING"]

    _poll(master_has_it_running, "the master to know the adopted task", cwd / "berth-up.log")
    [again] = running()
    assert again["agent_id"] and again["hostname"]


def test_berth_up_without_users_refuses_to_listen_beyond_loopback(tmp_path):
    ports = (_free_port(), _free_port(), _free_port())
    proc = _start_up(tmp_path / "data", tmp_path / "up.log", "e2e-open", ports, "--host",
                     "0.0.0.0")
    assert proc.wait(timeout=60) == 1
    assert "no authentication" in (tmp_path / "up.log").read_text()


def test_with_a_user_the_seed_session_works_with_u_beyond_loopback(berth_up, docker_client):
    base, launch, cwd, started = berth_up
    subprocess.run([sys.executable, "-m", "cli", "user", "add", "operator", "--admin",
                    "--password-stdin", "--data-dir", str(cwd / "data")],
                   input="operator-pass\n", text=True, check=True, capture_output=True,
                   cwd=Path(__file__).resolve().parent.parent)
    proc = launch("--host", "0.0.0.0")
    (cwd / "stress60mb.json").write_text(STRESS60MB)
    user = ("-u", "operator:operator-pass")

    refused = _curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-T",
                    "stress60mb.json", f"{base}/client/task", cwd=cwd)
    assert refused == "401"
    answer = _curl("-s", *user, "-X", "POST", "-T", "stress60mb.json",
                   "-H", "Content-Type: application/json", f"{base}/client/task", cwd=cwd)
    assert answer == '{"code":202,"message":"Run task: stress60"}'

    def running():
        tasks = json.loads(_curl("-s", *user, f"{base}/client/task", cwd=cwd))
        return [t for t in tasks if t["state"] == "RUNNING"]

    [task] = _poll(running, "stress60 RUNNING", cwd / "berth-up.log")
    [container] = docker_client.containers.list(
        filters={"label": f"berth.task_id={task['internal_id']}"})
    started.append(container.id)
    killed = _curl("-s", *user, "-X", "DELETE", f"{base}/client/task/stress", cwd=cwd)
    assert killed == f'{{"code":200,"message":"Kill task: {task["internal_id"]}"}}'
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0


def test_berth_up_over_tls_runs_the_seed_task_with_curl_cacert(tmp_path, docker_client):
    from tests.tls_files import self_signed

    cert, key = self_signed(tmp_path)
    ports = (_free_port(), _free_port(), _free_port())
    log = tmp_path / "up.log"
    proc = _start_up(tmp_path / "data", log, f"e2e-{uuid.uuid4().hex[:8]}", ports,
                     "--tls-cert", str(cert), "--tls-key", str(key))
    base = f"https://127.0.0.1:{ports[0]}"
    tls = ("--cacert", str(cert))
    seen: list[str] = []
    try:
        def pong():
            try:
                return "pong" in _curl("-s", *tls, f"{base}/admin/ping", cwd=tmp_path)
            except subprocess.CalledProcessError:
                return proc.poll() is not None
        _poll(pong, "berth up to answer over https", log)
        assert proc.poll() is None, log.read_text()
        (tmp_path / "stress60mb.json").write_text(STRESS60MB)
        answer = _curl("-s", *tls, "-X", "POST", "-T", "stress60mb.json",
                       f"{base}/client/task", cwd=tmp_path)
        assert answer == '{"code":202,"message":"Run task: stress60"}'

        def running():  # the agent reached the master over TLS too
            tasks = json.loads(_curl("-s", *tls, f"{base}/client/task", cwd=tmp_path))
            return [t for t in tasks if t["state"] == "RUNNING"]

        [task] = _poll(running, "stress60 RUNNING", log)
        seen.append(task["internal_id"])
        plain = subprocess.run(["curl", "-s", f"http://127.0.0.1:{ports[0]}/admin/ping"],
                               capture_output=True, text=True, timeout=30)
        assert "pong" not in plain.stdout
    finally:
        _stop(proc)
        for internal in seen:
            for c in docker_client.containers.list(
                    all=True, filters={"label": f"berth.task_id={internal}"}):
                with contextlib.suppress(Exception):
                    c.remove(force=True)
