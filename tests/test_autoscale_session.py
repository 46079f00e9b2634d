"""Autoscaling through the whole of `berth up` on the wall clock: a service of
`berth/busybox`'s httpd behind an HTTP health check grows from 1 to its maximum while
metrics pushed to `POST /v1/metrics` (JuliaRun's record_metrics) are over a threshold,
and shrinks back to 1 once they fall and the scale-down stabilization has passed. The
metrics store, the health checks, the autoscaler and real containers, together.
"""

from __future__ import annotations

import pytest

from tests.test_framework_seed_session import _poll, berth_up, docker_client
from tests.test_health_session import _job, _service
from tests.test_jobs_docker import _api

__all__ = ["berth_up", "docker_client"]  # the fixtures

pytestmark = pytest.mark.docker


@pytest.mark.timeout(300)
def test_a_checked_service_scales_to_its_maximum_on_pushed_metrics_and_back(berth_up):
    base, launch, _cwd, _started = berth_up
    launch()
    job = _service("scaled", {"http": {"port": 8080, "path": "/index.html", "status": 200},
                              "grace": 10, "interval": 1, "timeout": 1})
    job["autoscale"] = {
        "min": 1, "max": 3, "interval": 1,
        "scale_up": {"cooldown": 0, "stabilization": 0},
        "scale_down": {"cooldown": 2, "stabilization": 3},
        "rule": {"node": "threshold", "low": 10, "high": 100, "step": 1,
                 "of": {"node": "metric", "name": "queue", "window": 3, "agg": "max"}}}
    status, answer = _api(base, "POST", "/v1/jobs", job)
    assert status == 201, answer

    def pushed(value: float, count: int):
        def check():
            status, answer = _api(base, "POST", "/v1/metrics", {
                "resource": "queue", "value": value,
                "tags": {"job": "scaled", "namespace": "default"}})
            assert status == 201, answer
            doc = _job(base, "scaled")
            return doc if doc["desired"] == doc["running"] == doc["healthy"] == count \
                else None
        return check

    _poll(pushed(0.0, 1), "one healthy instance", timeout=90)
    grown = _poll(pushed(500.0, 3), "three healthy instances", timeout=120)
    assert grown["unhealthy"] == 0
    _poll(pushed(1.0, 1), "back to one", timeout=120)

    status, answer = _api(base, "GET", "/v1/jobs/scaled/autoscale")
    assert status == 200, answer
    changes = [d for d in answer["decisions"] if d["changed"]]
    assert [(d["current"], d["desired"]) for d in reversed(changes)][:2] == [(1, 2), (2, 3)]
    assert all("queue" in d["reason"] for d in changes), changes
