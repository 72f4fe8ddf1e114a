"""Shared test configuration: hypothesis profiles.

Choose one with ``SYMDERIV_HYPOTHESIS_PROFILE`` (unset means ``dev``, the README's command):

* ``dev`` (the default): random examples, a fresh seed each run, the example database in
  ``.hypothesis/`` (git-ignored), so a failure found once is replayed until it is fixed.
  That is only right because no property test may fail on valid random data: a saved
  failing example must be a real bug, never an unlucky draw against a loose threshold.
* ``ci`` (set by ``.ci/run``): derandomized (a fixed seed), no database: quick and repeatable.
* ``thorough``: many more examples, for long runs before a release:
  ``SYMDERIV_HYPOTHESIS_PROFILE=thorough python -m pytest -q``.

Every profile: no deadline (a 2-core shared machine can stall any example), the slow-data
health check off for the same reason, and ``print_blob`` on, so a failure prints the
``@reproduce_failure(...)`` line that replays it exactly.
"""
import os
import sys

from hypothesis import HealthCheck, settings

_COMMON = dict(
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("ci", max_examples=25, database=None, derandomize=True, **_COMMON)
settings.register_profile("dev", max_examples=40, **_COMMON)
settings.register_profile("thorough", max_examples=400, **_COMMON)

_PROFILES = ("dev", "ci", "thorough")
_profile = os.environ.get("SYMDERIV_HYPOTHESIS_PROFILE", "dev")
if _profile not in _PROFILES:
    raise SystemExit(f"SYMDERIV_HYPOTHESIS_PROFILE must be one of {', '.join(_PROFILES)}, got {_profile!r}")
settings.load_profile(_profile)

# symderiv raises the recursion limit for deep closed forms (engine.ensure_recursion_limit);
# set it once up front so hypothesis, which saves and restores the limit, never sees it move.
sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
