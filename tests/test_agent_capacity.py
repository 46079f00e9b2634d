"""Spare capacity arithmetic: incumbent load, allocation, headroom, caps, smoothing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from executor.capacity import (
    Amounts,
    Capacity,
    ChangeThreshold,
    NodeSample,
    Smoother,
    agent_total,
    incumbent_share,
    parse_amounts,
    parse_resources,
    spare_capacity,
)
from offers.resources import free_ports

MACHINE = Amounts(cpus=4, mem=8192, disk=100_000)


@pytest.mark.parametrize(
    ("used", "berth_used", "allocated", "headroom", "spare"),
    [
        # An idle node offers everything but the headroom.
        (Amounts(0, 0, 0), Amounts(), Amounts(), Amounts(0.5, 512, 0), Amounts(3.5, 7680, 100_000)),
        # The node's own programs use 1 core and 2 GiB: that is not offered.
        (Amounts(1, 2048, 0), Amounts(), Amounts(), Amounts(), Amounts(3, 6144, 100_000)),
        # berth's containers use 1 core of the 1.5 busy: only 0.5 is incumbent; the 2 cores
        # allocated to berth's tasks are subtracted whatever they use.
        (Amounts(1.5, 3000, 0), Amounts(1, 1000, 0), Amounts(2, 2048, 0), Amounts(),
         Amounts(1.5, 4144, 100_000)),
        # Overcommitted: spare never goes below zero.
        (Amounts(4, 8192, 0), Amounts(), Amounts(1, 1024, 0), Amounts(0.5, 256, 0),
         Amounts(0, 0, 100_000)),
        # Containers measured above the node (sampling skew): incumbent is 0, not negative.
        (Amounts(0.5, 100, 0), Amounts(1, 500, 0), Amounts(), Amounts(), MACHINE),
    ],
)
def test_spare_is_total_minus_incumbent_allocated_headroom(used, berth_used, allocated,
                                                            headroom, spare):
    sample = NodeSample(machine=MACHINE, used=used)
    total = agent_total(MACHINE, parse_resources(None))
    incumbent = incumbent_share(sample, berth_used, total)
    assert spare_capacity(total, incumbent, allocated, headroom) == spare


def test_resources_cap_the_total_and_charge_a_share_of_the_incumbent():
    limits = parse_resources("cpus:1;mem:2048;ports:[31000-31499]")
    total = agent_total(MACHINE, limits)
    assert total == Amounts(1, 2048, 100_000)
    assert limits.ports == ((31000, 31499),)
    # 2 incumbent cores on the machine; this agent holds a quarter of the CPUs and of mem.
    sample = NodeSample(machine=MACHINE, used=Amounts(2, 4096, 0))
    incumbent = incumbent_share(sample, Amounts(), total)
    assert incumbent.cpus == pytest.approx(0.5)
    assert incumbent.mem == pytest.approx(1024)
    assert spare_capacity(total, incumbent, Amounts(), Amounts()).cpus == pytest.approx(0.5)


def test_a_cap_above_the_machine_does_not_invent_capacity():
    assert agent_total(MACHINE, parse_resources("cpus:64;mem:1000000")) == MACHINE


@pytest.mark.parametrize("text, problem", [
    ("cpus:x", "not a number"), ("gpus:1", "not a resource"), ("cpus", "name:value"),
    ("cpus:-1", ">= 0"), ("ports:[9-3]", "port range"),
])
def test_bad_resources_are_refused_with_the_item_named(text, problem):
    with pytest.raises(ValueError, match=problem):
        parse_resources(text)


def test_headroom_parses_and_defaults_missing_items_to_zero():
    assert parse_amounts("cpus:0.5;mem:512") == Amounts(0.5, 512, 0)
    assert parse_amounts("") == Amounts()
    with pytest.raises(ValueError):
        parse_amounts("ports:1")


def test_taken_host_ports_are_cut_out_of_the_offer():
    assert free_ports(((31000, 31010),), {31000, 31005, 31010}) == (
        (31001, 31004), (31006, 31009))
    assert free_ports(((31000, 31000), (32000, 32001)), {31000}) == ((32000, 32001),)


def test_smoothing_does_not_follow_a_single_spike():
    smoother = Smoother(alpha=0.3)
    for _ in range(5):
        smoother.update(Amounts(1, 1000, 0))
    after_spike = smoother.update(Amounts(4, 1000, 0))
    assert after_spike.cpus < 2.0
    for _ in range(30):
        settled = smoother.update(Amounts(4, 1000, 0))
    assert settled.cpus == pytest.approx(4, abs=0.01)


def test_small_moves_are_not_worth_a_capacity_message():
    ports = ((31000, 32000),)

    def cap(cpus: float, mem: float) -> Capacity:
        return Capacity(total=MACHINE, spare=Amounts(cpus, mem, 0), ports=ports,
                        spare_ports=ports)

    threshold = ChangeThreshold(cpus=0.1, mem=64, disk=256)
    assert threshold.changed(None, cap(1, 1000))
    assert not threshold.changed(cap(1, 1000), cap(1.05, 1030))
    assert threshold.changed(cap(1, 1000), cap(1.2, 1000))
    assert threshold.changed(cap(1, 1000), cap(1, 900))
    assert threshold.changed(cap(1, 1000), Capacity(total=MACHINE, spare=Amounts(1, 1000, 0),
                                                    ports=ports, spare_ports=()))


amounts = st.builds(Amounts, st.floats(0, 64), st.floats(0, 1e6), st.floats(0, 1e7))


@given(used=amounts, berth=amounts, allocated=amounts, headroom=amounts)
def test_spare_never_negative_never_above_total(used, berth, allocated, headroom):
    sample = NodeSample(machine=Amounts(64, 1e6, 1e7), used=used)
    total = agent_total(sample.machine, parse_resources("cpus:16"))
    spare = spare_capacity(total, incumbent_share(sample, berth, total), allocated, headroom)
    for value, limit in zip(spare.as_tuple(), total.as_tuple(), strict=True):
        assert 0 <= value <= limit
