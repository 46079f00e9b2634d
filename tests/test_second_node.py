"""A real second node: `berth up` listening beyond loopback (users configured, the node
authenticated with an admin-scope token) with its registry on every address, and
`scripts/node.sh` starting a container with its own Docker engine and `berth agent`.
A job constrained to that node (`node` attribute) whose image is only in the registry
runs to completion there; so does one whose image is an image template uploaded to Jisto's
`/upload` with HTTP Basic authentication, built and pushed by the framework. Then the node
is stopped and gone.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import docker
import pytest
import requests

from tests.agent_helpers import build_images, free_port
from tests.image_templates import config, template
from tests.test_framework_seed_session import _poll, _stop

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
NODE = ROOT / "scripts" / "node.sh"


def _berth(*args: str, data: Path, stdin: str | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "cli", *args, "--data-dir", str(data)],
                          cwd=ROOT, input=stdin, capture_output=True, text=True, check=True)
    return done.stdout


def _api(base: str, token: str, method: str, path: str, body: dict | None = None):
    request = urllib.request.Request(
        f"{base}{path}", method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=90) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return None, None


def _bridge_address() -> str:
    """The bridge's gateway; an engine that picked its subnet itself names none: then it
    is the subnet's first address (as scripts/node.sh works it out)."""
    client = docker.from_env()
    try:
        config = client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    finally:
        client.close()
    return config.get("Gateway") or str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


def _run_on(base: str, token: str, name: str, node: str, image: str,
            arguments: list[str] | None = None) -> dict:
    task = {"dockerimage": image, "cpus": 0.05, "mem": 16,
            "constraints": [["node", "CLUSTER", node]]}
    if arguments is not None:
        task["arguments"] = arguments
    status, job = _api(base, token, "POST", "/v1/jobs", {
        "name": name, "type": "batch", "completions": 1, "task": task})
    assert status == 201, job
    status, job = _api(base, token, "GET", f"/v1/jobs/{name}/wait?timeout=90")
    assert status == 200, job
    assert job["phase"] == "complete", job
    [instance] = job["instances"]
    assert instance["host"] == node and instance["exit_code"] == 0
    return instance


def _in_node(node: str, image: str) -> bool:
    return subprocess.run(["docker", "exec", f"berth-node-{node}", "docker", "image",
                           "inspect", image], capture_output=True).returncode == 0


def _upload_and_wait_ready(base: str, name: str) -> None:
    archive = template(config(name))
    wrong = requests.post(f"{base}/upload", auth=("root", "not-the-password"),
                          data={"contentType": "images"},
                          files={"files[]": ("t.tar.gz", archive, "application/gzip")})
    assert wrong.status_code == 401
    sent = requests.post(f"{base}/upload", auth=("root", "a-long-password"),
                         data={"contentType": "images"},
                         files={"files[]": ("t.tar.gz", archive, "application/gzip")})
    assert sent.status_code == 200, sent.text
    def built():
        listed = requests.get(f"{base}/v1/images", auth=("root", "a-long-password")).json()
        [image] = [i for i in listed["images"] if i["name"].split(":")[0] == name]
        return None if image["state"] == "building" else image

    image = _poll(built, f"image {name} built", timeout=120)
    assert image["state"] == "ready", image


def test_a_job_constrained_to_a_second_node_pulls_its_image_and_runs_there(tmp_path):
    build_images()
    data = tmp_path / "data"
    _berth("user", "add", "root", "--admin", "--password-stdin", data=data,
           stdin="a-long-password\n")
    token = _berth("token", "create", "--user", "root", "--scope", "admin",
                   "--expires", "never", data=data).strip().splitlines()[-1]
    token_file = tmp_path / "node.token"
    token_file.write_text(token + "\n")
    port, master_port, agent_port, registry_port = (free_port() for _ in range(4))
    log = tmp_path / "up.log"
    up = subprocess.Popen(
        [sys.executable, "-m", "cli", "up", "--data-dir", str(data), "--port", str(port),
         "--master-port", str(master_port), "--agent-port", str(agent_port),
         "--master-host", "0.0.0.0", "--registry-host", "0.0.0.0",
         "--registry-port", str(registry_port), "--ignore-incumbent"],
        cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    node = f"n{uuid.uuid4().hex[:6]}"
    image = f"berth-test/second-{uuid.uuid4().hex[:8]}:1"
    remote = f"127.0.0.1:{registry_port}/{image}"
    base = f"http://127.0.0.1:{port}"
    built = f"tmpl-{uuid.uuid4().hex[:6]}"
    try:
        _poll(lambda: "Ctrl-C stops" in log.read_text() or up.poll() is not None,
              "berth up to start", log)
        assert up.poll() is None, log.read_text()
        for args in (("tag", "berth/busybox", remote), ("push", remote), ("rmi", remote)):
            subprocess.run(["docker", *args], check=True, capture_output=True)
        subprocess.run([str(NODE), "start", node, "--master",
                        f"http://{_bridge_address()}:{master_port}", "--token-file",
                        str(token_file)], check=True, capture_output=True, text=True)
        master = f"http://127.0.0.1:{master_port}"
        _poll(lambda: any(a.get("hostname") == node for a in
                          (_api(master, token, "GET", "/v1/agents")[1] or {}).get("agents", [])),
              f"node {node} to register", log)
        _run_on(base, token, "there", node, image, ["sh", "-c", "echo ran on $(hostname)"])
        assert _in_node(node, image)  # pulled into the node's own engine
        _upload_and_wait_ready(base, built)
        assert not _in_node(node, f"{built}:latest")
        instance = _run_on(base, token, "built", node, f"{built}:latest")
        assert _in_node(node, f"{built}:latest")
        logs = requests.get(f"{base}/v1/tasks/{instance['id']}/logs",
                            headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert "hello from the template" in logs.text  # the template's run.sh, on the node
    finally:
        subprocess.run([str(NODE), "stop", node], capture_output=True)
        _stop(up)
        with contextlib.suppress(Exception):
            subprocess.run(["docker", "rmi", "-f", image, f"{built}:latest",
                            f"127.0.0.1:{registry_port}/{built}:latest"], capture_output=True)
    listed = subprocess.run([str(NODE), "list"], capture_output=True, text=True).stdout
    assert node not in listed
