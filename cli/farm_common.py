"""What the `berth farm` commands share (cli/farm.py, cli/farm_htc.py): the demo
directory and report options, calling `/v1/farms`, a refusal's message, a demo farm's
view and schedules, and the report directory."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from cli.client import fail, request
from framework.farm_htc import throughput_answer
from framework.farm_schedules import schedules
from framework.farms import BadFarmInput, Farm, farm_view
from simulator.farm_demo import DemoFarms
from simulator.farm_report import write_farm_report

DEMO_DIR = os.environ.get("BERTH_FARM_DEMO_DIR", ".berth-farms")


demo_dir_option = click.option("--demo-dir", default=DEMO_DIR, show_default=True,
                               type=click.Path(file_okay=False, path_type=Path),
                               help="Where demo farms are kept ($BERTH_FARM_DEMO_DIR).")


report_option = click.option(
    "--report", "report_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Write a report directory: the farm's JSON, schedules and throughput as JSON and "
         "CSV, their plots (PNG) and report.md (like berth sim --report).")


def refuse(exc: BadFarmInput) -> click.ClickException:
    lines = [exc.message] + [f"  {p.field}: {p.problem}" for p in exc.problems]
    return click.ClickException("\n".join(lines))


def call(method: str, url: str, body: dict | None = None, ok: tuple[int, ...] = (200,),
          timeout: float = 120.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    status, answer = request(method, url, data, timeout=timeout)
    if status not in ok:
        fail(status, answer)
    return answer


def demo_schedules(farm: Farm, replications: int) -> list:
    return schedules(farm.samples, farm.nodetypes, len(farm.rest()), farm.slots, farm.seed,
                     replications, startup=farm.startup)


def write_report(farm_id: str, report_dir: Path, demo_dir: Path, url: str, *,
                 schedules: list | None = None, throughput: dict | None = None) -> None:
    """The farm's report directory: its view, schedules and throughput function as they
    are now (fetched, or computed for a demo farm, unless given)."""
    demos = DemoFarms(demo_dir)
    if demos.has(farm_id):
        farm, _ = demos.load(farm_id)
        view = demo_view(farm) if farm.run_seconds is not None else \
            farm_view(farm, 0, farm.sample_seconds or 0.0)
        if farm.samples:
            schedules = schedules or [s.as_json() for s in demo_schedules(farm, 200)]
            throughput = throughput or throughput_answer(farm)
    else:
        view = call("GET", f"{url}/v1/farms/{farm_id}")
        if view["samples"]:
            schedules = schedules or call(
                "GET", f"{url}/v1/farms/{farm_id}/schedules")["schedules"]
            throughput = throughput or call("GET", f"{url}/v1/farms/{farm_id}/throughput")
    write_farm_report(report_dir, view, schedules, throughput)
    click.echo(f"report: {report_dir}")


def demo_view(farm: Farm) -> dict:
    end = (farm.run_started or 0.0) + (farm.run_seconds or 0.0)
    return farm_view(farm, sum(farm.shares.values()), end)
