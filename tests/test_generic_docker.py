"""ConPaaS's Generic service for real: `berth up` as a subprocess, a service job of
`berth/busybox` instances, a code version holding the five scripts, each run inside the
containers by the agent (docker exec) at the framework's request through the master.

- code versions: upload (multipart and raw body), list with the active one marked,
  download, enable, delete (never the active one: 409);
- init.sh ran once on each of 3 instances; scaling to 4 runs init.sh on the new one and
  notify.sh once on each of the 3 others, with an agents.json of 4 (one master);
- run.sh sees its parameters as $1..; run while it runs is 409;
- interrupt once runs interrupt.sh (which hangs too), twice kills every script, one
  that traps and ignores SIGTERM included; interrupt with nothing running is 409;
- script status and logs per instance;
- a volume attached to an instance restarts it with the volume mounted (refused while a
  script runs), and deleting it restarts it without;
- `kill -9` of `berth up` and a restart: the instances are adopted, and init.sh does not
  run again on any of them (the store remembers).
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.test_framework_seed_session import _poll, berth_up, docker_client

__all__ = ["berth_up", "docker_client"]  # the fixtures

pytestmark = pytest.mark.docker

SCRIPTS = {
    "init.sh": 'echo "init of $(cat version)" >> /tmp/init.log; echo x >> /tmp/inits; '
               'echo inited',
    "notify.sh": 'cp /var/cache/cpsagent/agents.json /tmp/notified.json; '
                 'echo x >> /tmp/notify.count',
    # Ignores SIGTERM; on "hang" it loops until killed.
    "run.sh": 'trap "echo term ignored" TERM; echo "args: $1 $2 ($#)"; '
              'if [ "$1" = hang ]; then while true; do sleep 1; done; fi; exit 7',
    "interrupt.sh": 'trap "" TERM; while true; do sleep 1; done',
    "cleanup.sh": "rm -f /tmp/init.log; echo cleaned",
}


def _archive(files: dict[str, str], mode: str = "w:gz") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _call(base: str, method: str, path: str, body: dict | None = None,
          raw: bytes | None = None, content_type: str = "application/json"):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(f"http://{base}{path}", method=method, data=data,
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=120) as resp:
            payload = resp.read()
            status = resp.status
    except urllib.error.HTTPError as exc:
        payload, status = exc.read(), exc.code
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, payload


def _multipart(archive: bytes, filename: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{filename}\"\r\nContent-Type: application/gzip\r\n\r\n").encode() \
        + archive + (f"\r\n--{boundary}\r\nContent-Disposition: form-data; "
                     f"name=\"description\"\r\n\r\nfirst\r\n--{boundary}--\r\n").encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _exec(docker_client, task_id: str, command: str) -> str:
    [container] = docker_client.containers.list(
        filters={"label": f"berth.task_id={task_id}"})
    return container.exec_run(["sh", "-c", command]).output.decode()


def test_a_generic_service_runs_its_lifecycle_scripts_in_every_instance(berth_up,
                                                                        docker_client):
    base, launch, _cwd, _started = berth_up
    proc = launch()
    job = {"name": "gen", "type": "service", "count": 3,
           "task": {"dockerimage": "berth/busybox", "cpus": 0.05, "mem": 16,
                    "nodetype": "lab", "arguments": ["sleep", "3600"]}}
    status, doc = _call(base, "POST", "/v1/jobs", job)
    assert status == 201, doc

    # -- code versions ----------------------------------------------------------------
    first = _archive({**SCRIPTS, "version": "one"})
    body, content_type = _multipart(first, "test-code.tar.gz")
    status, v1 = _call(base, "POST", "/v1/jobs/gen/code", raw=body,
                       content_type=content_type)
    assert status == 201 and v1["id"].startswith("code-"), v1
    status, v2 = _call(base, "POST", "/v1/jobs/gen/code?filename=two.tar",
                       raw=_archive({**SCRIPTS, "version": "two"}, "w"),
                       content_type="application/octet-stream")
    assert status == 201, v2
    status, bad = _call(base, "POST", "/v1/jobs/gen/code?filename=x.tar",
                        raw=_archive({"../evil.sh": "true"}, "w"),
                        content_type="application/octet-stream")
    assert status == 400 and bad["errors"][0]["field"] == "file", bad
    status, listed = _call(base, "GET", "/v1/jobs/gen/code")
    assert [v["id"] for v in listed["codeVersions"]] == [v2["id"], v1["id"]]
    assert not any(v["current"] for v in listed["codeVersions"])
    status, downloaded = _call(base, "GET", f"/v1/jobs/gen/code/{v1['id']}")
    assert status == 200 and downloaded == first
    status, refused = _call(base, "POST", "/v1/jobs/gen/scripts/run", {"parameters": []})
    assert status == 409 and "no code version is active" in refused["message"]

    def instances(count: int):
        _, doc = _call(base, "GET", "/v1/jobs/gen/scripts")
        found = doc["instances"]
        return found if len(found) == count and all(i["address"] for i in found) else None

    _poll(lambda: instances(3), "3 instances joined")
    status, enabled = _call(base, "PUT", f"/v1/jobs/gen/code/{v1['id']}/active")
    assert status == 200 and enabled["current"] is True, enabled
    status, refused = _call(base, "DELETE", f"/v1/jobs/gen/code/{v1['id']}")
    assert status == 409, refused
    status, _ = _call(base, "DELETE", f"/v1/jobs/gen/code/{v2['id']}")
    assert status == 200
    _, listed = _call(base, "GET", "/v1/jobs/gen/code")
    assert [(v["id"], v["current"]) for v in listed["codeVersions"]] == [(v1["id"], True)]

    def all_exited(script: str, count: int):
        found = instances(count)
        return found if found and all(i["scripts"][script]["state"] == "exited"
                                      for i in found) else None

    three = _poll(lambda: all_exited("init", 3), "init.sh to end on 3 instances")
    assert [i["role"] for i in three] == ["master", "node", "node"]
    for instance in three:
        assert instance["scripts"]["init"]["exit_code"] == 0
        assert instance["scripts"]["init"]["stdout"] == "inited\n"
        assert _exec(docker_client, instance["instance"], "cat /tmp/init.log") == \
            "init of one\n"

    # -- scaling: init on the new one, notify on the others -----------------------------
    status, _ = _call(base, "PUT", "/v1/jobs/gen/scale", {"count": 4})
    assert status in (200, 202)
    four = _poll(lambda: all_exited("init", 4), "init.sh on the 4th instance")
    old = {i["instance"] for i in three}
    new = [i for i in four if i["instance"] not in old]
    assert len(new) == 1 and new[0]["role"] == "node"
    _poll(lambda: all(i["scripts"]["notify"]["state"] == "exited" for i in instances(4)
                      if i["instance"] in old), "notify.sh on the 3 others")
    for instance in three:
        agents = json.loads(_exec(docker_client, instance["instance"],
                                  "cat /tmp/notified.json"))["agents"]
        assert len(agents) == 4
        assert sorted(a["role"] for a in agents) == ["master", "node", "node", "node"]
        assert _exec(docker_client, instance["instance"], "cat /tmp/notify.count") == "x\n"
    assert new[0]["scripts"]["notify"]["state"] == "never run"
    assert len(json.loads(_exec(docker_client, new[0]["instance"],
                                "cat /var/cache/cpsagent/agents.json"))["agents"]) == 4
    assert _exec(docker_client, three[0]["instance"], "cat /tmp/init.log") == \
        "init of one\n"  # once per instance and version

    # -- run with parameters -------------------------------------------------------------
    status, _ = _call(base, "POST", "/v1/jobs/gen/scripts/interrupt", {})
    assert status == 409  # nothing runs
    status, started = _call(base, "POST", "/v1/jobs/gen/scripts/run",
                            {"parameters": ["alpha", "beta"]})
    assert status == 202, started
    ran = _poll(lambda: all_exited("run", 4), "run.sh to end")
    assert {i["scripts"]["run"]["exit_code"] for i in ran} == {7}
    assert {i["scripts"]["run"]["stdout"] for i in ran} == {"args: alpha beta (2)\n"}

    # -- interrupt twice kills what ignores SIGTERM ----------------------------------------
    status, _ = _call(base, "POST", "/v1/jobs/gen/scripts/run", {"parameters": ["hang"]})
    assert status == 202
    _poll(lambda: all(i["scripts"]["run"]["state"] == "running" for i in instances(4)),
          "run.sh running")
    status, refused = _call(base, "POST", "/v1/jobs/gen/scripts/run", {"parameters": []})
    assert status == 409 and "run.sh is running" in refused["message"], refused
    status, refused = _call(base, "PUT", f"/v1/jobs/gen/code/{v1['id']}/active")
    assert status == 409, refused
    status, _ = _call(base, "POST", "/v1/jobs/gen/scripts/interrupt", {})
    assert status == 202
    _poll(lambda: all(i["scripts"]["interrupt"]["state"] == "running"
                      for i in instances(4)), "interrupt.sh running")
    status, _ = _call(base, "POST", "/v1/jobs/gen/scripts/interrupt", {})
    assert status == 202  # the second: kill
    killed = _poll(lambda: all_exited("interrupt", 4) if all(
        i["scripts"]["run"]["state"] == "exited" for i in instances(4)) else None,
        "every script killed")
    for instance in killed:
        assert instance["scripts"]["run"]["exit_code"] == 137  # SIGKILL, despite the trap
        assert instance["scripts"]["interrupt"]["exit_code"] == 137
        assert "run.sh started with ['hang']" in instance["log"]
        assert _exec(docker_client, instance["instance"],
                     "ps | grep -c '[.]/[ri][un]' || true").strip() == "0"  # none left

    status, cleaned = _call(base, "POST", "/v1/jobs/gen/scripts/cleanup", {})
    assert status == 202, cleaned
    done = _poll(lambda: all_exited("cleanup", 4), "cleanup.sh to end")
    assert {i["scripts"]["cleanup"]["stdout"] for i in done} == {"cleaned\n"}
    status, one = _call(base, "GET", f"/v1/jobs/gen/scripts?instance={done[0]['instance']}")
    assert status == 200 and [i["instance"] for i in one["instances"]] == \
        [done[0]["instance"]]

    # -- the same through the CLI ----------------------------------------------------------
    def cli(*args: str) -> str:
        result = subprocess.run([sys.executable, "-m", "cli", "job", *args, "--url",
                                 f"http://{base}"], capture_output=True, text=True,
                                timeout=60, cwd=Path(__file__).resolve().parent.parent)
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert v1["id"] in cli("code", "list", "gen") and "*" in cli("code", "list", "gen")
    assert "cleanup.sh: exited (0)" in cli("script", "status", "gen")
    assert "stdout: cleaned" in cli("script", "status", "gen", done[0]["instance"])
    assert "started" in cli("script", "run", "gen", "a", "b")
    _poll(lambda: all_exited("run", 4), "run.sh from the CLI to end")
    assert "args: a b (2)" in cli("script", "status", "gen", done[0]["instance"])

    # -- volumes ---------------------------------------------------------------------------
    target = done[1]["instance"]
    status, bad = _call(base, "POST", "/v1/jobs/gen/volumes",
                        {"name": "data", "size": "big", "instance": target})
    assert status == 400 and [e["field"] for e in bad["errors"]] == ["size"], bad
    status, _ = _call(base, "POST", "/v1/jobs/gen/scripts/run", {"parameters": ["hang"]})
    assert status == 202
    _poll(lambda: all(i["scripts"]["run"]["state"] == "running" for i in instances(4)),
          "run.sh running again")
    status, refused = _call(base, "POST", "/v1/jobs/gen/volumes",
                            {"name": "data", "size": 100, "instance": target})
    assert status == 409 and "no script runs" in refused["message"], refused
    _call(base, "POST", "/v1/jobs/gen/scripts/interrupt", {})
    _call(base, "POST", "/v1/jobs/gen/scripts/interrupt", {})
    # Killed: run.sh and the interrupt.sh the first interrupt started, whose ends may
    # come back in either order.
    _poll(lambda: all(script["state"] != "running" for i in instances(4)
                      for script in i["scripts"].values()), "every script killed")
    status, volume = _call(base, "POST", "/v1/jobs/gen/volumes",
                           {"name": "data", "size": 100, "instance": target})
    assert status == 201 and volume["mount"] == "/media/data", volume

    def restarted():
        _, listed = _call(base, "GET", "/v1/jobs/gen/volumes")
        [found] = listed["volumes"]
        now = found["instance"]
        return found if now and now != target and instances(4) and any(
            i["instance"] == now and i["scripts"]["init"]["state"] == "exited"
            for i in instances(4)) else None

    found = _poll(restarted, "the instance restarted with its volume, init.sh run there")
    assert "/media/data" in cli("volume", "list", "gen")
    [container] = docker_client.containers.list(
        filters={"label": f"berth.task_id={found['instance']}"})
    mounts = {m["Destination"]: m for m in container.attrs["Mounts"]}
    assert mounts["/media/data"]["Type"] == "volume"
    assert mounts["/media/data"]["Name"] == volume["docker_volume"]
    assert _exec(docker_client, found["instance"], "echo kept > /media/data/f; cat "
                 "/media/data/f") == "kept\n"
    status, _ = _call(base, "DELETE", "/v1/jobs/gen/volumes/data")
    assert status == 200

    def detached():
        _, doc = _call(base, "GET", "/v1/jobs/gen")
        live = [i["id"] for i in doc["instances"] if i["state"] == "RUNNING"]
        return live if len(live) == 4 and found["instance"] not in live else None

    live = _poll(detached, "the instance restarted without the volume")
    for task_id in live:
        [container] = docker_client.containers.list(
            filters={"label": f"berth.task_id={task_id}"})
        assert "/media/data" not in {m["Destination"] for m in container.attrs["Mounts"]}
    _, listed = _call(base, "GET", "/v1/jobs/gen/volumes")
    assert listed["volumes"] == []
    # The engine keeps the volume while the ended container that used it is kept (for
    # its logs): the test removes both.
    for container in docker_client.containers.list(
            all=True, filters={"volume": volume["docker_volume"]}):
        container.remove(force=True)
    docker_client.volumes.get(volume["docker_volume"]).remove(force=True)

    # -- a crash of berth: init.sh is not run again ------------------------------------------
    _poll(lambda: all_exited("init", 4), "init.sh on the instance restarted last")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    launch()  # same data dir
    again = _poll(lambda: instances(4), "the 4 instances known again")
    assert {i["instance"] for i in again} == set(live)
    _poll(lambda: all(_exec(docker_client, task_id, "cat /var/cache/cpsagent/agents.json")
                      for task_id in live), "agents.json rewritten")
    _call(base, "POST", "/v1/jobs/gen/scripts/run", {"parameters": ["after"]})
    _poll(lambda: all_exited("run", 4), "run.sh after the restart")
    for task_id in live:  # once per instance and version, the crash notwithstanding
        assert _exec(docker_client, task_id, "cat /tmp/inits") == "x\n"
    assert all(i["scripts"]["init"]["state"] == "never run" for i in instances(4))
