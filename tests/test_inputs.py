"""Input reduction (symderiv.inputs): the reduced analysis agrees entry by entry with the full one,
the lemma's construction reproduces the full gradients, wrong reductions are refused or caught,
and the proved facts hold on real training runs at MNIST size."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st

import symderiv as sd
from symderiv import numeric
from symderiv.analysis import Analysis
from symderiv.init import resolve_init
from symderiv.inputs import REPRESENTATIVES, input_classes, is_symmetric, reduce_inputs
from symderiv.patterns import Block

HALF = sp.Rational(1, 2)
FACTS = ("stays_zero", "first_move_step", "first_move_tight", "tie_class")


def _facts(a) -> dict:
    return {name: {key: a.entry_facts(name)[key] for key in FACTS} for name in a.net.parameter_names()}


def _assert_same(reduced, full) -> None:
    assert reduced.inputs is not None and full.inputs is None
    fr, ff = _facts(reduced), _facts(full)
    for name in ff:
        for key in FACTS:
            assert np.array_equal(fr[name][key], ff[name][key]), (name, key, fr[name][key], ff[name][key])
    # the per-entry queries agree with the arrays (a few entries, both networks)
    for name in full.net.parameter_names():
        shape = tuple(int(n) for n in full.net.shape(name))
        for index in [tuple(0 for _ in shape), tuple(n - 1 for n in shape)]:
            assert reduced.stays_zero(name, index) == full.stays_zero(name, index)
            assert reduced.first_move_step(name, index) == full.first_move_step(name, index)
            assert reduced.tie_class(name, index) == full.tie_class(name, index)


def _w1_with_repeats(rows: int, n0: int, draw) -> np.ndarray:
    """An integer W1 whose columns repeat: one class of at least 5 columns, the rest drawn."""
    n_distinct = draw(st.integers(1, 3))
    columns = [draw(st.lists(st.integers(-2, 2), min_size=rows, max_size=rows)) for _ in range(n_distinct)]
    big = draw(st.integers(5, n0))
    others = [draw(st.integers(0, n_distinct - 1)) for _ in range(n0 - big)]
    order = draw(st.permutations(list(range(n0))))
    assignment = [0] * big + others
    W1 = np.empty((rows, n0), dtype=object)
    for position, j in enumerate(order):
        W1[:, j] = columns[assignment[position]]
    return W1


@st.composite
def cases(draw):
    n0 = draw(st.integers(5, 8))
    hidden = draw(st.lists(st.integers(1, 3), min_size=0, max_size=2))
    act = draw(st.sampled_from(["tanh", "relu", "sigmoid"]))
    loss = draw(st.sampled_from(["mse", "ce"]))
    K = draw(st.integers(2, 3))
    net = sd.mlp([n0] + hidden + [K], act, loss)
    kind = draw(st.sampled_from(["zeros", "constant", "explicit"]))
    if kind == "zeros":
        init = sd.zeros()
    elif kind == "constant":
        init = sd.constant(draw(st.sampled_from([HALF, sp.Rational(-1, 3), 1])))
    else:
        rest = draw(st.sampled_from([sd.zeros(), sd.constant(HALF)]))
        init = {"W1": _w1_with_repeats(net.sizes[1], n0, draw), "*": rest}
    return net, init


@settings(max_examples=8)
@given(cases())
def test_reduced_analysis_agrees_with_the_full_one_entry_by_entry(case):
    net, init = case
    reduced = sd.analyze(net, init)
    full = sd.analyze(net, init, _reduce_inputs=False)
    _assert_same(reduced, full)


@pytest.mark.parametrize("sizes,act,loss,init", [
    ([6, 3], "tanh", "ce", sd.zeros()),
    ([7, 3], "tanh", "mse", sd.constant(HALF)),
    ([5, 2, 3], "sigmoid", "ce", sd.zeros()),  # the zero front moves back: W1 first moves at step 2
    ([8, 3, 2], "relu", "mse", sd.constant(HALF)),
    ([6, 2, 2, 3], "tanh", "ce", sd.constant(sp.Rational(-1, 3))),
])
def test_classic_settings_agree(sizes, act, loss, init):
    net = sd.mlp(sizes, act, loss)
    _assert_same(sd.analyze(net, init), sd.analyze(net, init, _reduce_inputs=False))


def test_explicit_array_with_two_wide_classes_and_singletons():
    W1 = np.array([[1, 0, 1, 2, 1, 1, 0, 1, 0, 0, 0, 3],
                   [2, 1, 2, 2, 2, 2, 1, 2, 1, 1, 1, 3]], dtype=object)
    net = sd.mlp([12, 2, 3], "tanh")
    init = {"W1": W1, "*": sd.constant(HALF)}
    reduced = sd.analyze(net, init)
    m = reduced.inputs
    assert [D.members for D in m.classes] == [(0, 2, 4, 5, 7), (1, 6, 8, 9, 10), (3,), (11,)]
    assert m.n_reduced == 2 * REPRESENTATIVES + 2
    _assert_same(reduced, sd.analyze(net, init, _reduce_inputs=False))


# ---------------------------------------------------------------- tie ids
def test_untied_columns_get_distinct_tie_ids_and_tied_ones_share():
    net = sd.mlp([7, 3], "tanh")
    a = sd.analyze(net, sd.zeros())
    assert a.inputs is not None and a.inputs.n_reduced == REPRESENTATIVES
    ids = a.entry_facts("W1")["tie_class"]
    assert len(set(ids.flat)) == ids.size  # softmax regression: every W1 entry its own class
    assert a.tie_class("W1", (1, 6)) == ids[1, 6] and a.tie_class("W1", (1, 6)) != a.tie_class("W1", (1, 5))
    # a hidden layer at zero init: W1 stays 0, so all of it is one (zero) tie class
    b = sd.analyze(sd.mlp([7, 2, 3], "tanh"), sd.zeros())
    ids = b.entry_facts("W1")["tie_class"]
    assert (ids == ids[0, 0]).all() and b.stays_zero("W1", (1, 6))


def test_json_lists_input_class_blocks_and_a_full_network_witness():
    a = sd.analyze(sd.mlp([784, 10], "tanh"), sd.zeros())
    data = a.to_dict()
    w1 = data["parameters"]["W1"]
    assert w1["shape"] == [10, 784] and w1["layout"] == "blocks"
    assert [b["columns"] for b in w1["blocks"]] == ["1..784"] * 10
    first = w1["blocks"][0]
    assert first["entries"] == "784" and first["columns_tied"] is False and first["tie_class"] == list(range(784))
    assert first["gradient_at_init"] == "x_j*(1/10 - y_1)"
    assert data["inputs"]["reduced_to"] == REPRESENTATIVES
    point = data["witness_trajectory"]["data_and_init"]
    xs = [point[f"x_{j}"] for j in range(1, 785)]
    assert all(v != "0" for v in xs)  # run on the full network, no column zero-padded (test_witness_full_network)
    assert a.input_reduction_note() is not None and "784 inputs" in a.input_reduction_note()
    assert a.to_json() == a.to_json()  # deterministic


def test_gradient_at_init_maps_the_data_back():
    net = sd.mlp([6, 2, 3], "tanh")
    a = sd.analyze(net, sd.constant(HALF))
    full = sd.analyze(net, sd.constant(HALF), _reduce_inputs=False)
    for name, index in [("W1", (1, 5)), ("W1", (0, 0)), ("W2", (2, 1)), ("b1", (0,)), ("b2", (1,))]:
        assert sp.simplify(a.gradient_at_init(name, index) - full.gradient_at_init(name, index)) == 0


# ---------------------------------------------------------------- the lemma's construction, in numbers
def test_reduced_point_reproduces_the_full_gradients():
    """Part (2) of the lemma: frozen rows (value v in every column), free rows (any per-column
    values); columns c0, c1 carry the compared full columns j, k, column c2 carries the frozen part
    with datum s - 1, column c3 the rest with datum 1.  The gradients must coincide exactly
    (up to float roundoff)."""
    rng = np.random.default_rng(3)
    n0, j, k = 7, 2, 5
    full_net, red_net = sd.mlp([n0, 4, 3], "tanh"), sd.mlp([4, 4, 3], "tanh")
    v = np.array([0.5, -0.25, 0.0, 0.0])  # rows 0, 1 frozen at v; rows 2, 3 free
    W = np.tile(v[:, None], (1, n0))
    W[2:, :] = rng.normal(size=(2, n0))
    theta = {"W1": W, "b1": rng.normal(size=4), "W2": rng.normal(size=(3, 4)), "b2": rng.normal(size=3)}
    x = rng.normal(size=(1, n0))
    y = np.array([[0.2, 0.5, 0.3]])
    rest = [l for l in range(n0) if l not in (j, k)]
    a = np.where(np.arange(4) < 2, v, 0.0)
    free = sum(x[0, l] * (W[:, l] - a) for l in rest)
    Wr = np.stack([W[:, j], W[:, k], a, a + free], axis=1)
    xr = np.array([[x[0, j], x[0, k], x[0, rest].sum() - 1.0, 1.0]])
    g_full = numeric.gradients(full_net, theta, x, y)
    g_red = numeric.gradients(red_net, dict(theta, W1=Wr), xr, y)
    np.testing.assert_allclose(g_red["W1"][:, 0], g_full["W1"][:, j], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g_red["W1"][:, 1], g_full["W1"][:, k], rtol=1e-12, atol=1e-14)
    for name in ("b1", "W2", "b2"):
        np.testing.assert_allclose(g_red[name], g_full[name], rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- what is refused or caught
def test_no_reduction_without_five_exchangeable_columns():
    net = sd.mlp([6, 2, 3], "tanh")
    assert reduce_inputs(net, resolve_init(net, sd.generic())) is None  # generic: every column distinct
    W1 = np.array([[1, 2, 1, 2, 1, 2], [0, 0, 0, 0, 0, 0]], dtype=object)
    inits = resolve_init(net, {"W1": W1, "*": sd.zeros()})
    assert input_classes(inits, 6) == [[0, 2, 4], [1, 3, 5]]
    assert reduce_inputs(net, inits) is None
    assert sd.analyze(net, {"W1": W1, "*": sd.zeros()}).inputs is None
    # symbols count as values: c == c, but a generic entry never equals another
    c = sp.Symbol("c", real=True)
    inits = resolve_init(sd.mlp([5, 2]), {"W1": sd.constant(c), "*": sd.zeros()})
    assert input_classes(inits, 5) == [[0, 1, 2, 3, 4]]


def test_an_asymmetric_reduced_proof_is_refused():
    net = sd.mlp([6, 3], "tanh")
    inits = resolve_init(net, sd.zeros())
    m = reduce_inputs(net, inits)
    a = sd.analyze(net, sd.zeros())
    p = a.proof
    assert is_symmetric(p, m)
    # merge the class of W1[1, c0] into the class of b1[1]: no longer invariant under permuting c0..c3
    b, target = Block(1, "W", 0, 0), Block(1, "b", 0)
    k, t = p.class_of[b], p.class_of[target]
    classes = [tuple(x for x in members if x != b) for members in p.classes]
    classes[t] = classes[t] + (b,)
    keep = [i for i, members in enumerate(classes) if members]
    classes = [classes[i] for i in keep]
    class_of = {x: i for i, members in enumerate(classes) for x in members}
    moves = {keep.index(i): fm for i, fm in p.first_moves.items() if i in keep}
    broken = dataclasses.replace(p, classes=classes, class_of=class_of, first_moves=moves,
                                 zero_class=None if p.zero_class is None else keep.index(p.zero_class))
    assert not is_symmetric(broken, m)
    # a first-move step that differs between two representatives is refused too
    k2 = p.class_of[Block(1, "W", 0, 1)]
    steps = dict(p.first_moves)
    steps[k2] = dataclasses.replace(steps[k2], step=2)
    assert not is_symmetric(dataclasses.replace(p, first_moves=steps), m)


def test_an_asymmetric_reduced_proof_falls_back_to_the_full_analysis(monkeypatch):
    import symderiv.analysis as analysis_module

    net = sd.mlp([6, 3], "tanh")
    monkeypatch.setattr(analysis_module, "is_symmetric", lambda proof, imap: False)
    a = sd.analyze(net, sd.zeros())
    assert a.inputs is None and a.proof.net.sizes[0] == 6 and a.input_reduction_note() is None
    monkeypatch.undo()
    _assert_same(sd.analyze(net, sd.zeros()), a)


def test_verify_catches_a_reduction_whose_columns_are_not_exchangeable():
    """The lemma needs identical init columns: lifting a zero-init proof to a network whose W1
    columns differ is wrong, and verify's independent numbers must say so."""
    net = sd.mlp([6, 3], "tanh")
    good = sd.analyze(net, sd.zeros())
    assert good.verify().ok
    W1 = np.arange(18, dtype=float).reshape(3, 6) / 20
    wrong_inits = resolve_init(net, {"W1": W1, "*": sd.zeros()})
    m = dataclasses.replace(good.inputs, full_inits=wrong_inits)
    wrong = Analysis(good.proof, good.optimizers, "wrong", inputs=m)
    report = wrong.verify()
    assert not report.ok
    assert any(c.kind == "gradient" and not c.ok for c in report.checks)


