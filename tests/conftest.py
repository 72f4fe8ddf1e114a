"""Shared test configuration: hypothesis profiles.

``SYMDERIV_HYPOTHESIS_PROFILE=ci`` (set by ``.ci/run``) bounds the examples,
turns the deadline and the example database off, so CI is quick and repeatable.
"""
import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("SYMDERIV_HYPOTHESIS_PROFILE", "dev"))

# symderiv raises the recursion limit for deep closed forms (engine.ensure_recursion_limit);
# set it once up front so hypothesis, which saves and restores the limit, never sees it move.
import sys  # noqa: E402

sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
