"""A second node's first launch of a ~50 MiB image through berth (the pull from berth's
registry included) against `docker pull` + `docker run` of the same image on that node.

Everything real and on this machine: `berth up` with its registry on every address and
the master beyond loopback (a user and an admin token made for the run, as an operator
would), a node started by scripts/node.sh (its own Docker engine), an image built FROM
scratch out of the static busybox and 50 MiB of random bytes, pushed to the registry.

Each round, alternating which goes first, on a node engine emptied of the image:
- berth: from `POST /v1/jobs` (one instance constrained to the node) until the framework
  shows the instance RUNNING: offer, launch, the agent's pull and tag, create, start;
- docker: `docker pull <registry>/<image>` then `docker run -d` of it in the node, timed
  around one `docker exec`; the cost of an empty `docker exec` there (measured in the same
  run) is taken off, which only makes the baseline faster.
Reported: per-round seconds, medians and `ratio` = berth median / docker median (target
<= 1.5).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NODE = ROOT / "scripts" / "node.sh"
BUSYBOX = "/usr/bin/busybox"  # static (scripts/local-images.sh installs busybox-static)


def _run(*args: str, **kwargs: Any) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), check=True, capture_output=True, text=True, **kwargs)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def build_image(tag: str, megabytes: int) -> int:
    """FROM scratch: the static busybox and `megabytes` MiB of random bytes; its size."""
    with tempfile.TemporaryDirectory() as context:
        shutil.copy(BUSYBOX, Path(context, "busybox"))
        Path(context, "payload").write_bytes(os.urandom(megabytes * 1024 * 1024))
        Path(context, "Dockerfile").write_text(
            "FROM scratch\nCOPY busybox /bin/busybox\nCOPY payload /payload\n"
            'ENTRYPOINT ["/bin/busybox"]\nCMD ["sh", "-c", "trap \'exit 0\' TERM; '
            'sleep 300 & wait"]\n')
        _run("docker", "build", "-q", "-t", tag, context, env={**os.environ,
                                                              "DOCKER_BUILDKIT": "0"})
    return int(_run("docker", "image", "inspect", "-f", "{{.Size}}", tag).stdout.strip())


class Api:
    def __init__(self, base: str, token: str):
        self.base, self.token = base, token

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"{self.base}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json",
                     "Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=120) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")


def _until(predicate, what: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _berth_launch(api: Api, name: str, image: str, node: str) -> float:
    start = time.perf_counter()
    status, job = api.call("POST", "/v1/jobs", {
        "name": name, "type": "batch", "completions": 1,
        "task": {"dockerimage": image, "cpus": 0.05, "mem": 32,
                 "constraints": [["node", "CLUSTER", node]]}})
    if status != 201:
        raise RuntimeError(f"job refused: {job}")

    def running() -> bool:
        _, now = api.call("GET", f"/v1/jobs/{name}")
        states = [i["state"] for i in now["instances"]]
        if any(s in ("ERROR", "FAILED", "LOST") for s in states):
            raise RuntimeError(f"launch failed: {now['instances']}")
        return "RUNNING" in states

    _until(running, f"{name} RUNNING")
    elapsed = time.perf_counter() - start
    api.call("POST", f"/v1/jobs/{name}/stop", {})
    ended = {"FINISHED", "FAILED", "KILLED", "ERROR", "LOST"}
    _until(lambda: all(i["state"] in ended
                       for i in api.call("GET", f"/v1/jobs/{name}")[1]["instances"]),
           f"{name} stopped")
    api.call("DELETE", f"/v1/jobs/{name}?force=true")
    return elapsed


def _docker_launch(container: str, remote: str) -> float:
    start = time.perf_counter()
    _run("docker", "exec", container, "sh", "-c",
         f"docker pull -q {remote} >/dev/null && docker run -d {remote} >/dev/null")
    return time.perf_counter() - start


def _exec_overhead(container: str, times: int = 5) -> float:
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        _run("docker", "exec", container, "true")
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _empty_node(container: str) -> None:
    """No container and no image left in the node's engine: the next launch pulls."""
    _run("docker", "exec", container, "sh", "-c",
         'ids=$(docker ps -aq); [ -z "$ids" ] || docker rm -f $ids >/dev/null; '
         "docker image prune -af >/dev/null")


