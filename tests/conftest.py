"""Settings every test shares."""

from hypothesis import settings

# No per-example time limit: machines here are shared and noisy, and a property test
# must fail on behaviour, never on how busy the machine was.
settings.register_profile("berth", deadline=None)
settings.load_profile("berth")


def pytest_collection_modifyitems(config, items):
    """`@pytest.mark.slow` tests (a second node in a container, ...) run only when asked:
    `-m slow` (or any -m naming slow) or BERTH_SLOW=1; the default suite stays fast."""
    import os

    import pytest

    if "slow" in (config.getoption("markexpr") or "") or os.environ.get("BERTH_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow or BERTH_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
