"""Settings every test shares."""

from hypothesis import settings

# No per-example time limit: machines here are shared and noisy, and a property test
# must fail on behaviour, never on how busy the machine was.
settings.register_profile("berth", deadline=None)
settings.load_profile("berth")
