"""The reasons of several classes, worked out together, are each class's reason alone."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from offers.cluster import ClusterState, NodeSpec
from offers.filters import PortBook, Scene, TaskClass, fits_one, fits_one_each
from offers.reasons import explain_all, explain_unplaced

AMOUNTS = [0.0, 0.25, 0.5, 1.0, 4.0, 1000.0]  # equal amounts of node and task included


@st.composite
def scenes(draw):
    count = draw(st.integers(0, 8))
    nodes = [NodeSpec(hostname=f"n{i}", cpus=4.0, mem=4096.0, disk=1000.0,
                      ports=((31000, 31004),),
                      attributes={"nodetype": draw(st.sampled_from(["a", "b"]))})
             for i in range(count)]
    free = [[draw(st.sampled_from(AMOUNTS)) for _ in range(3)] for _ in nodes]
    cluster = ClusterState.from_nodes(nodes, free=free or None)
    return Scene(cluster, cluster.free.copy(), PortBook(cluster, [31000, 32000]),
                 lambda cls: None)


classes = st.builds(
    TaskClass,
    st.tuples(*[st.sampled_from(AMOUNTS)] * 3),
    st.sampled_from([None, "a", "c"]),
    st.none(),
    st.sampled_from([(), (31000,), (32000,)]))


@given(scenes(), st.lists(classes, max_size=6))
def test_a_batch_of_reasons_is_each_reason_alone(scene, batch):
    assert explain_all(scene, batch) == [explain_unplaced(scene, cls) for cls in batch]


@given(scenes(), st.lists(st.tuples(*[st.sampled_from(AMOUNTS)] * 3), min_size=1,
                          max_size=5))
def test_fits_for_many_demands_is_fits_for_each(scene, demands):
    each = fits_one_each(scene.free, np.array(demands, dtype=np.float64))
    for row, demand in zip(each, demands, strict=True):
        assert row.tolist() == fits_one(scene.free, np.array(demand)).tolist()
