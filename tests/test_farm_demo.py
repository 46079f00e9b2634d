"""`berth farm` end to end in demo mode (every step in the simulator, a local directory),
and its bad inputs: each a clear message, a non-zero exit and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.farm import farm_group
from framework.farm_schedules import choose, schedules
from framework.farms import farm_from_json


def pareto_consistent(found: list[dict]) -> bool:
    """No schedule on the front is both slower and dearer than another schedule."""
    def worse(a: dict, b: dict) -> bool:
        return a["makespan"]["mean"] > b["makespan"]["mean"] and \
            a["cost"]["mean"] > b["cost"]["mean"]
    front = [s for s in found if s["pareto"]]
    return bool(front) and not any(worse(a, b) for a in front for b in found)


@pytest.fixture
def farm_cli(tmp_path):
    runner = CliRunner()
    demo_dir = tmp_path / "farms"

    def call(*args: str):
        return runner.invoke(farm_group, [*args, "--demo-dir", str(demo_dir)],
                             catch_exceptions=False)

    call.dir = demo_dir
    return call


def _bag(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "bag.txt"
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


DEMO = ["--image", "berth/busybox", "--demo", "--nodetype", "small=0.1:3",
        "--nodetype", "large=0.4:2", "--runtime", "small=lognormal:20:0.3",
        "--runtime", "large=uniform:5:8"]


def test_every_step_in_the_simulator_and_the_numbers_are_the_simulators(farm_cli, tmp_path):
    bag = _bag(tmp_path, [f"/bin/sleep {i % 5}" for i in range(120)])
    created = farm_cli("create", str(bag), *DEMO)
    assert created.exit_code == 0, created.output
    farm_id = created.output.strip()
    assert farm_id.startswith("demo-")

    sampled = farm_cli("sample", farm_id)
    assert sampled.exit_code == 0, sampled.output
    assert "small: 31 samples" in sampled.output and "large: 31 samples" in sampled.output

    plot = tmp_path / "s.png"
    shown = farm_cli("schedules", farm_id, "--json", "--plot", str(plot))
    found = json.loads(shown.output)
    assert len(found) == 4 * 3 - 1  # every pool of 0-3 small and 0-2 large but the empty
    assert pareto_consistent(found)
    assert plot.read_bytes()[:4] == b"\x89PNG"
    farm = farm_from_json(json.loads((farm_cli.dir / f"{farm_id}.json").read_text())["farm"])
    again = [s.as_json() for s in schedules(farm.samples, farm.nodetypes, 120 - 31, 1,
                                            farm.seed)]
    assert found == again  # the demo's schedules are the simulator's, number for number

    ran = farm_cli("run", farm_id, "--deadline", str(found[-1]["makespan"]["high"]))
    assert ran.exit_code == 0, ran.output
    status = json.loads(farm_cli("status", farm_id, "--json").output)
    expected = choose([s for s in schedules(farm.samples, farm.nodetypes, 89, 1, farm.seed)],
                      deadline=found[-1]["makespan"]["high"])
    assert status["phase"] == "done" and status["pool"] == expected.pool
    assert status["progress"] == {"done": 89, "left": 0, "total": 89}
    assert status["forecast"]["makespan"] == expected.makespan.mean
    printed = farm_cli("status", farm_id).output
    assert "89 done / 0 left of 89" in printed and "demo" in printed


def test_no_schedule_meets_a_deadline_names_the_cheapest_and_the_fastest(farm_cli, tmp_path):
    bag = _bag(tmp_path, ["true"] * 60)
    farm_id = farm_cli("create", str(bag), *DEMO).output.strip()
    farm_cli("sample", farm_id)
    before = (farm_cli.dir / f"{farm_id}.json").read_text()
    for option, value in (("--deadline", "1"), ("--budget", "0.0001")):
        refused = farm_cli("run", farm_id, option, value)
        assert refused.exit_code != 0
        assert "the cheapest is #0" in refused.output and "the fastest is #" in refused.output
    assert (farm_cli.dir / f"{farm_id}.json").read_text() == before  # still just sampled
    assert json.loads(farm_cli("status", farm_id, "--json").output)["phase"] == "sampled"


@pytest.mark.parametrize(("lines", "where", "problem"), [
    (["true", "", "true"], "bag.txt:2", "is empty"),
    (["true", "   "], "bag.txt:2", "is empty"),
    (["true", "x" * 5000], "bag.txt:2", "5000 characters long; at most 4096"),
])
def test_a_bad_bag_line_is_named_by_file_and_line(farm_cli, tmp_path, lines, where, problem):
    refused = farm_cli("create", str(_bag(tmp_path, lines)), *DEMO)
    assert refused.exit_code != 0
    assert where in refused.output and problem in refused.output
    assert not farm_cli.dir.exists()  # nothing written


def test_a_node_type_without_a_price_is_refused(farm_cli, tmp_path):
    bag = _bag(tmp_path, ["true"] * 5)
    for given in ("small", "small=", "small=:3"):
        refused = farm_cli("create", str(bag), "--image", "i", "--demo",
                           "--nodetype", given, "--runtime", "small=fixed:1")
        assert refused.exit_code != 0
        assert "node type 'small' has no price" in refused.output, refused.output
    assert not farm_cli.dir.exists()


def test_runtimes_from_a_file(farm_cli, tmp_path):
    bag = _bag(tmp_path, ["true"] * 10)
    runtimes = tmp_path / "runtimes.json"
    runtimes.write_text(json.dumps({"a": [1.0, 2.0, 3.0], "b": "fixed:2"}))
    farm_id = farm_cli("create", str(bag), "--image", "i", "--demo", "--nodetype",
                       "a=0.1", "--nodetype", "b=0.2", "--runtimes", str(runtimes)
                       ).output.strip()
    sampled = farm_cli("sample", farm_id)
    assert "a: 10 samples" in sampled.output  # a bag of 10: all of it is sampled
    missing = farm_cli("create", str(bag), "--image", "i", "--demo", "--nodetype", "c=0.1",
                       "--runtimes", str(runtimes))
    assert missing.exit_code != 0 and "no runtimes given for node type(s) c" in missing.output
