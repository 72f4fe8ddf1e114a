"""Conditions, consistent facts, witnesses and floats (issue: every "proved" beyond reproach).

Each test compares two independent computations: the generic analysis against the analysis at an
exceptional value, the JSON facts against each other, and the exact-arithmetic statements against
float64 trajectories of the independent NumPy reference.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

import symderiv as sd
from symderiv import numeric
from symderiv.floats import BIT_EXACT, EXACT_ONLY
from symderiv.genericity import GENERIC_INIT, NO_WEIGHT_DECAY


def _entries(a, name):
    shape = a.net.shape(name)
    return list(np.ndindex(*shape))


def _unconditioned_statements_hold_in(generic, case):
    """Every statement of ``generic`` that needs no condition must also hold in ``case``."""
    for name in generic.net.parameter_names():
        entries = _entries(generic, name)
        for index in entries:
            conds = generic.conditions_of(name, index)
            if generic.stays_zero(name, index) and NO_WEIGHT_DECAY not in conds:
                assert case.stays_zero(name, index), (name, index)
            step = generic.first_move_step(name, index)
            case_step = case.first_move_step(name, index)
            if step is not None:  # proved lower bound: unchanged before `step` for every value
                assert case_step is None or case_step >= step, (name, index, step, case_step)
            else:
                assert case_step is None, (name, index)
        for i in entries:  # equal tie ids (proved equal) stay equal in the special case
            for j in entries:
                if generic.tie_class(name, i) == generic.tie_class(name, j):
                    assert case.tie_class(name, i) == case.tie_class(name, j)


def test_constant_symbol_first_moves_are_generic_and_c0_is_found_exceptional():
    c = sp.Symbol("c")
    net = sd.mlp([4, 3, 3, 3], "tanh")
    a = sd.analyze(net, sd.constant(c))
    assert a.first_move_step("W1", (0, 0)) == 2 and a.first_move_tight("W1", (0, 0))
    assert GENERIC_INIT in a.conditions_of("W1", (0, 0))
    [cond] = [k for k in a.conditions if k.id == GENERIC_INIT]
    assert cond.symbols == ("c",) and dict(cond.certified_at)["c"] != "0"
    [case] = cond.exceptional
    assert dict(case.values) == {"c": "0"}
    assert any(f.startswith("W1 never moves") for f in case.failures)
    # the summary states the condition; the JSON references it per entry
    assert "for generic init values" in a.summary() and "Exceptional: at c = 0" in a.summary()
    j = a.to_dict()
    assert j["parameters"]["W1"]["conditions"][0][0] == [GENERIC_INIT]
    assert [k["id"] for k in j["conditions"]] == [GENERIC_INIT]
    # every unconditioned statement matches the analysis at c = 0 (and at another value)
    _unconditioned_statements_hold_in(a, sd.analyze(net, sd.zeros()))
    _unconditioned_statements_hold_in(a, sd.analyze(net, sd.constant(sp.Rational(1, 3))))


def test_generic_init_statements_against_the_zero_init():
    net = sd.mlp([3, 2, 2], "tanh")
    a = sd.analyze(net, sd.generic())
    assert all(GENERIC_INIT in a.conditions_of("W1", i) for i in _entries(a, "W1"))
    _unconditioned_statements_hold_in(a, sd.analyze(net, sd.zeros()))


def test_numeric_init_has_no_generic_condition():
    a = sd.analyze(sd.mlp([3, 2, 2], "tanh"), sd.constant(sp.Rational(1, 2)))
    assert all(c.id != GENERIC_INIT for c in a.conditions)
    assert a.to_dict()["parameters"]["W2"]["conditions"] == [[[], []], [[], []]]


def _dead_relu():
    net = sd.mlp([2, 3, 2], "relu", loss="mse")
    init = {"W1": np.zeros((3, 2), dtype=int), "b1": np.array([-1, -1, -2]),
            "W2": np.array([[1, 2, 2], [1, 2, 2]]), "b2": np.array([0, 0])}
    return net, init


def test_dead_relu_facts_are_consistent():
    net, init = _dead_relu()
    a = sd.analyze(net, init)
    j = a.to_dict()["parameters"]
    for name in ("W1", "b1", "W2", "b2"):
        p = j[name]
        steps = np.array(p["first_move_step"], dtype=object).reshape(-1)
        zero = np.array(p["stays_zero"]).reshape(-1)
        flat_init = np.array(init[name]).reshape(-1)
        ties = np.array(p["tie_class"]).reshape(-1)
        for i, (step, value) in enumerate(zip(steps, flat_init)):
            if step is None and value == 0:
                assert zero[i], (name, i)  # never changes from 0: stays zero
            for k, (step2, value2) in enumerate(zip(steps, flat_init)):
                if step is None and step2 is None and value == value2:
                    assert ties[i] == ties[k], (name, i, k)  # never change from equal values: tied
    assert a.stays_zero("W1", (0, 0)) and NO_WEIGHT_DECAY in a.conditions_of("W1", (0, 0))
    assert a.tie_class("b1", (0,)) == a.tie_class("b1", (1,)) != a.tie_class("b1", (2,))
    # the facts hold on float trajectories without weight decay (independent NumPy reference)
    params = numeric.params_from_init(net, init)
    X, Y = numeric.random_data(net, 16, seed=3)
    for opt in ("sgd", "momentum", "adam"):
        traj = numeric.train(net, params, X * 5, Y, optimizer=opt, steps=6, lr=0.05)
        for theta in traj.params:
            assert np.all(theta["W1"] == 0)
            assert theta["b1"][0] == theta["b1"][1] == -1


def test_first_move_of_a_far_relu_is_certified_by_a_larger_witness():
    net = sd.mlp([2, 2, 1], "relu", loss="mse")
    init = {"W1": np.array([[-1, -1], [-1, -1]]), "b1": np.array([-20, -20]),
            "W2": np.array([[1, 1]]), "b2": np.array([0])}
    a = sd.analyze(net, init)
    assert a.first_move_step("W1", (0, 0)) == 1 and a.first_move_tight("W1", (0, 0))
    scales = {t.data_scale for t in a.proof.trajectories}
    assert max(scales) > 1  # the base witness (|x| <= 4) leaves the units dead
    assert a.facts_of(a.block("W1", (0, 0))).visible


def test_float_status_of_a_cancellation_and_of_exact_zeros():
    net = sd.mlp([1, 1, 1, 2], "gelu")
    init = {"W3": sd.constant(sp.Rational(1, 2)), "*": sd.zeros()}
    a = sd.analyze(net, init)
    f = {name: a.to_dict()["parameters"][name]["float"] for name in ("W1", "W2", "b2")}
    assert f["W1"] == [[BIT_EXACT]] and f["W2"] == [[BIT_EXACT]] and f["b2"] == [EXACT_ONLY]
    params = numeric.params_from_init(net, init)
    X, Y = numeric.random_data(net, 8, seed=1)
    traj = numeric.train(net, params, X, Y, optimizer="adam", steps=5, lr=0.01)
    # bit-exact zeros survive Adam in float64 bit for bit: 0 * finite = 0 at every step
    assert all(np.all(t["W1"] == 0) and np.all(t["W2"] == 0) for t in traj.params)


def test_float_status_of_the_softmax_constant_init_first_move():
    a = sd.analyze(sd.mlp([3, 2, 3], "tanh"), sd.constant(sp.Rational(1, 2)))
    assert a.first_move_step("W1", (0, 0)) == 2
    assert a.to_dict()["parameters"]["W1"]["first_move_float"][0][0] == EXACT_ONLY
    assert "rest on an exact cancellation" in a.summary()


def test_json_is_deterministic_with_conditions():
    c = sp.Symbol("c")
    one = sd.analyze(sd.mlp([3, 2, 2], "sigmoid"), sd.constant(c)).to_json()
    two = sd.analyze(sd.mlp([3, 2, 2], "sigmoid"), sd.constant(c)).to_json()
    assert one == two


def _shifted_columns():
    half = sp.Rational(1, 2)
    net = sd.mlp([3, 2, 3], "tanh")
    init = {"W1": np.array([[1, -2, 3], [1, -2, 3]]), "b1": np.array([1, 1]),
            "W2": sp.Matrix([[1, 1 + half], [2, 2 + half], [-1, -1 + half]]), "b2": sd.zeros()}
    return net, init


def test_shifted_columns_keep_the_units_tied():
    """Equal incoming rows and biases, outgoing columns differing by c·1: softmax ignores the shift, so
    the rows stay one tie class and the columns keep their difference (docs/theory.md §7)."""
    net, init = _shifted_columns()
    a = sd.analyze(net, init)
    for j in range(3):
        assert a.tie_class("W1", (0, j)) == a.tie_class("W1", (1, j))
        assert NO_WEIGHT_DECAY in a.conditions_of("W1", (0, j))
    assert a.tie_class("b1", (0,)) == a.tie_class("b1", (1,))
    assert a.tie_class("W2", (0, 0)) != a.tie_class("W2", (0, 1))
    groups = a.to_dict()["shifted_ties"]["groups"]
    assert any(g["offsets"] == ["0", "1/2"] for g in groups)
    assert a.to_dict()["parameters"]["W1"]["float"][0][0] == EXACT_ONLY  # rests on Σ_k δ_k = 0
    # real float trajectories (independent NumPy reference): rows stay equal to roundoff, the
    # column difference stays 1/2; SGD and Adam, no weight decay
    params = numeric.params_from_init(net, init)
    X, Y = numeric.random_data(net, 8, seed=2)
    for opt in ("sgd", "adam"):
        traj = numeric.train(net, params, X, Y, optimizer=opt, steps=50, lr=0.05)
        last = traj.params[-1]
        assert np.max(np.abs(last["W1"][0] - last["W1"][1])) < 1e-12
        assert np.max(np.abs(last["W2"][:, 1] - last["W2"][:, 0] - 0.5)) < 1e-12


def test_shifted_tie_is_refused_when_the_loss_is_not_shift_invariant():
    """Under MSE a common shift of the outputs changes the loss: the units separate (certified)."""
    net, init = _shifted_columns()
    net = sd.mlp([3, 2, 3], "tanh", loss="mse")
    a = sd.analyze(net, init)
    assert a.tie_class("W1", (0, 0)) != a.tie_class("W1", (1, 0))


def test_verify_checks_conservation_laws_and_rejects_a_false_one():
    """verify() replays the proved laws on float runs; a fabricated law is caught."""
    import dataclasses

    a = sd.analyze(sd.mlp([3, 3, 3], "relu"), sd.generic())
    report = a.verify(optimizers=("sgd", "momentum", "adam"))
    laws = [c for c in report.checks if c.kind == "conservation"]
    assert laws and all(c.ok for c in laws), str(report)
    assert any(c.subject.startswith("sgd:") and "gᵀQg" in c.subject for c in laws)  # quadratic drift identity
    assert not any(c.subject.startswith("adam:") for c in laws)  # not claimed for Adam: reported as notes
    law = a.conserved[0]
    fake = dataclasses.replace(law, expression=law.expression + sp.Symbol("b2_1", real=True))  # b2_1 moves
    a.conservation.linear.laws.insert(0, fake)  # `laws` is a fresh list: insert into the search itself
    bad = a.verify(optimizers=("sgd",))
    assert not bad.ok and any(c.kind == "conservation" and not c.ok for c in bad.checks)


def test_quadratic_drift_check_tolerates_roundoff_of_an_exact_zero_step():
    """Found by the soundness property: at a constant init the first SGD step's gradient is a ~1e-18
    cancellation residue, so the predicted change η²gᵀQg (~1e-38) meets an exact 0; the law holds."""
    net = sd.mlp([1, 1, 2, 2], ["identity", "gelu"], bias=False)
    a = sd.analyze(net, sd.constant(sp.Rational(1, 2)))
    assert any(law.kind == "quadratic" for law in a.conserved)
    report = a.verify(optimizers=("sgd",), seed=0)
    assert report.ok, str(report)


def test_verify_replays_shifted_ties_and_catches_a_wrong_offset():
    import dataclasses

    net, init = _shifted_columns()
    a = sd.analyze(net, init)
    report = a.verify(optimizers=("sgd", "adam"))
    checks = [c for c in report.checks if c.kind == "shifted_ties"]
    assert checks and all(c.ok for c in checks), str(report)
    group = next(g for g in a.shifted.groups if g.shifted)
    a.shifted.groups[a.shifted.groups.index(group)] = dataclasses.replace(
        group, offsets=(group.offsets[0], group.offsets[1] + 1))
    bad = a.verify(optimizers=("sgd",))
    assert any(c.kind == "shifted_ties" and not c.ok for c in bad.checks)
