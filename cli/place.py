"""`berth place`: the placement core over files, as the framework and simulator use it."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import click

from offers.cluster import ClusterState
from offers.formats import FileError, parse_cluster, parse_task_lines, placement_lines
from offers.placement import place
from offers.strategies import STRATEGIES


def read_inputs(cluster_path: Path, tasks_path: Path):
    """Both files parsed, or a click error listing file:line: field: problem."""
    try:
        nodes = parse_cluster(cluster_path.read_text(), str(cluster_path))
        with tasks_path.open() as fh:
            tasks, _ = parse_task_lines(fh, str(tasks_path))
    except FileError as exc:
        raise click.ClickException(f"bad input, nothing placed:\n{exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read input: {exc}") from None
    return nodes, tasks


@click.command("place")
@click.option("--cluster", "cluster_path", required=True, type=click.Path(path_type=Path),
              help="JSON list of nodes.")
@click.option("--tasks", "tasks_path", required=True, type=click.Path(path_type=Path),
              help="JSON Lines, one Charmander task per line.")
@click.option("--strategy", default="binpack", show_default=True,
              type=click.Choice(list(STRATEGIES)))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", "out_path", type=click.Path(path_type=Path),
              help="Write placements here (JSON Lines); default: standard output.")
def place_command(cluster_path: Path, tasks_path: Path, strategy: str, seed: int,
                  out_path: Path | None) -> None:
    """Place tasks on a cluster and print a JSON summary line."""
    started = time.perf_counter()
    nodes, tasks = read_inputs(cluster_path, tasks_path)
    cluster = ClusterState.from_nodes(nodes)
    core_started = time.perf_counter()
    placement = place(cluster, tasks, strategy=strategy, seed=seed)
    seconds_core = time.perf_counter() - core_started

    lines = placement_lines(tasks, placement)
    if out_path is None:
        sys.stdout.writelines(lines)
        summary_stream = sys.stderr
    else:
        # Written beside the target and renamed, so a failure leaves no partial file.
        fd, tmp = tempfile.mkstemp(dir=out_path.parent or ".", prefix=f".{out_path.name}.")
        try:
            with os.fdopen(fd, "w", buffering=1 << 20) as fh:
                fh.writelines(lines)
            os.replace(tmp, out_path)
        except BaseException:
            os.unlink(tmp)
            raise
        summary_stream = sys.stdout
    summary = {
        "placed": placement.placed,
        "unplaced": placement.unplaced,
        "unplaced_by_reason": placement.unplaced_by_reason(),
        "nodes_used": placement.nodes_used,
        "strategy": strategy,
        "seconds_core": round(seconds_core, 4),
        "seconds_total": round(time.perf_counter() - started, 4),
    }
    print(json.dumps(summary), file=summary_stream)
