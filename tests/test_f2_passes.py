"""The analysis keeps its forward/backward passes (symderiv.passes) and every face reads them.

* on V(P*) the kept pass's gradients equal the prover's own last pass (an independent run of the
  engine with another abbreviation policy), after expanding every named z/δ;
* at the init they equal the public Derivation's gradients (symderiv.derive) and, numerically,
  central finite differences of the loss built from the kept pass's own z;
* the summary, JSON and LaTeX run the engine for the analysis's passes at most once per point:
  a second document runs it not at all, and the LaTeX context hands out the analysis's records.
"""
from __future__ import annotations

import random

import pytest
import sympy as sp

import symderiv as sd
from symderiv import passes as passes_module
from symderiv.closed_forms import expand_definitions
from symderiv.latex.context import Context
from symderiv.engine import backprop

CASES = [
    (sd.mlp([3, 2, 2]), sd.zeros()),
    (sd.mlp([2, 3, 2], "relu", "mse"), sd.constant(sp.Rational(1, 2))),
    (sd.mlp([2, 2, 2, 2], "sigmoid"), sd.generic()),
]


def _expanded(state, expr):
    return expand_definitions([expr], state.definitions)[0] if state.definitions else expr


@pytest.mark.parametrize("net, init", CASES)
def test_subspace_pass_matches_the_provers_own_pass(net, init):
    a = sd.analyze(net, init)
    p, state = a.proof, a.passes.on_subspace
    assert set(state.grad) == set(p.gradients_on_pattern)
    for b, g in state.grad.items():
        theirs = expand_definitions([p.gradients_on_pattern[b]], p.definitions)[0] if p.definitions else p.gradients_on_pattern[b]
        assert sp.simplify(_expanded(state, g) - theirs) == 0, b


def _numeric(expr, point):
    """The value at an exact point, to 40 digits (so a central difference with step 1e-8 keeps ~20)."""
    return sp.re(sp.N(expr.xreplace(point), 40))


@pytest.mark.parametrize("net, init", CASES)
def test_init_pass_matches_derive_and_finite_differences(net, init):
    a = sd.analyze(net, init)
    state = a.passes.at_init
    d = sd.derive(net, init)
    for name in net.parameter_names():
        for b in a._param_blocks(name):
            assert sp.expand(_expanded(state, state.grad[b]) - d.expand(d.grad(*_first_index(a, b)))) == 0
    # finite differences of the loss along one block of W1 (all its entries moved by t together:
    # the partition stays valid, and d loss / dt is the sum of the block's |C||D| equal gradients)
    rng = random.Random(0)
    point = {s: sp.Rational(rng.randint(-9, 9), 7) for s in d.x}
    point.update({s: sp.Rational(rng.randint(0, 5), 5) for s in d.label_symbols})
    point.update({s: sp.Rational(rng.randint(-9, 9), 11) for s in a.proof.init_symbols})  # a generic init's values
    part = a.proof.partition
    b = next(b for b in a.proof.blocks if b.kind == "W" and b.layer == 1)
    t = sp.Symbol("t", real=True)
    values = dict(a.proof.init_values)
    values[b] = values[b] + t
    moved = backprop(net, part, values, backward=False)
    loss = net.loss.value(moved.z[net.depth], moved.y)
    h = sp.Rational(1, 10**8)
    fd = float((_numeric(loss, {**point, t: h}) - _numeric(loss, {**point, t: -h})) / (2 * h))
    entries = part.classes[1][b.row].size * part.classes[0][b.col].size
    assert fd == pytest.approx(entries * float(_numeric(_expanded(state, state.grad[b]), point)), rel=1e-9, abs=1e-12)


def _first_index(a, b):
    part = a.proof.partition
    C = part.classes[b.layer][b.row]
    if b.kind == "b":
        return f"b{b.layer}", (C.first,)
    return f"W{b.layer}", (C.first, part.classes[b.layer - 1][b.col].first)


def test_faces_read_the_kept_passes(monkeypatch):
    calls = []
    real = passes_module.backprop

    def counting(*args, **kwargs):
        calls.append(kwargs.get("abbreviate", False))
        return real(*args, **kwargs)

    monkeypatch.setattr(passes_module, "backprop", counting)
    a = sd.analyze(sd.mlp([3, 3, 2], "tanh"), sd.constant(sp.Rational(1, 3)))
    a.summary(), a.to_dict(), a.to_latex()
    assert 1 <= len(calls) <= 4  # at most (abbreviated sizing + expanded) at each of the two points
    before = len(calls)
    second = a.to_latex()
    assert len(calls) == before and second == a.to_latex()  # another document derives nothing again
    ctx = Context(a)
    assert ctx.at_init is a.passes.at_init and ctx.on_subspace is a.passes.on_subspace


def test_a_wrong_pass_is_caught():
    """The comparison above is not vacuous: the pass of another init differs from the kept one."""
    net = sd.mlp([2, 3, 2], "relu", "mse")
    a = sd.analyze(net, sd.constant(sp.Rational(1, 2)))
    other = sd.derive(net, sd.constant(sp.Rational(1, 3)))
    b = next(iter(a.passes.at_init.grad))
    assert sp.expand(a.passes.at_init.grad[b] - other.expand(other.grad(*_first_index(a, b)))) != 0
