"""Issue 19, the reliability probe's findings: each one refused in one line (or answered)."""
from __future__ import annotations

import math

import pytest
import sympy as sp

import symderiv as sd
from symderiv.errors import SymderivError

NET = sd.mlp([2, 2, 2], "tanh")


@pytest.mark.parametrize("name", [r"\input{/etc/passwd}", r"c\\", "c}", "$c$", "c d", "%c"])
def test_an_init_constant_named_with_latex_markup_is_refused(name):
    with pytest.raises(SymderivError, match="symbol name .* is not accepted") as info:
        sd.analyze(NET, sd.constant(sp.Symbol(name)))
    assert "\n" not in str(info.value)


def test_a_width_symbol_named_with_latex_markup_is_refused():
    with pytest.raises(SymderivError, match="is not accepted"):
        sd.mlp([2, sp.Symbol(r"\input{x}", integer=True, positive=True), 2])


def test_a_plain_constant_name_reaches_latex_as_mathematics():
    tex = sd.analyze(NET, sd.constant(sp.Symbol("c_1"))).to_latex()
    assert r"\input" not in tex and "c_{1}" in tex


@pytest.mark.parametrize("seconds", [math.nan, -1, 0, math.inf])
def test_analyze_rejects_seconds_that_are_not_a_positive_finite_number(seconds):
    with pytest.raises(SymderivError, match="seconds"):
        sd.analyze(NET, sd.zeros(), seconds=seconds)


@pytest.mark.parametrize("name", ["x_1", "y_2", "p_1", "x1"])
def test_an_init_constant_named_as_a_data_symbol_is_refused(name):
    with pytest.raises(SymderivError, match="name of a data symbol"):
        sd.analyze(NET, sd.constant(sp.Symbol(name, real=True)))
    with pytest.raises(SymderivError, match="name of a data symbol"):
        sd.analyze(NET, {"W1": [[sp.Symbol(name), 0], [0, 0]], "*": sd.zeros()})


def test_an_explicit_init_may_carry_generic_entry_symbols():
    """Exceptional-value search substitutes some generic entries and keeps the others' symbols."""
    w = sp.Symbol("W1_1_2", real=True)
    a = sd.analyze(NET, {"W1": [[0, w], [0, 0]], "*": sd.zeros()})
    assert a.proof is not None


def test_width_symbols_must_be_declared_positive_integers():
    with pytest.raises(SymderivError, match="must be declared a positive integer"):
        sd.mlp([2, sp.Symbol("m"), 2])
    with pytest.raises(SymderivError, match="must be declared a positive integer"):
        sd.mlp([2, sp.Symbol("m", real=True), 2])
    m = sp.Symbol("m", integer=True, positive=True)
    assert sd.mlp([2, m, 2]).sizes[1] == m
    assert sd.mlp([2, "m", 2]).sizes[1].is_positive  # a name is made a positive integer


def test_a_misspelled_keyword_is_pythons_type_error_naming_it():
    with pytest.raises(TypeError, match=r"analyze\(\) got an unexpected keyword argument 'optimiser'"):
        sd.analyze(NET, sd.zeros(), optimiser="sgd")
    with pytest.raises(TypeError, match="unexpected keyword argument 'sed'"):
        sd.verify(NET, sd.zeros(), sed=1)


def test_a_depth_1000_sigmoid_zero_init_analysis_returns_a_one_line_bounded_answer():
    with pytest.raises(SymderivError, match="zero front moves back one layer per step") as info:
        sd.analyze(sd.mlp([2] + [2] * 1000 + [2], "sigmoid"), sd.zeros())
    assert "\n" not in str(info.value) and "analyze_member(net, init)" in str(info.value)
    from symderiv.depth import analyze_member  # the call the message names answers at once

    member = analyze_member(sd.mlp([2] + [2] * 1000 + [2], "sigmoid"), sd.zeros())
    assert "Depth L = 1001" in member.summary()


def test_deep_networks_whose_front_does_not_move_are_still_analyzed():
    a = sd.analyze(sd.mlp([2] + [2] * 200 + [2], "tanh"), sd.zeros())  # tanh(0) = 0: nothing iterates
    assert a.proof.first_moves


def test_the_notebook_repr_of_a_refuted_verdict_shows_its_counterexample():
    v = sd.check("dL/dW1[i,j] = (p[i] - y[i]) * x[i]", sd.mlp([3, 3], "tanh"))
    assert v.status == "refuted"
    latex = v._repr_latex_()
    assert "counterexample" in latex and "x\\_1 = " in latex
