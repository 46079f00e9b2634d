"""The placement core as it was before issue 16's speed work, kept only so the benchmark
and the tests can replay `place()` calls against it and show the fast core places the
same: never imported by the product."""
