"""Property: each statement proved for a symbolic depth agrees, at random concrete depths up to 12, with
an independent concrete analysis (symderiv.analyze, its own prover and certified witnesses) and with real
torch.optim runs (SGD, Adam) of the member.  Few examples: the machine is shared."""
from __future__ import annotations

import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st

import symderiv as sd
from symderiv.depth import analyze_depth, mlp_family, rezero_family

pytest.importorskip("torch")

STATEMENTS = {
    "zero_init_tanh": (lambda: mlp_family(3, "n", "L", 3, "tanh"), lambda: sd.zeros()),
    "zero_init_relu": (lambda: mlp_family(2, "n", "L", 2, "relu"), lambda: sd.zeros()),
    "zero_init_sigmoid": (lambda: mlp_family(3, "n", "L", 2, "sigmoid"), lambda: sd.zeros()),
    "zero_init_softplus": (lambda: mlp_family(2, "n", "L", 3, "softplus"), lambda: sd.zeros()),
    "constant_init": (lambda: mlp_family(3, "n", "L", 3, "tanh"), lambda: sd.constant(sp.Symbol("c"))),
    "constant_init_relu": (lambda: mlp_family(2, "n", "L", 2, "relu"), lambda: sd.constant(sp.Rational(1, 2))),
    "zero_last_layer": (lambda: mlp_family(2, 2, "L", 2, "tanh"), lambda: {"last": sd.zeros(), "*": sd.generic()}),
}

_CACHE: dict = {}


def _analysis(key: str):
    if key not in _CACHE:
        if key == "rezero":
            _CACHE[key] = analyze_depth(rezero_family(2, "L"))
        else:
            family, init = STATEMENTS[key]
            _CACHE[key] = analyze_depth(family(), init())
    return _CACHE[key]


@pytest.mark.slow  # ~8 s: concrete analyses and torch runs (CI runs it: --run-slow)
@settings(max_examples=4)
@given(key=st.sampled_from(sorted(STATEMENTS)), depth=st.integers(2, 12), seed=st.integers(0, 3))
def test_mlp_statement_matches_concrete_analysis_and_torch(key, depth, seed):
    a = _analysis(key)
    assert a.proved
    report = a.verify(depths=(depth,), seed=seed)
    kinds = {c.kind for c in report.checks}
    assert kinds == {"concrete_analysis", "torch_trajectory"} and len(report.checks) >= 3  # + AdamW for zeros
    assert report.ok, str(report)


@settings(max_examples=2)
@given(depth=st.integers(1, 12), seed=st.integers(0, 3))
def test_rezero_statement_matches_concrete_analysis_and_torch(depth, seed):
    a = _analysis("rezero")
    report = a.verify(depths=(depth,), seed=seed)
    assert len(report.checks) == 3 and report.ok, str(report)


@settings(max_examples=3)
@given(key=st.sampled_from(sorted(STATEMENTS)), depth=st.integers(2, 12))
def test_statement_at_a_depth_is_its_formula(key, depth):
    """The statement read at a depth (no symbolic work) is the symbolic one evaluated there."""
    a = _analysis(key)
    member = a.at(depth)
    for fact in a.theorem.facts:
        lo, hi = (int(e.subs(a.family.depth, depth)) for e in (fact.lo, fact.hi))
        for l in range(lo, hi + 1):
            for kind in fact.params:
                got = member.facts[f"{kind}{l}"]
                assert got.stays_zero == fact.stays_zero
                assert got.first_move == fact.step_at(depth, l)
