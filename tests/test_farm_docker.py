"""Task farming for real: `berth up` as a subprocess whose local agent has a nodetype
(and first no price, then a price), the local Docker engine running `berth/busybox`, the
`berth farm` CLI over HTTP.

- a node type without a price: `farm create` fails naming it, and no farm is stored;
- a bag of 40 short commands is sampled (31 tasks, real batch jobs on that nodetype), its
  schedules are Pareto-consistent and plotted, the fastest is run on the rest of the bag
  (9 tasks) and the farm ends done with every task counted and its money spent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.test_farm_demo import pareto_consistent
from tests.test_framework_seed_session import berth_up, docker_client

__all__ = ["berth_up", "docker_client"]  # the fixtures

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parent.parent


def _farm(base: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", "farm", *args, "--url",
                           f"http://{base}"], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def _bag(tmp_path: Path) -> Path:
    bag = tmp_path / "bag.txt"
    bag.write_text("".join(f"sleep 0.1 && echo task {i}\n" for i in range(40)))
    return bag


def test_a_node_type_without_a_price_is_refused_and_nothing_stored(berth_up, tmp_path):
    base, launch, _cwd, _started = berth_up
    launch()  # nodetype lab, no price
    refused = _farm(base, "create", str(_bag(tmp_path)), "--image", "berth/busybox",
                    cwd=tmp_path)
    assert refused.returncode != 0
    assert "node type 'lab' has no price" in refused.stderr, refused.stderr
    assert "nodetypes.lab.price" in refused.stderr
    with urllib.request.urlopen(f"http://{base}/v1/farms", timeout=30) as resp:
        assert json.loads(resp.read()) == {"farms": []}  # nothing half-written


def test_a_bag_is_sampled_scheduled_and_run_on_a_priced_nodetype(berth_up, tmp_path):
    base, launch, _cwd, _started = berth_up
    bag = _bag(tmp_path)
    launch("--attributes", "price=0.12")
    created = _farm(base, "create", str(bag), "--image", "berth/busybox", "--slots", "4",
                    "--cpus", "0.05", "--mem", "16", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    farm_id = created.stdout.strip()

    sampled = _farm(base, "sample", farm_id, "--wait", cwd=tmp_path)
    assert sampled.returncode == 0, sampled.stderr + sampled.stdout
    assert "lab: 31 samples" in sampled.stdout

    shown = _farm(base, "schedules", farm_id, "--json", "--plot",
                  str(tmp_path / "s.png"), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    schedules = json.loads(shown.stdout)
    assert [s["pool"] for s in schedules] and pareto_consistent(schedules)
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    fastest = min(schedules, key=lambda s: s["makespan"]["mean"])

    ran = _farm(base, "run", farm_id, "--schedule", str(fastest["index"]), "--wait",
                cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr + ran.stdout
    status = _farm(base, "status", farm_id, "--json", cwd=tmp_path)
    view = json.loads(status.stdout)
    assert view["phase"] == "done", view
    assert view["progress"] == {"done": 9, "left": 0, "total": 9}
    assert view["pool"] == fastest["pool"] and view["spent"] > 0
    forecast = view["forecast"]
    # Reported, not asserted (no timing thresholds in tests): executed vs forecast.
    print(f"executed {view['run_seconds']:.2f} s, forecast {forecast['makespan']:.2f} s "
          f"[{forecast['makespan_low']:.2f}, {forecast['makespan_high']:.2f}]")
    printed = _farm(base, "status", farm_id, cwd=tmp_path)
    assert "9 done / 0 left of 9" in printed.stdout and "spent so far" in printed.stdout
