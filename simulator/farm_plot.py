"""The picture ConPaaS shows of a farm's schedules: cost against makespan, each schedule
with its interval, the Pareto front drawn and labelled with the indexes to choose."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def plot_schedules(schedules: Sequence[Mapping], path: Path, title: str) -> None:
    """`schedules`: as the API answers them (framework.farm_schedules.Schedule.as_json)."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for on_front in (False, True):
        chosen = [s for s in schedules if bool(s["pareto"]) is on_front]
        if not chosen:
            continue
        x = [s["makespan"]["mean"] for s in chosen]
        y = [s["cost"]["mean"] for s in chosen]
        # max(0, ...): with equal runtimes the mean may round a hair past a bound
        xerr = [[max(0.0, s["makespan"]["mean"] - s["makespan"]["low"]) for s in chosen],
                [max(0.0, s["makespan"]["high"] - s["makespan"]["mean"]) for s in chosen]]
        yerr = [[max(0.0, s["cost"]["mean"] - s["cost"]["low"]) for s in chosen],
                [max(0.0, s["cost"]["high"] - s["cost"]["mean"]) for s in chosen]]
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="o" if on_front else ".",
                    color="tab:red" if on_front else "tab:gray", alpha=1 if on_front else .5,
                    capsize=2, label="Pareto front" if on_front else "other schedules")
    front = sorted((s for s in schedules if s["pareto"]), key=lambda s: s["makespan"]["mean"])
    ax.plot([s["makespan"]["mean"] for s in front], [s["cost"]["mean"] for s in front],
            color="tab:red", linewidth=1)
    for s in front:
        ax.annotate(f"#{s['index']}", (s["makespan"]["mean"], s["cost"]["mean"]),
                    textcoords="offset points", xytext=(4, 4), fontsize=8)
    _finish(fig, ax, "makespan (s), mean and 95% interval", "cost (price x node-hours)",
            title, path)


def plot_throughput(function: Sequence[Mapping], path: Path, title: str,
                    chosen: Mapping | None = None) -> None:
    """HTC's `throughput = f(cost)`: every pool's tasks per hour against its money per
    hour, the front joined, the pool chosen for a target marked."""
    fig, ax = plt.subplots(figsize=(8, 5))
    others = [c for c in function if not c["pareto"]]
    front = sorted((c for c in function if c["pareto"]), key=lambda c: c["cost"])
    if others:
        ax.plot([c["cost"] for c in others], [c["throughput"] for c in others], ".",
                color="tab:gray", alpha=.5, label="other pools")
    ax.plot([c["cost"] for c in front], [c["throughput"] for c in front], "o-",
            color="tab:blue", label="front: throughput = f(cost)")
    if chosen:
        ax.plot([chosen["cost"]], [chosen["throughput"]], "*", markersize=14,
                color="tab:red", label=f"chosen for {chosen['target']:g} tasks/hour")
        ax.axhline(chosen["target"], color="tab:red", linewidth=.8, linestyle="--")
    _finish(fig, ax, "cost (money per hour)", "throughput (tasks per hour)", title, path)


def _finish(fig, ax, xlabel: str, ylabel: str, title: str, path: Path) -> None:
    """Label, grid and legend the axes, then write the PNG and free the figure."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