def run(megabytes: int = 50, rounds: int = 3) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    image = f"berth-bench/big-{run_id}:1"
    work = Path(tempfile.mkdtemp(prefix="berth-bench-registry-"))
    data = work / "data"
    cli = [sys.executable, "-m", "cli"]
    _run(*cli, "user", "add", "bench", "--admin", "--password-stdin", "--data-dir", str(data),
         input="bench-password\n", cwd=ROOT)
    token = _run(*cli, "token", "create", "--user", "bench", "--scope", "admin", "--expires",
                 "1d", "--data-dir", str(data), cwd=ROOT).stdout.strip().splitlines()[-1]
    (work / "node.token").write_text(token + "\n")
    port, master_port, agent_port, registry_port = (_free_port() for _ in range(4))
    log = work / "up.log"
    up = subprocess.Popen(
        [*cli, "up", "--data-dir", str(data), "--port", str(port), "--master-port",
         str(master_port), "--agent-port", str(agent_port), "--master-host", "0.0.0.0",
         "--registry-host", "0.0.0.0", "--registry-port", str(registry_port),
         "--ignore-incumbent"],
        cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    node = f"bench-{run_id}"
    container = f"berth-node-{node}"
    try:
        size = build_image(image, megabytes)
        _until(lambda: "Ctrl-C stops" in log.read_text() or up.poll() is not None,
               "berth up")
        if up.poll() is not None:
            raise RuntimeError(f"berth up ended: {log.read_text()[-2000:]}")
        local_remote = f"127.0.0.1:{registry_port}/{image}"
        _run("docker", "tag", image, local_remote)
        _run("docker", "push", local_remote)
        _run("docker", "rmi", local_remote)
        bridge = _run("docker", "network", "inspect", "bridge", "-f",
                      "{{range .IPAM.Config}}{{.Gateway}}{{end}}").stdout.strip()
        _run(str(NODE), "start", node, "--master", f"http://{bridge}:{master_port}",
             "--token-file", str(work / "node.token"), "--", "--container-gc-delay", "0")
        api = Api(f"http://127.0.0.1:{port}", token)
        master = Api(f"http://127.0.0.1:{master_port}", token)
        _until(lambda: any(a["hostname"] == node and a["connected"]
                           for a in master.call("GET", "/v1/agents")[1]["agents"]),
               "the node to register")
        remote = f"{bridge}:{registry_port}/{image}"
        overhead = _exec_overhead(container)
        berth, docker = [], []
        for i in range(rounds):
            order = ("berth", "docker") if i % 2 == 0 else ("docker", "berth")
            for which in order:
                _empty_node(container)
                if which == "berth":
                    berth.append(_berth_launch(api, f"pull-{run_id}-{i}", image, node))
                else:
                    docker.append(_docker_launch(container, remote) - overhead)
        berth_median, docker_median = statistics.median(berth), statistics.median(docker)
        return {
            "benchmark": "registry_pull", "image_bytes": size, "rounds": rounds,
            "berth_submit_to_running_s": [round(s, 3) for s in berth],
            "docker_pull_and_run_s": [round(s, 3) for s in docker],
            "docker_exec_overhead_s": round(overhead, 3),
            "berth_median_s": round(berth_median, 3),
            "docker_median_s": round(docker_median, 3),
            "ratio": round(berth_median / docker_median, 2), "target_ratio": 1.5,
        }
    finally:
        subprocess.run([str(NODE), "stop", node], capture_output=True)
        up.send_signal(2)
        try:
            up.wait(timeout=60)
        except subprocess.TimeoutExpired:
            up.kill()
        subprocess.run(["docker", "rmi", "-f", image], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
