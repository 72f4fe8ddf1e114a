"""Statements for every depth (symderiv.depth): the five classic statements proved for a symbolic L, their
faces (summary, JSON, LaTeX), the statement at a concrete depth without symbolic work, rejections, and
one-line errors.  Comparisons with concrete analyses and torch runs at random depths are in
tests/test_depth_properties.py."""
from __future__ import annotations

import importlib.util

import dataclasses
import re
import shutil
from pathlib import Path

import pytest
import sympy as sp

import symderiv as sd
from symderiv.depth import analyze_depth, mlp_family, rezero_family
from symderiv.depth.statement import ELL, TIGHT_CONCRETE, TIGHT_EVERY_DEPTH
from symderiv.errors import InitError, InvalidArgument, NetworkError, SizeLimitError, SymderivError

L = sp.Symbol("L", integer=True, positive=True)
C = sp.Symbol("c")


@pytest.fixture(scope="module")
def five():
    """The five statements of issue 20, each proved once for a symbolic depth."""
    return {
        "a": analyze_depth(mlp_family(4, "n", "L", 3, "tanh"), sd.zeros()),
        "b": analyze_depth(mlp_family(3, "n", "L", 2, "sigmoid"), sd.zeros()),
        "c": analyze_depth(mlp_family(4, "n", "L", 3, "tanh"), sd.constant(C)),
        "d": analyze_depth(mlp_family(3, 3, "L", 2, "tanh"), {"last": sd.zeros(), "*": sd.generic()}),
        "e": analyze_depth(rezero_family(2, "L")),
    }


def _fact(a, kind, layer_hi):
    return next(f for f in a.theorem.facts if kind in f.params and sp.simplify(f.hi - layer_hi) == 0)


# ---------------------------------------------------------------- the five statements
def test_every_statement_is_proved_by_its_schema(five):
    schemas = {k: a.theorem.schema for k, a in five.items()}
    assert schemas == {"a": "fixed_point", "b": "front", "c": "constant", "d": "zero_last", "e": "rezero"}
    for a in five.values():
        assert a.proved and a.theorem.checks and all(c.holds for c in a.theorem.checks)
        kinds = {s.kind for s in a.theorem.steps}
        assert kinds == {"lemma", "base", "step"}  # transfer lemma, base case, inductive step


def test_zero_init_fixed_point(five):
    a = five["a"]
    assert _fact(a, "W", L).stays_zero and _fact(a, "b", L - 1).stays_zero
    out = _fact(a, "b", L)
    assert not out.stays_zero and out.first_move == 1 and out.tight == TIGHT_EVERY_DEPTH
    assert a.theorem.identical_units


def test_sigmoid_front_moves_one_layer_per_step(five):
    a = five["b"]
    hidden = _fact(a, "W", L - 1)
    assert sp.expand(hidden.first_move - (L - ELL + 1)) == 0 and hidden.tight == TIGHT_CONCRETE
    assert _fact(a, "W", L).first_move == 1 and a.theorem.identical_units
    assert a.theorem.induction_variable == "t"


def test_constant_init_ties_and_moves(five):
    a = five["c"]
    assert a.theorem.identical_units
    assert _fact(a, "W", L).first_move == 1
    hidden = _fact(a, "W", L - 1)
    assert hidden.first_move == 2 and hidden.generic and hidden.exact_only  # rests on Σ_k δ_k = 0
    assert a.theorem.conditions


def test_zero_last_layer_and_rezero(five):
    d = five["d"]
    assert _fact(d, "W", L).first_move == 1 and _fact(d, "W", L - 1).first_move == 2
    assert not d.theorem.identical_units  # generic layers: no tie is claimed
    e = five["e"]
    alpha = next(f for f in e.theorem.facts if "alpha" in f.params)
    branch = next(f for f in e.theorem.facts if "f2.weight" in f.params)
    assert (alpha.first_move, branch.first_move) == (1, 2) and alpha.lo == 1 and alpha.hi == L


def test_mse_constant_init_moves_everything_at_step_one():
    """Without the softmax cancellation the hidden layers get a gradient at the init: the schema sees it."""
    a = analyze_depth(mlp_family(3, "n", "L", 2, "tanh", "mse"), sd.constant(sp.Rational(1, 2)))
    assert a.proved and _fact(a, "W", L - 1).first_move == 1 and not _fact(a, "W", L - 1).exact_only


