"""No size can overflow the placement core.

The task spec refuses sizes below what Docker honours, but the core must not rely on it:
specs read back from old stores, the simulator's inputs and `berth place` files all reach
it. A demand of 5e-324 MiB makes `free / demand` infinite; cast to int64 unclipped that
was a negative count, and numpy's "repeats may not contain negative values" dropped the
framework's link to the master on every offer.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from offers.filters import UNBOUNDED, Demands, fit_matrix, fits_one
from offers.placement import place
from offers.strategies import STRATEGIES
from offers.task import TaskSpec
from tests.builders import cluster, node, task

TINY = 5e-324  # the smallest positive float


def _unchecked(task_id: str, **sizes: float) -> TaskSpec:
    """A spec as an old store may hold it: sizes today's validation refuses."""
    return task(task_id).model_copy(update=sizes)


@pytest.mark.parametrize("demand", [
    [TINY, TINY, 0.0], [1e-300, TINY, TINY], [TINY, 0.0, 0.0], [0.5, 128.0, 0.0],
    [np.nextafter(0, 1), 1e-320, 0.0],
])
def test_fit_counts_are_never_negative_nor_beyond_unbounded(demand):
    free = np.array([[4.0, 4096.0, 10_000.0], [0.0, 0.0, 0.0], [1e308, 1e308, 1e308]])
    counts = fit_matrix(free, np.array([demand]))
    assert counts.dtype == np.int64
    assert (counts >= 0).all() and (counts <= UNBOUNDED).all(), counts


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_three_tasks_of_a_tiny_size_are_placed_without_error(strategy):
    tasks = [_unchecked(f"t{i}", mem=TINY, cpus=TINY) for i in range(3)]
    tasks.append(task("normal"))
    result = place(cluster(*(node(f"n{i}") for i in range(9))), tasks, strategy=strategy, seed=1)
    placed = [row for row in result.rows() if row.hostname is not None]
    assert len(placed) == 4


# Sizes no spec allows, and free amounts no node reports, that the arithmetic must survive.
ODD = [0.0, -0.0, 1e-10, 0.1, 0.3, 1.0, 2.5, 4096.0, TINY, 1e-300, 1e308, -1.0, math.nan,
       math.inf, -math.inf, 2.0 ** 61, 2.0 ** 62]


@given(st.lists(st.tuples(*[st.sampled_from(ODD)] * 3), max_size=5),
       st.lists(st.tuples(*[st.sampled_from(ODD)] * 3), min_size=1, max_size=5),
       st.sampled_from([2, 1 << 13]))
def test_every_shortcut_counts_as_the_fit_matrix_does(free_rows, demand_rows, cells):
    """Fits in steps of a few classes, on one node in Python floats, and room for one task
    are the same numbers as the whole matrix, whatever the values."""
    free = np.array(free_rows, dtype=np.float64).reshape(len(free_rows), 3)
    demands = np.array(demand_rows, dtype=np.float64)
    matrix = fit_matrix(free, demands)
    fitting = Demands(demands)
    fitting.CELLS = cells
    for first in range(len(demands)):
        assert np.array_equal(fitting.fits(free, first), matrix[first:])
        assert np.array_equal(fitting.fits(free, first, first + 1), matrix[first:first + 1])
        for node_free, expected in zip(free.tolist(), matrix[first:].T.tolist(), strict=True):
            assert fitting.fits_on(node_free, first) == expected
            assert fitting.fits_on(node_free, first, first + 1) == expected[:1]
    for demand, counts in zip(demands, matrix, strict=True):
        assert np.array_equal(fits_one(free, demand), counts >= 1)
