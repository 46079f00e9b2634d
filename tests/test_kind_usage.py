"""Task intelligence per kind of task (framework/kind_usage.py): pure, on an injected clock."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from framework.kind_usage import KindSettings, KindUsage, clamp_size, kind_key
from offers.task import MIN_CPUS, MIN_MEM_MIB, parse_task

HOUR = 3600.0


def spec(cpus=1.0, mem=1024.0, args=(), image="berth/stress", **more):
    return parse_task({"id": "t", "dockerimage": image, "cpus": cpus, "mem": mem,
                       "arguments": list(args), **more})


def test_a_kind_is_its_image_arguments_and_requested_shape_not_its_id_or_env():
    base = spec(args=("--vm-bytes", "60M"))
    assert kind_key(base) == kind_key(base.model_copy(update={"id": "other",
                                                               "env": {"A": "1"}}))
    assert kind_key(base) != kind_key(spec(args=("--vm-bytes", "90M")))
    assert kind_key(base) != kind_key(spec(args=("--vm-bytes", "60M"), mem=2048))
    assert kind_key(base) != kind_key(spec(args=("--vm-bytes", "60M"), image="berth/x"))


def test_a_kind_is_known_after_enough_instances_and_sized_on_its_peak_plus_margin():
    kinds = KindUsage(KindSettings(min_instances=2, margin=0.1))
    s = spec()
    kinds.observe(kind_key(s), 0.2, 200.0, 0.0, "t-1")
    kinds.observe(kind_key(s), 0.3, 150.0, 10.0, "t-1")  # one instance: not yet known
    assert kinds.size(s, 20.0) is None
    kinds.observe(kind_key(s), 0.1, 300.0, 30.0, "t-2")
    cpus, mem = kinds.size(s, 40.0)
    assert (round(cpus, 6), round(mem, 6)) == (0.33, 330.0)
    # The job's own metered peak wins over its kind's.
    cpus, mem = kinds.size(s, 40.0, own_peak=(0.5, 100.0))
    assert (round(cpus, 6), round(mem, 6)) == (0.55, 110.0)


def test_the_estimate_follows_the_kind_after_the_window():
    kinds = KindUsage(KindSettings(window=HOUR, buckets=4, min_instances=1, margin=0.0))
    s = spec()
    kinds.observe(kind_key(s), 0.9, 900.0, 0.0, "a")
    kinds.observe(kind_key(s), 0.2, 200.0, HOUR / 2, "b")
    assert kinds.peak(kind_key(s), HOUR / 2) == (0.9, 900.0)
    # A window later the old peak has dropped out: only what the kind uses now counts.
    assert kinds.peak(kind_key(s), 1.2 * HOUR) == (0.2, 200.0)
    # With nothing metered for a whole window, the kind is not known: its request again.
    assert kinds.size(s, 3 * HOUR) is None


def test_kinds_are_bounded_least_recently_used_forgotten_first():
    kinds = KindUsage(KindSettings(max_kinds=2, min_instances=1))
    a, b, c = spec(args=("a",)), spec(args=("b",)), spec(args=("c",))
    kinds.observe(kind_key(a), 0.1, 10.0, 0.0, "a")
    kinds.observe(kind_key(b), 0.1, 10.0, 1.0, "b")
    assert kinds.peak(kind_key(a), 2.0) is not None  # a is used: b is now the oldest
    kinds.observe(kind_key(c), 0.1, 10.0, 3.0, "c")
    assert len(kinds) == 2
    assert kinds.peak(kind_key(b), 4.0) is None
    assert kinds.peak(kind_key(a), 4.0) is not None and kinds.peak(kind_key(c), 4.0)


def test_a_kind_that_ran_out_of_memory_is_placed_on_its_request_for_a_while():
    kinds = KindUsage(KindSettings(window=HOUR, min_instances=1, distrust=2 * HOUR))
    s = spec()
    kinds.observe(kind_key(s), 0.1, 100.0, 0.0, "a")
    assert kinds.size(s, 1.0) is not None
    kinds.out_of_memory(kind_key(s), 2.0)
    kinds.observe(kind_key(s), 0.1, 100.0, 3.0, "b")
    assert kinds.size(s, 4.0) is None
    kinds.observe(kind_key(s), 0.1, 120.0, 2 * HOUR + 3, "c")
    assert kinds.size(s, 2 * HOUR + 4) is not None  # trusted again, learned afresh


usage = st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=100, deadline=None)
@given(cpus=st.floats(min_value=0.01, max_value=64), mem=st.floats(min_value=4, max_value=1e5),
       samples=st.lists(st.tuples(usage, usage, st.floats(0, 10 * HOUR)), max_size=20),
       margin=st.floats(0, 2), floor_share=st.floats(0, 1),
       now=st.floats(0, 12 * HOUR))
def test_the_sized_demand_is_never_above_the_request_nor_below_the_floor(
        cpus, mem, samples, margin, floor_share, now):
    s = spec(cpus=cpus, mem=mem)
    kinds = KindUsage(KindSettings(window=HOUR, buckets=3, margin=margin, min_instances=1,
                                   floor_share=floor_share))
    for k, (c, m, at) in enumerate(sorted(samples, key=lambda x: x[2])):
        kinds.observe(kind_key(s), c, m, at, f"t-{k}")
    size = kinds.size(s, now)
    if size is None:
        return
    for got, asked, smallest in ((size[0], cpus, MIN_CPUS), (size[1], mem, MIN_MEM_MIB)):
        assert got <= asked
        assert got >= min(asked, max(smallest, floor_share * asked))


@given(peak=st.tuples(usage, usage), margin=st.floats(0, 2))
def test_clamp_grows_with_the_peak_up_to_the_request(peak, margin):
    s = spec(cpus=2.0, mem=2048.0)
    low = clamp_size(s, (peak[0] / 2, peak[1] / 2), margin, 0.1)
    high = clamp_size(s, peak, margin, 0.1)
    assert low[0] <= high[0] <= 2.0 and low[1] <= high[1] <= 2048.0


@settings(max_examples=50, deadline=None)
@given(old=st.lists(st.tuples(usage, usage), min_size=1, max_size=10),
       new=st.lists(st.tuples(usage, usage), min_size=1, max_size=10))
def test_after_a_window_only_what_the_kind_used_since_counts(old, new):
    kinds = KindUsage(KindSettings(window=HOUR, buckets=4, min_instances=1))
    key = kind_key(spec())
    for k, (c, m) in enumerate(old):
        kinds.observe(key, c, m, k, f"old-{k}")
    for k, (c, m) in enumerate(new):
        kinds.observe(key, c, m, 2 * HOUR + k, f"new-{k}")
    assert kinds.peak(key, 2 * HOUR + 60) == (max(c for c, _ in new), max(m for _, m in new))


def test_sizing_cpus_only_keeps_the_requested_memory_and_so_the_memory_limit():
    kinds = KindUsage(KindSettings(min_instances=1, size_memory=False))
    s = spec(cpus=2.0, mem=2048.0)
    kinds.observe(kind_key(s), 0.5, 100.0, 0.0, "a")
    assert kinds.size(s, 1.0) == (0.55, 2048.0)