# ---------------------------------------------------------------- the statement at one depth, without symbolic work
def test_depth_1000_reads_the_statement_without_the_engine(five, monkeypatch):
    from symderiv.depth import window

    def refuse(*args, **kwargs):
        raise AssertionError("the engine ran for a concrete depth")

    for name in ("hidden_block", "first_block", "output_block", "generic_block", "rezero_block"):
        monkeypatch.setattr(window, name, refuse)
    m = five["b"].at(1000)
    assert [m.first_move_step(f"W{l}") for l in (1, 500, 999, 1000)] == [1000, 501, 2, 1]
    assert five["a"].at(1000).stays_zero("W1000") and not five["a"].at(1000).stays_zero("b1000")
    assert five["e"].at(1000).first_move_step("blocks.999.f1.weight") == 2


def test_one_fact_at_any_depth_in_constant_time(five):
    assert five["b"].fact("W1", 10**9).first_move == 10**9 and five["b"].fact("b999999999", 10**9).first_move == 2
    assert five["e"].fact("blocks.41.f1.bias", 42).first_move == 2 and five["e"].fact("alpha.41", 42).tight
    with pytest.raises(InvalidArgument, match="no statement about a parameter named 'W6' at depth 5"):
        five["b"].fact("W6", 5)
    with pytest.raises(InvalidArgument, match="'blocks.3.f1.weight' at depth 3"):
        five["e"].fact("blocks.3.f1.weight", 3)


def test_a_concrete_network_read_as_a_member_agrees_with_its_own_analysis():
    """analyze_member answers a depth-6 network from the family's statement; symderiv.analyze proves the same
    network on its own: the first moves and zeros agree entry by entry."""
    from symderiv.depth import analyze_member

    for net, init in ((sd.mlp([3, 2, 2, 2, 2, 2, 2], "sigmoid"), sd.zeros()),
                      (sd.mlp([3, 2, 2, 2, 2], "tanh"), {"W4": sd.zeros(), "b4": sd.zeros(), "*": sd.generic()})):
        member, own = analyze_member(net, init), sd.analyze(net, init)
        for name in net.parameter_names():
            fact = member.facts[name]
            assert fact.first_move == own.first_move_step(name, (0, 0) if name[0] == "W" else (0,)), name
            assert fact.stays_zero == own.stays_zero(name, (0, 0) if name[0] == "W" else (0,)), name
    deep = analyze_member(sd.mlp([3] + [4] * 999 + [2], "sigmoid"), sd.zeros())
    assert deep.first_move_step("W1") == 1000 and "1001 - l" in deep.summary()


@pytest.mark.parametrize("net, init, words", [
    (sd.mlp([3, 4, 5, 2]), sd.zeros(), "hidden widths"),
    (sd.mlp([3, 2]), sd.zeros(), "no hidden layer"),
    (sd.mlp([3, 4, 4, 2]), {"W2": sd.constant(1), "*": sd.zeros()}, "do not share one init"),
])
def test_a_network_that_is_no_member_is_refused(net, init, words):
    from symderiv.depth import analyze_member
    from symderiv.errors import UnsupportedError

    with pytest.raises(UnsupportedError, match=words):
        analyze_member(net, init)


def test_member_statement_names_what_it_knows(five):
    with pytest.raises(InvalidArgument, match="no parameter named 'W9'"):
        five["b"].at(3).first_move_step("W9")
    with pytest.raises(NetworkError, match="L ≥ 2"):
        five["b"].at(1)


# ---------------------------------------------------------------- undecided, and checks that are really computed
def test_kinked_constant_init_proves_lower_bounds_and_leaves_the_moves_open():
    """ReLU at a constant init: identical units and "unchanged before step 2" for every depth; when the layers
    move needs analyticity, so it is said to be open and not claimed."""
    a = analyze_depth(mlp_family(3, "n", "L", 3, "relu"), sd.constant(1))
    assert a.proved and a.theorem.schema == "constant_lower_bounds" and a.theorem.identical_units
    hidden = _fact(a, "W", L - 1)
    assert hidden.first_move == 2 and not hidden.can_move and hidden.tight is None
    assert not any("W" in f.params and f.hi == L for f in a.theorem.facts)  # W^(L): nothing claimed
    assert a.theorem.open_questions and "Not decided" in a.summary()
    assert a.verify(depths=(3,), torch=importlib.util.find_spec("torch") is not None).ok


def test_no_schema_is_undecided_and_claims_nothing():
    a = analyze_depth(mlp_family(2, 2, "L", 2, "tanh"), {"first": sd.generic(), "hidden": sd.zeros(),
                                                          "last": sd.constant(1)})
    assert not a.proved and a.theorem.facts == [] and a.theorem.undecided
    assert "Undecided" in a.summary() and a.to_dict()["statement"]["proved"] is False
    assert "nothing is claimed" in a.to_latex()
    report = a.verify(depths=(2,))
    assert report.checks == [] and report.notes
    assert a.at(5).facts == {}
    with pytest.raises(SymderivError, match="nothing is claimed"):
        a.fact("W1", 5)