def test_verify_passes_on_reduced_analyses():
    W1 = np.array([[1, 2, 1, 1, 1, 1], [0, 3, 0, 0, 0, 0], [2, 1, 2, 2, 2, 2]], dtype=object)
    net = sd.mlp([6, 3], "tanh")
    for init in (sd.zeros(), sd.constant(HALF), {"W1": W1, "*": sd.constant(sp.Rational(1, 3))}):
        a = sd.analyze(net, init)
        assert a.inputs is not None
        report = a.verify(optimizers=("sgd", "adam"))
        assert report.ok, str(report)
        assert any(c.kind == "witness_replay" for c in report.checks)


# ---------------------------------------------------------------- MNIST size, against NumPy training
def test_mnist_softmax_regression_facts_hold_on_training_runs():
    """784-10 softmax regression at zero init: the reduced proof says every W1 entry first moves at
    step 1 (tight), none stays zero, and all 7840 are in different tie classes.  Data chosen so
    that the first SGD step moves every entry (x_j > 0, one-hot labels: p - y = 1/10 - y_i ≠ 0)
    and the columns' steps differ (distinct x_j)."""
    net = sd.mlp([784, 10], "tanh")
    a = sd.analyze(net, sd.zeros())
    facts = a.entry_facts("W1")
    assert not facts["stays_zero"].any()
    assert (facts["first_move_step"] == 1).all() and facts["first_move_tight"].all()
    assert len(set(facts["tie_class"].flat)) == 7840
    X = np.tile(1.0 + np.arange(784) / 1024.0, (3, 1))  # exact binary fractions, all distinct
    Y = np.zeros((3, 10))
    Y[np.arange(3), [0, 3, 7]] = 1.0
    params = numeric.params_from_init(net, sd.zeros())
    for optimizer in ("sgd", "adam"):
        run = numeric.train(net, params, X, Y, optimizer=optimizer, steps=2, lr=0.1)
        moved = run.params[1]["W1"] != run.params[0]["W1"]
        assert moved.all()
        row = run.params[1]["W1"][1]
        if optimizer == "sgd":  # step (p - y)·x_j: distinct x_j, so no two columns tied
            assert len(set(row)) == 784


def test_mnist_hidden_layer_zero_init_w1_stays_exactly_zero_in_training():
    net = sd.mlp([784, 256, 10], "tanh")
    a = sd.analyze(net, sd.zeros())
    assert a.inputs is not None
    for name in ("W1", "b1", "W2"):
        assert a.entry_facts(name)["stays_zero"].all()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, 784))
    Y = np.zeros((4, 10))
    Y[np.arange(4), [1, 2, 3, 4]] = 1.0
    run = numeric.train(net, numeric.params_from_init(net, sd.zeros()), X, Y, optimizer="adam", steps=3, lr=0.1)
    for theta in run.params:
        assert not theta["W1"].any() and not theta["W2"].any() and not theta["b1"].any()
    assert (run.params[1]["b2"] != 0).all()
