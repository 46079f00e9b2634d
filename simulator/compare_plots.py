"""Comparison plots, one line per run on one figure: nodes in use and packing efficiency
over time, and the pending-time CDF. Shared by `--sweep` and `--compare`; each run is
given as its label, its sampled series (`time` and the plotted column) and its sorted
pending times."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

# Runs with the same outcome draw the same line: a style each keeps both visible.
STYLES = ("-", "--", ":", "-.")


def plot_nodes_used(labels: Sequence[str], series: Sequence[Mapping[str, np.ndarray]],
                    path: Path) -> None:
    _plot_series(labels, series, "nodes_used", "nodes in use (besides daemons)",
                 "Nodes in use over time", path)


def plot_packing(labels: Sequence[str], series: Sequence[Mapping[str, np.ndarray]],
                 path: Path) -> None:
    _plot_series(labels, series, "packing_cpus", "requested cpus / cpus of the nodes in use",
                 "Packing efficiency over time", path, ylim=(0, 1.05))


def plot_pending_cdf(labels: Sequence[str], pending: Sequence[np.ndarray], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for k, (name, values) in enumerate(zip(labels, pending, strict=True)):
        if values.size:
            ax.step(np.maximum(values, 0.01), np.arange(1, values.size + 1) / values.size,
                    where="post", label=name, linewidth=1.4,
                    linestyle=STYLES[k % len(STYLES)])
    ax.set_xscale("log")
    ax.set_xlabel("pending time: submission to first RUNNING (s, log scale)")
    ax.set_ylabel("share of tasks that ran")
    ax.set_title("Pending-time distribution (CDF)")
    _finish(fig, ax, path, "lower right")


def _plot_series(labels, series, column, ylabel, title, path, ylim=None) -> None:
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for k, (name, s) in enumerate(zip(labels, series, strict=True)):
        ax.plot(s["time"] / 3600.0, s[column], label=name, linewidth=1.4,
                linestyle=STYLES[k % len(STYLES)])
    ax.set_xlabel("simulated hours")
    ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_title(title)
    _finish(fig, ax, path, "best")


def _finish(fig, ax, path: Path, where: str) -> None:
    ax.grid(alpha=0.3)
    ax.legend(loc=where, fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