def test_rezero_under_softmax_is_undecided_with_the_failing_check():
    """Softmax labels do not reach every output delta (R4 fails): the ReZero family states nothing."""
    a = analyze_depth(rezero_family(2, "L", loss="softmax_cross_entropy"))
    assert not a.proved and a.theorem.facts == [] and "R4" in a.theorem.undecided[0]
    assert a.at(3).facts == {} and "R4" in a.summary()


def test_a_failing_engine_check_makes_the_family_undecided(monkeypatch):
    """f(0) = 1, f'(0) = 0: the front schema applies by shape, but its check f'(0) ≠ 0 fails on the engine's
    value, so nothing is claimed (the checks are computed, not assumed)."""
    from symderiv import activations

    monkeypatch.setattr(activations, "_REGISTRY", dict(activations._REGISTRY))  # the test's entry goes with it
    activations.register_activation("depth_test_flat", lambda z: 1 + z ** 3)
    a = analyze_depth(mlp_family(2, "n", "L", 2, "depth_test_flat"), sd.zeros())
    assert not a.proved and any("B2" in u for u in a.theorem.undecided)


def test_verify_rejects_a_fabricated_front():
    """A theorem whose front is one step late is refuted by the concrete analysis and by torch."""
    pytest.importorskip("torch", reason="the torch runs are half of what this test checks")
    a = analyze_depth(mlp_family(3, "n", "L", 2, "sigmoid"), sd.zeros())
    facts = [dataclasses.replace(f, first_move=f.first_move + 1) if f.first_move != 1 else f for f in a.theorem.facts]
    wrong = dataclasses.replace(a, theorem=dataclasses.replace(a.theorem, facts=facts))
    report = wrong.verify(depths=(3,))
    kinds = {c.kind for c in report.failures()}
    assert kinds == {"concrete_analysis", "torch_trajectory"}, str(report)


def test_verify_rejects_a_fabricated_zero():
    pytest.importorskip("torch", reason="the torch runs are half of what this test checks")
    a = analyze_depth(mlp_family(3, "n", "L", 2, "tanh"), sd.zeros())
    facts = [dataclasses.replace(f, stays_zero=True, first_move=None) if f.hi == L and "b" in f.params else f
             for f in a.theorem.facts]
    wrong = dataclasses.replace(a, theorem=dataclasses.replace(a.theorem, facts=facts))
    report = wrong.verify(depths=(2,))
    assert not report.ok and "b2" in str(report)


# ---------------------------------------------------------------- faces
def test_json_is_deterministic_and_states_the_symbolic_statement(five):
    from symderiv.jsontext import dumps

    for key, a in five.items():
        data = a.to_dict()
        assert a.to_json() == dumps(data)
        assert data["statement"]["proved"] and data["depth"]["symbol"] == "L"
        assert data["proof"]["engine_checks"] and data["proof"]["induction"]
    again = analyze_depth(mlp_family(3, "n", "L", 2, "sigmoid"), sd.zeros())
    assert again.to_json() == five["b"].to_json() and again.to_latex() == five["b"].to_latex()
    steps = [f["first_move_step"] for f in five["b"].to_dict()["statement"]["facts"]]
    assert steps == ["1", "L - l + 1"]


def test_faces_are_byte_identical_across_processes():
    """Two interpreters with different hash seeds write the same JSON and LaTeX (no set order leaks)."""
    import hashlib
    import os
    import subprocess
    import sys

    code = ("import hashlib, symderiv as sd; a = sd.analyze_depth(sd.mlp_family(3, 'n', 'L', 2, 'sigmoid'), 'zeros'); "
            "r = sd.analyze_depth(sd.rezero_family(2, 'L')); "
            "print(hashlib.sha256((a.to_json() + a.to_latex() + r.to_json() + r.to_latex()).encode()).hexdigest())")
    root = Path(__file__).resolve().parent.parent
    digests = {subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip() for seed in ("1", "977")}
    assert len(digests) == 1 and len(next(iter(digests))) == 64, digests
    assert hashlib.sha256(b"").hexdigest() not in digests


def test_json_shows_no_internal_names(five):
    from tests.test_api_naming import LEAK

    for a in five.values():
        assert not LEAK.findall(a.to_json())


