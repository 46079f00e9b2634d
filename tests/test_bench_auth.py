"""`berth bench auth` runs both sides in one command and reports their ratios (no timing
is asserted: the machine is shared)."""

from __future__ import annotations

from benchmarks.auth_overhead import run


def test_the_auth_benchmark_loads_an_open_and_a_secured_framework_and_compares_them():
    out = run(seconds=0.3, concurrency=2, rounds=1)
    assert set(out["posts_per_second"]) == {"none", "basic", "bearer"}
    assert all(r[0] > 0 for r in out["posts_per_second"].values())  # every POST was a 202
    assert out["ratio_basic"] > 0 and out["ratio_bearer"] > 0
    assert isinstance(out["meets_target"], bool)
