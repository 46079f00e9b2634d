"""Metrics for real: `berth up` (framework, master, agent) with the local Docker engine.
The agent's node measurements and a running container's CPU, memory and limits travel
agent -> master -> framework into the metrics store and come back from `GET /v1/metrics`;
a program inside the container posts its own metric with `$BERTH_INSTANCE` and finds it
tagged with its job, namespace and node."""

from __future__ import annotations

import pytest

from tests.test_framework_seed_session import _poll, berth_up, docker_client
from tests.test_jobs_docker import _api

__all__ = ["berth_up", "docker_client"]  # the fixtures

pytestmark = pytest.mark.docker

POST = ('wget -q -O- --header "Content-Type: application/json" --post-data '
        '"{\\"resource\\": \\"jobs_done\\", \\"value\\": 3, '
        '\\"tags\\": {\\"instance\\": \\"$BERTH_INSTANCE\\"}}" "$BERTH_URL/v1/metrics"')


def _series(base: str, query: str) -> list[dict]:
    status, answer = _api(base, "GET", f"/v1/metrics?from=-10m&{query}")
    assert status == 200, answer
    return answer["series"]


def test_node_and_container_metrics_reach_the_store(berth_up, docker_client):
    base, launch, cwd, started = berth_up
    launch()
    status, job = _api(base, "POST", "/v1/jobs", {
        "name": "spin", "type": "service", "count": 1, "namespace": "lab",
        "task": {"dockerimage": "berth/busybox", "cpus": 0.2, "mem": 24, "nodetype": "lab",
                 "networkmode": "host", "env": {"BERTH_URL": f"http://{base}"},
                 "arguments": ["sh", "-c", f"{POST}; while :; do :; done"]}})
    assert status == 201, job

    def measured():
        series = _series(base, "name=cpu&group_by=instance&agg=max")
        return series if series and series[0]["value"] > 0.05 else None

    [cpu] = _poll(measured, "the container's cpu in GET /v1/metrics",
                  cwd / "berth-up.log")
    instance = cpu["group"]["instance"]
    for container in docker_client.containers.list(
            filters={"label": f"berth.task_id={instance}"}):
        started.append(container.id)
    assert cpu["value"] < 0.5  # its quota is 0.2 cores
    [mem] = _series(base, f"name=mem&instance={instance}&group_by=job")
    assert mem["group"] == {"job": "spin"} and 0 < mem["value"] < 24
    [limit] = _series(base, "name=mem_limit&group_by=namespace&agg=last")
    assert limit == {"group": {"namespace": "lab"}, "value": 24.0}
    [cpu_limit] = _series(base, "name=cpu_limit&agg=last")
    assert cpu_limit["value"] == 0.2

    hostname = _api(base, "GET", "/v1/agents")[1]["agents"][0]["hostname"]
    for name in ("node_cpus", "node_cpu_used", "node_cpu_incumbent", "node_mem",
                 "node_mem_used", "node_disk_used", "node_net_in", "node_disk_write"):
        series = _poll(lambda n=name: _series(base, f"name={n}&group_by=node"),
                       f"{name} in GET /v1/metrics", cwd / "berth-up.log")
        assert [s["group"] for s in series] == [{"node": hostname}], name
        assert series[0]["value"] >= 0
    [cpus] = _series(base, "name=node_cpus&group_by=node&agg=last")
    assert cpus["value"] >= 1

    # What the program inside posted, tagged for it.
    [done] = _poll(lambda: _series(base, "name=jobs_done&group_by=job"),
                   "the container's own metric", cwd / "berth-up.log")
    assert done == {"group": {"job": "spin"}, "value": 3.0}
    [where] = _series(base, "name=jobs_done&group_by=node")
    assert where["group"] == {"node": hostname}
    status, usage = _api(base, "GET", "/v1/rusage?group_by=job")
    assert status == 200 and usage["usage"][0]["job"] == "spin"
    assert usage["usage"][0]["cpu_seconds"] > 0
