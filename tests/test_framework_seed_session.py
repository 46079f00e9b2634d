"""The Charmander seed's curl session, verbatim, against `berth up --nodetype lab`.

Real everything: `berth up` as a subprocess (master, framework, agent, SQLite), the local
Docker engine running the local `stress` image, and `curl` as the client.
"""

from __future__ import annotations

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


def _poll(predicate, what: str, log: Path | None = None):
    deadline = time.monotonic() + DEADLINE
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = log.read_text()[-3000:] if log and log.exists() else ""
            raise AssertionError(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.2)


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


@pytest.fixture
def berth_up(tmp_path, docker_client):
    port, master_port, agent_port = _free_port(), _free_port(), _free_port()
    hostname = f"e2e-{uuid.uuid4().hex[:8]}"
    log = open(tmp_path / "berth-up.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "up", "--nodetype", "lab", "--data-dir",
         str(tmp_path / "data"), "--host", "127.0.0.1", "--port", str(port), "--master-port",
         str(master_port), "--agent-port", str(agent_port), "--hostname", hostname,
         # Other people's load on a shared test machine must not leave the task pending.
         "--ignore-incumbent"],
        cwd=Path(__file__).resolve().parent.parent, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"127.0.0.1:{port}"
    try:
        _poll(lambda: _ping(base, tmp_path) or proc.poll() is not None, "berth up to answer")
        assert proc.poll() is None, (tmp_path / "berth-up.log").read_text()
        yield base, proc, tmp_path
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
        for container in docker_client.containers.list(
                all=True, filters={"label": "berth.task_id"}):
            if container.name.startswith("berth-stress60-") and hostname in json.dumps(
                    container.labels):
                container.remove(force=True)


def _ping(base: str, cwd: Path) -> bool:
    try:
        return "pong" in _curl("-s", f"{base}/admin/ping", cwd=cwd)
    except subprocess.CalledProcessError:
        return False


def test_the_seed_curl_session_works_verbatim(berth_up, docker_client):
    base, proc, cwd = berth_up
    (cwd / "loadsimulator" / "stress").mkdir(parents=True)
    (cwd / "loadsimulator" / "stress" / "stress60mb.json").write_text(STRESS60MB)

    ping = _curl("-i", f"{base}/admin/ping", cwd=cwd)
    assert ping.startswith("HTTP/1.1 200") and ping.rstrip().endswith("pong")

    answer = _curl("-s", "-X", "POST", "-T", "loadsimulator/stress/stress60mb.json",
                   "-H", "Accept: application/json", "-H", "Content-Type: application/json",
                   f"{base}/client/task", cwd=cwd)
    assert json.loads(answer) == {"code": 202, "message": "Run task: stress60"}

    def running():
        tasks = json.loads(_curl("-s", f"{base}/client/task", cwd=cwd))
        return [t for t in tasks if t["id"] == "stress60" and t["state"] == "RUNNING"]

    [task] = _poll(running, "stress60 RUNNING in the list", cwd / "berth-up.log")
    internal = task["internal_id"]
    assert internal.startswith("stress60-") and task["Running"] is True
    [container] = docker_client.containers.list(filters={"label": f"berth.task_id={internal}"})
    assert container.status == "running"
    assert "stress:latest" in container.image.tags
    assert task["container_id"] and container.id.startswith(task["container_id"][:12])

    killed = _curl("-s", "-X", "DELETE", f"{base}/client/task/stress", cwd=cwd)
    assert json.loads(killed) == {"code": 200, "message": f"Kill task: {internal}"}
    _poll(lambda: not docker_client.containers.list(
        filters={"label": f"berth.task_id={internal}"}), "the container to be gone")

    reshuffle = _curl("-s", f"{base}/client/task/reshuffle", cwd=cwd)
    assert json.loads(reshuffle) == {"code": 202, "message": "Reshuffle tasks"}

    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0
