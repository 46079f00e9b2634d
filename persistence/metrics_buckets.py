"""Bucket arithmetic for downsampling, over arrays: rows sorted by (series, time) become
one row per (series, bucket) with count, sum, min, max and last. Pure, so the rollup the
store writes is tested without a database.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Buckets:
    """One entry per (series, bucket): bucket start in ms and the five summaries."""

    series: np.ndarray
    t: np.ndarray
    count: np.ndarray
    sum: np.ndarray
    min: np.ndarray
    max: np.ndarray
    last: np.ndarray

    def rows(self, step: int) -> list[tuple]:
        """(series_id, step, t, count, sum, min, max, last): the rollup table's columns."""
        return [(int(s), step, int(t), int(c), float(su), float(lo), float(hi), float(la))
                for s, t, c, su, lo, hi, la in zip(
                    self.series, self.t, self.count, self.sum, self.min, self.max,
                    self.last, strict=True)]


def bucket(series, t_ms, count, total, low, high, last, step_ms: int) -> Buckets:
    """Fold rows (sorted by series, then time) into buckets of `step_ms`.

    Raw points are rows with count 1 and sum = min = max = last = value; rollups fold
    into coarser rollups the same way, so every level keeps exact means."""
    series = np.asarray(series, dtype=np.int64)
    t_ms = np.asarray(t_ms, dtype=np.int64)
    if len(series) == 0:
        empty = np.array([], dtype=np.int64)
        return Buckets(empty, empty, empty, *(np.array([], dtype=float),) * 4)
    start = (t_ms // step_ms) * step_ms
    change = np.flatnonzero((series[1:] != series[:-1]) | (start[1:] != start[:-1])) + 1
    first = np.concatenate(([0], change))
    ends = np.concatenate((change, [len(series)])) - 1
    return Buckets(
        series=series[first], t=start[first],
        count=np.add.reduceat(np.asarray(count, dtype=np.int64), first),
        sum=np.add.reduceat(np.asarray(total, dtype=float), first),
        min=np.minimum.reduceat(np.asarray(low, dtype=float), first),
        max=np.maximum.reduceat(np.asarray(high, dtype=float), first),
        last=np.asarray(last, dtype=float)[ends])
