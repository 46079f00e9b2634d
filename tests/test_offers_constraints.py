"""Marathon-style constraints, node attributes and the order of service, table-driven."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from offers.cluster import ClusterState, NodeSpec
from offers.filters import eligible_nodes
from offers.formats import parse_cluster
from offers.offer import Offer, cluster_from_offers
from offers.placement import place
from offers.problems import SpecError
from offers.spread import Running
from offers.task import parse_task
from tests.builders import task


def rack_cluster(cpus: float = 4) -> ClusterState:
    """Six nodes over three racks (a, a, b, b, c, d); node d has no rack."""
    racks = ["a", "a", "b", "b", "c", None]
    nodes = [NodeSpec(hostname=f"n{i}", cpus=cpus, mem=4096,
                      attributes={"rack": r, "zone": "z1" if i < 3 else "z2"} if r else {})
             for i, r in enumerate(racks)]
    return ClusterState.from_nodes(nodes)


RACK = {"n0": "a", "n1": "a", "n2": "b", "n3": "b", "n4": "c", "n5": None}


def hosts_of(out) -> list[str | None]:
    return [r.hostname for r in out.rows()]


def web(n: int, *constraints, **fields) -> list:
    """n instances of one group (one id), with the given constraints."""
    return [task("web", constraints=[list(c) for c in constraints], **fields)
            for _ in range(n)]


@pytest.mark.parametrize(("constraints", "n", "check"), [
    # UNIQUE: one per value; nodes without the attribute never count.
    ([("rack", "UNIQUE")], 5, lambda hs: sorted(RACK[h] for h in hs if h) == ["a", "b", "c"]),
    ([("hostname", "UNIQUE")], 8, lambda hs: len([h for h in hs if h]) == 6
     and len(set(h for h in hs if h)) == 6),
    # CLUSTER: only that value.
    ([("rack", "CLUSTER", "b")], 3, lambda hs: {RACK[h] for h in hs} == {"b"}),
    ([("rack", "CLUSTER", "zz")], 1, lambda hs: hs == [None]),
    # LIKE / UNLIKE: full match; UNLIKE also takes nodes without the attribute.
    ([("rack", "LIKE", "a|c")], 4, lambda hs: {RACK[h] for h in hs} <= {"a", "c"}),
    ([("rack", "LIKE", "a.*|")], 2, lambda hs: {RACK[h] for h in hs} == {"a"}),
    ([("hostname", "LIKE", "n")], 1, lambda hs: hs == [None]),  # "n" is not all of "n0"
    ([("rack", "UNLIKE", "a|b")], 3, lambda hs: {RACK[h] for h in hs} <= {"c", None}),
    # MAX_PER: at most n per value.
    ([("rack", "MAX_PER", "2")], 9, lambda hs: max(Counter(RACK[h] for h in hs if h)
                                                    .values()) == 2
     and len([h for h in hs if h]) == 6),
    ([("zone", "MAX_PER", 1)], 3, lambda hs: sorted(h is None for h in hs) == [0, 0, 1]),
    # GROUP_BY: even over the values (a, b, c), at most one apart.
    ([("rack", "GROUP_BY")], 6, lambda hs: sorted(Counter(RACK[h] for h in hs).values())
     == [2, 2, 2] and None not in hs),
    ([("rack", "GROUP_BY")], 4, lambda hs: sorted(Counter(RACK[h] for h in hs).values())
     == [1, 1, 2]),
    # Together: rack LIKE a|b and at most one per rack.
    ([("rack", "LIKE", "a|b"), ("rack", "UNIQUE")], 3,
     lambda hs: sorted(map(str, (RACK.get(h) for h in hs))) == ["None", "a", "b"]),
])
@pytest.mark.parametrize("strategy", ["binpack", "spread", "first-fit", "random"])
def test_each_operator_places_only_where_it_allows(constraints, n, check, strategy):
    out = place(rack_cluster(), web(n, *constraints), strategy=strategy, seed=1)
    hs = hosts_of(out)
    assert len(hs) == n
    assert check(hs), hs


def test_unique_counts_what_already_runs_here_and_on_hosts_outside_the_cluster():
    c = rack_cluster()
    # One instance on n0 (rack a), one on an agent not in this batch, in rack b.
    running = {"web": Running({"n0": 1, "elsewhere": 1}, {"elsewhere": {"rack": "b"}})}
    out = place(c, web(3, ("rack", "UNIQUE")), running=running)
    assert sorted(map(str, (RACK.get(h) for h in hosts_of(out)))) == ["None", "None", "c"]
    # The plain form (hostnames) still works, for the cluster's own hosts.
    out = place(c, web(1, ("hostname", "UNIQUE")), running={"web": ["n0", "n1"]},
                strategy="first-fit")
    assert hosts_of(out) == ["n2"]


def test_groups_are_counted_apart():
    c = rack_cluster()
    tasks = [task("a", constraints=[["rack", "UNIQUE"]]) for _ in range(2)] + \
        [task("b", constraints=[["rack", "UNIQUE"]]) for _ in range(2)]
    out = place(c, tasks, strategy="first-fit")
    assert all(h is not None for h in hosts_of(out))
    by_group = [[RACK[r.hostname] for r in out.rows() if tasks[r.task_index].id == g]
                for g in "ab"]
    assert all(len(set(racks)) == 2 for racks in by_group)


def test_an_unplaced_constrained_task_says_which_constraint_and_counts_every_node():
    out = place(rack_cluster(), web(4, ("rack", "UNIQUE")), strategy="first-fit")
    (row,) = [r for r in out.rows() if r.hostname is None]
    assert row.reason_code == "constraint-unique"
    (reason,) = [r for r in out.reasons if r.code == "constraint-unique"]
    assert sum(count for _, count in reason.tally) == 6
    assert "[0/6 nodes: 1 no rack attribute, 5 fail rack UNIQUE]" in row.reason
    (row,) = place(rack_cluster(), web(1, ("rack", "CLUSTER", "zz"))).rows()
    assert row.reason_code == "constraint" and "[rack CLUSTER zz]" in row.reason


@pytest.mark.parametrize(("constraints", "field", "words"), [
    ([["rack", "FOO"]], "constraints[0][1]", "'FOO' is not an operator"),
    ([["rack", "unique"]], "constraints[0][1]", "is not an operator"),
    ([["rack", "MAX_PER"]], "constraints[0]", "MAX_PER needs a number"),
    ([["rack", "UNIQUE"], ["rack", "MAX_PER", "two"]], "constraints[1][2]",
     "'two' is not a whole number"),
    ([["rack", "MAX_PER", 1.5]], "constraints[0][2]", "not a whole number"),
    ([["rack", "MAX_PER", 0]], "constraints[0][2]", "at least 1"),
    ([["rack", "GROUP_BY", "x"]], "constraints[0][2]", "not a whole number"),
    ([["rack", "LIKE", "("]], "constraints[0][2]", "not a regular expression"),
    ([["rack", "UNLIKE"]], "constraints[0]", "UNLIKE needs a value"),
    ([["rack", "CLUSTER"]], "constraints[0]", "CLUSTER needs a value"),
    ([["rack", "CLUSTER", 3]], "constraints[0][2]", "must be a string"),
    ([["rack", "UNIQUE", "a"]], "constraints[0][2]", "UNIQUE takes no value"),
    ([["rack", "CLUSTER", "a", "b"]], "constraints[0][3]", "unexpected"),
    ([["rack"]], "constraints[0]", "needs a field and an operator"),
    ([[""]], "constraints[0]", "needs a field and an operator"),
    ([["", "UNIQUE"]], "constraints[0][0]", "attribute name"),
    (["rack"], "constraints[0]", "must be a JSON list"),
    ("rack", "constraints", "JSON list"),
])
def test_a_bad_constraint_is_refused_naming_its_position(constraints, field, words):
    with pytest.raises(SpecError) as err:
        parse_task({"id": "x", "dockerimage": "img", "constraints": constraints})
    assert [p.field for p in err.value.problems] == [field]
    assert words in err.value.problems[0].problem


@pytest.mark.parametrize(("value", "ok"), [(3, True), (-2, True), ("4", True), (1.5, False),
                                           (True, False), ("high", False)])
def test_priority_is_a_whole_number(value, ok):
    data = {"id": "x", "dockerimage": "img", "priority": value}
    if ok:
        assert parse_task(data).priority == int(value)
    else:
        with pytest.raises(SpecError) as err:
            parse_task(data)
        assert err.value.problems[0].field == "priority"


def test_constraints_are_written_back_as_marathon_lists():
    spec = task("x", constraints=[["rack", "MAX_PER", 2], ["host" "name", "UNIQUE"],
                                  ["rack", "LIKE", "a.*"]], priority=5)
    data = spec.to_json()
    assert data["constraints"] == [["rack", "MAX_PER", "2"], ["hostname", "UNIQUE"],
                                   ["rack", "LIKE", "a.*"]]
    assert parse_task(data) == spec


def test_every_attribute_of_a_node_is_kept_from_cluster_files_and_offers():
    nodes = parse_cluster('[{"hostname": "h1", "cpus": 1, "mem": 10, '
                          '"attributes": {"nodetype": "lab", "rack": "r1", "gen": 3}}]')
    c = ClusterState.from_nodes(nodes)
    col = c.column("gen")
    assert col.values == ("3",) and col.codes.tolist() == [0]
    assert c.column("hostname").values == ("h1",)
    offers = [Offer("o1", "a1", "h1", 1.0, 10.0, 0.0, (), {"rack": "r1", "nodetype": "lab"}),
              Offer("o2", "a2", "h2", 1.0, 10.0, 0.0, (), {"rack": "r2"}),
              Offer("o3", "a1", "h1", 1.0, 10.0, 0.0, (), {"rack": "r1", "nodetype": "lab"})]
    c, _, _ = cluster_from_offers(offers)
    assert c.column("rack").values == ("r1", "r2")
    assert c.column("nodetype").codes.tolist() == [0, -1]


def test_eligible_nodes_are_nodetype_and_the_constraints_that_do_not_count():
    c = rack_cluster()
    spec = task("sys", constraints=[["rack", "UNLIKE", "a"], ["zone", "CLUSTER", "z2"],
                                    ["rack", "UNIQUE"]])
    # n2 (b, z1) fails the zone; n3 (b, z2) and n4 (c, z2) pass; n5 has no rack for UNIQUE.
    assert np.flatnonzero(eligible_nodes(c, spec)).tolist() == [3, 4]
    assert not eligible_nodes(c, task("x", nodetype="gpu")).any()


# -- the order of service ----------------------------------------------------------------

def saturated():
    c = ClusterState.from_nodes([NodeSpec(hostname="n1", cpus=4, mem=8192),
                                 NodeSpec(hostname="n2", cpus=4, mem=8192)])
    tasks = [task("big", cpus=3, mem=1024), task("db", cpus=0.5, mem=100, sla="singleton")]
    tasks += [task(f"w{i}", cpus=1, mem=1024) for i in range(300)]
    return c, tasks


@pytest.mark.parametrize("strategy", ["binpack", "spread", "first-fit", "random",
                                      "intelligence"])
def test_an_older_task_is_not_passed_over_for_younger_ones(strategy):
    """The issue's case: binpack served the many small tasks (a larger class by dominant
    share) before the singleton on line 2, which was left unplaced."""
    c, tasks = saturated()
    out = place(c, tasks, strategy=strategy)
    placed = [r.task_index for r in out.rows() if r.hostname]
    assert placed[:2] == [0, 1]
    assert sorted(placed) == list(range(6))  # big, db, then the first four small ones


def test_higher_priority_is_served_first_then_age():
    c, tasks = saturated()
    tasks = tasks[:2] + [t.model_copy(update={"priority": 1}) for t in tasks[-3:]] + tasks[2:]
    out = place(c, tasks, strategy="binpack")
    placed = sorted(r.task_index for r in out.rows() if r.hostname)
    # The three priority-1 tasks, then big (3 cpus), db; one cpu of 8 is left for w0.
    assert placed == [0, 1, 2, 3, 4, 5]


def test_classes_that_span_ages_are_interleaved():
    """Two classes alternating in age on a cluster with room for six: the first six."""
    c = ClusterState.from_nodes([NodeSpec(hostname="n1", cpus=3, mem=3000),
                                 NodeSpec(hostname="n2", cpus=3, mem=3000)])
    tasks = [task(f"t{i}", cpus=1, mem=100 if i % 2 else 900) for i in range(20)]
    for strategy in ("binpack", "spread", "first-fit"):
        out = place(c, tasks, strategy=strategy)
        assert sorted(r.task_index for r in out.rows() if r.hostname) == list(range(6))
