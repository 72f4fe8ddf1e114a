"""The fast paths of issue 17 item 4 give the same results as the paths they replace (no timings here:
speed is a benchmark figure, benchmarks/run.py --parts s).

* ``Derivation`` builds the expanded closed forms directly under a size budget instead of first
  measuring them on an abbreviated pass: the forms are the same SymPy objects, and a budget too
  small for them falls back to the measured path with the same result or the same refusal.
* Public calls on shallow networks run in the caller's thread (no guard worker); deep ones still
  get the worker's large stack; errors are converted either way.
"""
from __future__ import annotations

import threading

import pytest
import sympy as sp

import symderiv as sd
from symderiv import engine
from symderiv.engine import OverBudget, backprop, expansion_refusal
from symderiv.errors import InternalError, SizeLimitError
from symderiv.guard import in_big_stack, public_entry

N = sp.Symbol("n", integer=True, positive=True)

CASES = [
    ([4, 4, 4, 3], "tanh", "softmax_cross_entropy", sd.constant(sp.Rational(1, 2))),
    ([4, 4, 4, 3], "sigmoid", "mse", sd.zeros()),
    ([3, 3, 2], "gelu", "softmax_cross_entropy", sd.generic()),
    ([4, 3, 1], "relu", "bce", sd.generic()),
    ([3, N, N, 2], "tanh", "mse", sd.constant(sp.Rational(1, 3))),
    ([8] + [16] * 11 + [4], "tanh", "softmax_cross_entropy", sd.constant(sp.Rational(1, 10))),
]


def _forms(state):
    return (state.z, state.h, state.p, state.delta, sorted(state.grad.items(), key=lambda kv: str(kv[0])))


def _measured_path(net, init):
    """What Derivation did before: measure on the abbreviated pass, then build the expanded one."""
    d = sd.gradients(net, init, abbreviate=True)  # the partition and block values of this init
    assert expansion_refusal(backprop(net, d.partition, d.values, abbreviate=True)) is None
    return backprop(net, d.partition, d.values)


@pytest.mark.parametrize("sizes, act, loss, init", CASES, ids=lambda c: str(c)[:20])
def test_direct_expanded_pass_is_the_measured_one(sizes, act, loss, init):
    net = sd.mlp(sizes, act, loss)
    direct = sd.gradients(net, init)
    assert not direct.abbreviated
    reference = _measured_path(net, init)
    assert sp.srepr(_forms(direct._pass)) == sp.srepr(_forms(reference))
    # and, at a generic init, with sympy.diff of the loss (an independent route), at a rational point
    if isinstance(init, type(sd.generic())):
        w = direct.symbols("W1_1_1")
        free = sorted(direct.loss().free_symbols, key=str)
        point = {s: sp.Rational(k % 5 + 1, 7) * (-1) ** k for k, s in enumerate(free)}
        by_diff = sp.diff(direct.loss(), w).xreplace(point)
        assert abs(sp.N(by_diff - direct.grad("W1", (0, 0)).xreplace(point), 30)) < 1e-25


def test_a_too_small_budget_stops_before_building_and_falls_back(monkeypatch):
    net = sd.mlp([4, 4, 4, 3], "tanh")
    init = sd.constant(sp.Rational(1, 2))
    d = sd.gradients(net, init)
    with pytest.raises(OverBudget):
        backprop(net, d.partition, d.values, size_budget=50)
    monkeypatch.setattr(engine, "DIRECT_EXPANSION_NODES", 50)  # every call now takes the measured path
    fallback = sd.gradients(net, init)
    assert sp.srepr(_forms(fallback._pass)) == sp.srepr(_forms(d._pass))


def test_the_refusal_is_unchanged_for_forms_beyond_the_limit(monkeypatch):
    from symderiv import closed_forms

    net = sd.mlp([3, 3, 3, 3, 2], "tanh", "mse")
    monkeypatch.setattr(closed_forms, "MAX_EXPANDED_NODES", 200)
    monkeypatch.setattr(engine, "DIRECT_EXPANSION_NODES", 20)
    with pytest.raises(SizeLimitError, match="MAX_EXPANDED_NODES"):
        sd.gradients(net, sd.generic())
    assert sd.gradients(net, sd.generic(), abbreviate=True).abbreviated  # the way out it names still works


def test_above_the_depth_limit_the_refusal_names_the_depth():
    net = sd.mlp([2] * 130, "tanh")
    with pytest.raises(SizeLimitError, match="MAX_EXPANDED_DEPTH"):
        sd.gradients(net, sd.generic())


# ---------------------------------------------------------------- the guard's inline path
def test_shallow_calls_run_in_the_callers_thread_and_deep_ones_in_the_worker():
    seen = []

    @public_entry(inline_when=lambda depth: depth <= 2)
    def where(depth):
        seen.append((threading.current_thread() is threading.main_thread() or threading.current_thread().name,
                     in_big_stack()))
        return depth

    caller = threading.current_thread()
    assert where(1) == 1 and where(5) == 5
    (inline_thread, inline_big), (worker_thread, worker_big) = seen
    assert not inline_big and worker_big and worker_thread == "symderiv-worker"
    assert caller is threading.main_thread() or inline_thread == caller.name or inline_thread is True


def test_inline_calls_convert_errors_and_check_the_signature():
    @public_entry(inline_when=lambda *a, **k: True)
    def divide(a, b):
        return a / b

    with pytest.raises(InternalError, match="ZeroDivisionError"):
        divide(1, 0)
    with pytest.raises(TypeError, match="divide"):
        divide(1, c=2)
    with pytest.raises(TypeError, match="gradients"):
        sd.gradients(sd.mlp([2, 2]), sd.zeros(), abreviate=True)


def test_a_raising_predicate_means_the_worker():
    @public_entry(inline_when=lambda x: 1 / 0)
    def where(x):
        return in_big_stack()

    assert where(1) is True


def test_gradients_is_inline_only_for_shallow_networks():
    assert engine._shallow(sd.mlp([4, 4, 4, 3]))
    assert not engine._shallow(sd.mlp([2] * 20))
    assert not engine._shallow("not a network")
    deep = sd.gradients(sd.mlp([2] * 40, "tanh"), sd.constant(sp.Rational(1, 3)))  # the worker's stack
    assert deep.grad("W1", (0, 0)) == deep.grad("W1", (1, 1))
