"""Shared test configuration: hypothesis profiles and the `slow` marker.

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


# ---------------------------------------------------------------- slow tests
# The README's command (``python -m pytest -q``) runs the quick suite; the tests below take the longest
# (measured: ``python -m pytest -q --durations=40``) and are marked ``slow``, deselected by default.
# CI runs them as well: ``python -m pytest -q --run-slow`` (or only them: ``-m slow``).  A test file may
# also mark its own tests with ``@pytest.mark.slow``; this list marks tests of files that do not.
SLOW_TESTS = frozenset({
    "tests/test_claims_corpus.py::test_corpus_verdicts",                      # ~50 s: every corpus claim
    "tests/test_packaging.py::test_mypy_finds_no_errors",                     # ~25 s: mypy over the package
    "tests/test_latex.py::test_library_is_up_to_date",                        # ~20 s: rebuilds proofs/
    "tests/test_latex.py::test_library_compiles",                             # ~17 s: pdflatex on proofs/
    "tests/test_claims_matrices.py::test_wider_networks_are_checked_within_the_bound",  # ~13 s
    "tests/test_graph_realworld.py::test_engine_matches_torch_autograd[group_norm_2d]",  # ~11 s
    "tests/test_graph_realworld.py::test_controlnet_zero_conv_first_moves",   # ~9 s
    "tests/test_prover.py::test_soundness_on_real_trajectories",              # ~9 s: hypothesis, real training
    "tests/test_claims_safety.py::test_fuzz_arbitrary_text",                  # ~8 s: hypothesis fuzzing
    "tests/test_deep.py::test_deep_proofs_hold_on_trajectories[gelu-init2]",  # ~7 s
    # measured in the full run of 21:40 (seconds on a 2-core machine at load 1.5-6)
    "tests/test_checker_heldout.py::test_heldout_set_has_no_wrong_verdict",          # 25 s
    "tests/test_checker_heldout.py::test_doubled_and_negated_right_lines_are_never_proved",  # 10 s
    "tests/test_everyday_cli.py::test_demo_pdfs_have_every_reference_resolved",       # 15 s: pdflatex
    "tests/test_everyday_cli.py::test_demo_without_matplotlib_writes_every_tex_and_one_note",  # 11 s
    "tests/test_everyday_cli.py::test_module_is_imported_from_the_current_directory_by_the_installed_script",  # 10 s
    "tests/test_claims_matrices.py::test_matrix_form_and_entry_form_get_the_same_verdict",  # 8.5 s
    "tests/test_export_models.py::test_gpt2_zero_mlp_output_projection",              # 7 s
    "tests/test_export_models.py::test_peft_lora_b_moves_at_step_1_then_a_at_step_2[llama]",  # 7 s
    "tests/test_export_models.py::test_bert_zero_output_dense",                       # 5 s
    "tests/test_export_models.py::test_llama_zero_down_projection",                   # 5 s
    "tests/test_checker_derivations.py::test_numpy_broadcasting_of_a_bias",           # 6 s
    "tests/test_extend.py::test_the_docstring_examples_run",                          # 6 s
    "tests/test_latex.py::test_library_readme_states_each_theorem",                   # 13 s: builds the library
    "tests/test_vision_lumping.py::test_quotient_through_convolutions_equals_entry_gradients[<lambda>3]",  # 10 s
    "tests/test_vision_lumping.py::test_quotient_through_convolutions_equals_entry_gradients[<lambda>1]",  # 5 s
    "tests/test_vision_models.py::test_diffusers_controlnet_zero_convolutions_as_shipped",  # 10 s
})


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run the tests marked slow (CI does; the README's command skips them)")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes long; deselected unless --run-slow or -m selects it")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid in SLOW_TESTS:
            item.add_marker("slow")
    if config.getoption("--run-slow") or config.getoption("markexpr"):
        return  # everything, or what the -m expression chooses
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]