def test_prose_uses_the_family_s_own_names():
    a = analyze_depth(mlp_family(3, "m", "N", 2, "sigmoid"), sd.zeros())
    text = a.summary() + " ".join(s.text for s in a.theorem.steps) + a.theorem.headline
    assert "N - l + 1" in text and "δ^(N−t)" in text and "f'(0)·m·u" in text
    assert not re.search(r"\bL\b", text) and not re.search(r"\bn\b", text)
    assert a.at(7).first_move_step("W2") == 6


def test_summary_states_the_theorem_and_its_scope(five):
    text = five["b"].summary()
    assert "every depth L ≥ 2" in text and "L - l + 1" in text and "class 'coordinatewise'" in text
    assert "identical" in text
    assert "exact cancellation" in five["c"].summary()


needs_pdflatex = pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")


@needs_pdflatex
def test_latex_proofs_by_induction_compile_without_warnings(five, tmp_path):
    from tests.test_latex import _compile, _overfull_points, _warnings

    for key, a in five.items():
        tex = a.to_latex()
        for part in (r"\begin{lemma}", "Base case", "Inductive step", r"\label{thm:depth}"):
            assert part in tex, (key, part)
        log = _compile(tex, tmp_path, f"depth_{key}")
        assert _warnings(log) == [] and all(w <= 1.0 for w in _overfull_points(log)), key


def test_latex_escapes_and_has_no_unmapped_characters(five):
    for a in five.values():
        tex = a.to_latex(title="A & B_1: 50% {x}")
        body = tex.split("\n", 2)[2]  # after the headline comment, which keeps the plain text
        assert not re.search(r"[^\x00-\x7f]", body), re.findall(r"[^\x00-\x7f]", body)[:5]
        assert "?" not in body  # latex_text writes "?" for a character it cannot map


def test_committed_depth_proofs_are_current():
    pytest.importorskip("torch", reason="proofs/build.py renders the whole library, whose graph results need torch")
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "proofs"))
    import build

    for r in build.RESULTS:
        if r.name.startswith("depth_"):
            path = Path(build.HERE) / f"{r.name}.tex"
            assert path.read_text(encoding="utf-8") == r.document(r.analysis()), r.name


# ---------------------------------------------------------------- bad input: one line each
@pytest.mark.parametrize("call, error, words", [
    (lambda: mlp_family(4, "n", 3, 3), NetworkError, "depth must be a symbol name"),
    (lambda: mlp_family(4, "L", "L", 3), NetworkError, "different symbols"),
    (lambda: mlp_family(4, "n", "l", 3), NetworkError, "a name the proofs use themselves"),
    (lambda: mlp_family(4, "L", "N", 3), NetworkError, "cannot be 'L'"),
    (lambda: mlp_family(4, "Λ", "L", 3), NetworkError, "ASCII letters and digits"),
    (lambda: analyze_depth(mlp_family(4, "n", "L", 3), sd.constant(sp.Symbol("u"))), InitError, "the proofs use"),
    (lambda: mlp_family(0, "n", "L", 3), NetworkError, "n_in must be a positive integer"),
    (lambda: mlp_family(4, "n", "L", 3, ["tanh", "relu"]), NetworkError, "one activation"),
    (lambda: mlp_family(4, "n", "L", 1), NetworkError, "needs at least 2 outputs"),
    (lambda: analyze_depth(mlp_family(4, "n", "L", 3), {"hiden": sd.zeros(), "*": sd.zeros()}), InitError,
     "accepted keys: first, hidden, last"),
    (lambda: analyze_depth(mlp_family(4, "n", "L", 3), sd.generic()), InitError, "needs a concrete width"),
    (lambda: analyze_depth(mlp_family(4, 20, "L", 3), sd.generic()), SizeLimitError, "at most 8"),
    (lambda: analyze_depth(mlp_family(4, "n", "L", 3)), InvalidArgument, "needs an init"),
    (lambda: analyze_depth(rezero_family(2, "L"), sd.zeros()), InvalidArgument, "carries its init"),
    (lambda: analyze_depth(sd.mlp([2, 2, 2])), InvalidArgument, "needs a family"),
    (lambda: rezero_family(2, "L", activation="relu"), NetworkError, "smooth branch activation"),
    (lambda: rezero_family(2, "L", loss="hinge"), NetworkError, "loss must be one of"),
    (lambda: analyze_depth(rezero_family(2, "L")).verify(depths=(0,)), InvalidArgument, "depths must be"),
])
def test_bad_input_one_line(call, error, words):
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert words in message and "\n" not in message and isinstance(info.value, SymderivError)
