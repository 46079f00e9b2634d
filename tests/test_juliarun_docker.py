"""The seed's "Hello, World in Parallel", through JuliaRun's HTTP API, against `berth up
--config FILE` (master, framework, agent, SQLite) and the local Docker engine.

The image (`berth/busybox`, its `executable` `sh`) and the `hostpath` volume come from a
configuration file in JuliaRun's format. The scripts stand in for the seed's Julia ones:
each worker leaves its estimate of pi on the shared volume, mounted at /mnt/juliarun; the
master waits for its workers' results, prints the mean as the seed's master does, and
also writes it to the volume's log folder (the seed's `cat .../log/master.stdout`).
Flow: submitJob, getJobStatus, getJobScale, setJobScale (the master waits for a third
worker), getJobStatus until it succeeded, tailJob, deleteJob.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.test_framework_seed_session import _poll, berth_up, docker_client

__all__ = ["berth_up", "docker_client"]  # the fixtures

pytestmark = pytest.mark.docker

MASTER = """\
echo "running..."
mkdir -p /mnt/juliarun/helloparallel/log
while [ "$(ls /mnt/juliarun/helloparallel/out | wc -l)" -lt 3 ]; do sleep 0.2; done
pi=$(cat /mnt/juliarun/helloparallel/out/* | head -n 1)
echo "PI (estimated) = $pi" | tee /mnt/juliarun/helloparallel/log/master.stdout
"""
WORKER = """\
mkdir -p /mnt/juliarun/helloparallel/out
echo 3.1416019364 > /mnt/juliarun/helloparallel/out/$(hostname)
echo "worker $BERTH_JOB_INDEX done"
"""


def _call(base: str, path: str, status: int = 200, **params: str) -> dict:
    url = f"http://{base}{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=120) as resp:
            code, body = resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        code, body = exc.code, json.loads(exc.read())
    assert code == status, body
    return body


def _data(base: str, path: str, **params: str):
    body = _call(base, path, **params)
    assert body["code"] == 0, body  # JuliaWebAPI's success
    return body["data"]


def test_hello_world_in_parallel(berth_up, docker_client, tmp_path):
    base, launch, cwd, started = berth_up
    volume = tmp_path / "juliarun"
    (volume / "helloparallel").mkdir(parents=True)
    (volume / "helloparallel" / "master.sh").write_text(MASTER)
    (volume / "helloparallel" / "worker.sh").write_text(WORKER)
    (tmp_path / "pkg").mkdir()
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "log": {"level": "INFO", "filename": "juliarun.log"},
        "images": {"julia": {"image": "berth/busybox", "executable": "sh"}},
        "storage": {"hostpath": [
            {"name": "juliarun", "path": str(volume), "readonly": False},
            {"name": "pkgdefault", "path": str(tmp_path / "pkg"), "readonly": True},
            {"name": "pkgdefaultrw", "path": str(tmp_path / "pkg"), "readonly": False}]},
        "packages": ["pkgdefault"]}))
    launch("--config", str(config))
    log = cwd / "berth-up.log"
    _poll(lambda: _data(base, "/getSystemStatus"), "the framework subscribed", log)

    job = "/submitJob/JuliaParBatch/"
    assert _data(base, job, name="helloparallel", run_volume="juliarun",
                 start_script="/mnt/juliarun/helloparallel/master.sh",
                 pkg_bundle="pkgdefault", nworkers="2",
                 worker_start_script="/mnt/juliarun/helloparallel/worker.sh",
                 cpu="50m", memory="32Mi", worker_cpu="50m", worker_memory="32Mi",
                 ports="http:8080:31880") is None
    status = "/getJobStatus/JuliaParBatch/"
    first = _poll(lambda: (s := _data(base, status, name="helloparallel"))[3] and s,
                  "helloparallel created", log)
    assert first[0] is False and first[2] == 2 and first[4] is False  # (false,0,2,true,false)
    assert _data(base, "/getJobScale/JuliaParBatch/", name="helloparallel")[1] == 2

    # two workers are not enough for this master: ask for a third
    _poll(lambda: len(os.listdir(volume / "helloparallel" / "out")) == 2
          if (volume / "helloparallel" / "out").exists() else False, "2 workers' results",
          log)
    assert _data(base, status, name="helloparallel")[0] is False
    hosts, ports = _data(base, "/getJobEndpoint/JuliaParBatch/", name="helloparallel")
    assert len(hosts) == 1 and ports == {"http": 31880}  # the master's agent, host port
    assert _data(base, "/setJobScale/JuliaParBatch/", name="helloparallel",
                 parallelism="3") is True
    assert _data(base, "/getJobScale/JuliaParBatch/", name="helloparallel")[1] == 3

    done = _poll(lambda: (s := _data(base, status, name="helloparallel"))[0] and s,
                 "helloparallel succeeded", log)
    # succeeded, 3 workers asked for; a worker whose result the master already read may
    # still be exiting when the master ends, and is then stopped rather than counted
    assert done[0] is True and done[2:] == [3, True, False] and done[1] <= 3
    assert (volume / "helloparallel" / "log" / "master.stdout").read_text() == \
        "PI (estimated) = 3.1416019364\n"

    tail = _data(base, "/tailJob/JuliaParBatch/", name="helloparallel", stream="stdout",
                 count="50")
    assert tail.startswith("running...\nPI (estimated) = 3.1416019364\n"), tail
    assert sorted(line for line in tail.splitlines() if line.startswith("worker")) == [
        "worker 0 done", "worker 1 done", "worker 2 done"]
    one = _data(base, "/tailJob/JuliaParBatch/", name="helloparallel", count="1")
    assert len(one.splitlines()) == 1

    instances = json.loads(urllib.request.urlopen(
        f"http://{base}/v1/jobs/helloparallel", timeout=30).read())["instances"]
    for instance in instances:
        started += [c.id for c in docker_client.containers.list(
            all=True, filters={"label": f"berth.task_id={instance['id']}"})]
    assert len(instances) == 4  # the master and three workers

    info = _data(base, "/getAllJobInfo")
    assert info["helloparallel"]["type"] == "JuliaParBatch"
    assert info["helloparallel"]["status"][::2] == [True, 3, False]
    assert _data(base, "/deleteJob/JuliaParBatch/", name="helloparallel",
                 force="false") is True  # complete: no force needed
    assert _data(base, "/listJobs") == {}
    assert "submitted JuliaParBatch helloparallel" in (tmp_path / "juliarun.log").read_text()
