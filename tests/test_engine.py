"""The engine against independent computations: sympy.diff of the whole loss, concrete
widths against symbolic ones, and finite differences."""
from __future__ import annotations

import itertools

import mpmath
import numpy as np
import pytest
import sympy as sp

import symderiv as sd
from symderiv.certify import enclose, endpoints
from symderiv.engine import ClassMatrix, derive

from oracle import oracle_gradients, random_point

ACTIVATIONS = sd.registered_activations()
LOSSES = sd.registered_losses()
c = sp.Symbol("c", real=True)


def _inits(net):
    explicit = {}
    for name in net.parameter_names():
        shape = net.shape(name)
        explicit[name] = np.arange(int(np.prod(shape))).reshape(shape) % 3 - 1  # some equal, some zero
    return {
        "zeros": sd.zeros(),
        "constant": sd.constant(sp.Rational(1, 2)),
        "constant_symbol": sd.constant(c),
        "generic": sd.generic(),
        "explicit": explicit,
    }


def _smooth_at_kink(act_name):
    """Kinked activations are compared with SymPy's own convention, Heaviside(0) = 1/2
    (diff of Max(z, 0) is Heaviside(z)); the default conventions are tested apart."""
    return {"relu": sp.Rational(1, 2), "leaky_relu": (1 + sp.Rational(1, 100)) / 2}.get(act_name)


def _compare(net, init, seed=0, points=2):
    d = derive(net, init)
    oracle, x, ysyms = oracle_gradients(net, init)
    symbols = set(x) | set(ysyms) | {c}
    for name in net.parameter_names():
        for index, expr in oracle[name].items():
            symbols |= expr.free_symbols
    checked_nonzero = False
    for k in range(points):
        point = random_point(sorted(symbols, key=str), seed + k)
        for name in net.parameter_names():
            for index, want in oracle[name].items():
                got = d.grad(name, index)
                a, b = enclose([got, want.rewrite(sp.Heaviside) if want.has(sp.DiracDelta) else want], point)
                lo, hi = endpoints(a - b)
                assert abs(lo) < 1e-25 and abs(hi) < 1e-25, (name, index, got, want)
                if abs(endpoints(a)[0]) > 1e-10:
                    checked_nonzero = True
    return checked_nonzero


@pytest.mark.parametrize("act,loss", list(itertools.product(ACTIVATIONS, LOSSES)))
def test_engine_matches_sympy_diff_every_activation_and_loss(act, loss):
    net = sd.mlp([2, 2, 2], act, loss, kink_grad=_smooth_at_kink(act))
    inits = _inits(net)
    nonzero = False
    # fixed seeds: hash(kind) would change with PYTHONHASHSEED, i.e. from run to run
    for seed, kind in enumerate(("zeros", "constant", "generic")):
        nonzero |= _compare(net, inits[kind], seed=10 * seed)
    assert nonzero, "the comparison must not be vacuous (some gradient nonzero)"


@pytest.mark.parametrize("kind", ["zeros", "constant", "constant_symbol", "generic", "explicit"])
@pytest.mark.parametrize("act", ["tanh", "relu", "sigmoid"])
def test_engine_matches_sympy_diff_every_init_depth_3(kind, act):
    net = sd.mlp([2, 2, 2, 2], act, "softmax_cross_entropy", kink_grad=_smooth_at_kink(act))
    _compare(net, _inits(net)[kind], points=1)


def test_without_bias_and_per_layer_activations():
    net = sd.mlp([3, 2, 2, 2], ["softplus", "gelu"], "mean_squared_error", bias=False)
    assert _compare(net, sd.generic())


def test_kink_convention_is_used_at_zero_init():
    for g in (0, sp.Rational(1, 2), 1):
        net = sd.mlp([2, 2, 2], "relu", kink_grad=g)
        # with W2 = 1 and everything else 0, δ^(1) = f'(0) · Σ_k δ^(2)_k ... use MSE so it does not vanish
        net = sd.mlp([2, 2, 2], "relu", "mse", kink_grad=g)
        d = derive(net, {"W1": sd.zeros(), "b1": sd.zeros(), "W2": sd.constant(1), "b2": sd.zeros()})
        y1, y2 = sp.symbols("y_1 y_2", real=True)
        assert sp.simplify(d.delta(1, 0) - g * (-y1 - y2)) == 0


def test_directly_built_kinked_activation_gets_the_default_convention():
    # Activation("relu") has no kink_grad of its own: the network binds relu's default f'(0) = 0,
    # exactly as the name "relu" does (it used to keep None and fail with a TypeError in the prover)
    net = sd.mlp([2, 2, 1], sd.Activation("relu"), "mse")
    assert net.activation_of(1) == sd.activation("relu")
    assert net.activation_of(1).kink_grad == 0
    explicit = sd.mlp([2, 2, 1], sd.Activation("relu"), "mse", kink_grad=sp.Rational(1, 2))
    assert explicit.activation_of(1).kink_grad == sp.Rational(1, 2)
    assert sd.activation(sd.Activation("tanh")) == sd.Activation("tanh")  # smooth: nothing to bind


def test_uniform_softmax_is_exactly_one_over_K_and_simplex_kills_hidden_gradient():
    net = sd.mlp([3, 4, 4, 5], "tanh")
    d = derive(net, sd.constant(c))
    assert all(d.p(k) == sp.Rational(1, 5) for k in range(5))
    # theory.md §1: W^(L)ᵀ(p − y) = c·Σ_k(p_k − y_k)·1 = 0 at constant init
    assert d["W1"] == sp.zeros(4, 3) and d["W2"] == sp.zeros(4, 4)
    assert d["W3"] != sp.zeros(5, 4)


def test_readable_forms():
    d = derive(sd.mlp([2, 3, 3], "tanh"), sd.constant(c))
    x1, x2 = sp.symbols("x_1 x_2", real=True)
    assert d.h(1, 0) == sp.tanh(c * (x1 + x2) + c)
    assert d.z(2, 0) == 3 * c * sp.tanh(c * (x1 + x2) + c) + c
    d0 = derive(sd.mlp([4, 3], "tanh"), sd.zeros())
    y1 = sp.Symbol("y_1", real=True)
    assert d0["W1"][0, 1] == sp.Symbol("x_2", real=True) * (sp.Rational(1, 3) - y1)


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "relu"])
def test_symbolic_width_agrees_with_concrete_widths(act):
    n = sp.Symbol("n", integer=True, positive=True)
    sym = derive(sd.mlp([3, n, n, 2], act), sd.constant(c))
    for width in (1, 2, 3, 7):
        conc = derive(sd.mlp([3, width, width, 2], act), sd.constant(c))
        for name in ("W1", "b1", "W2", "W3", "b3"):
            shape = conc.net.shape(name)
            index = tuple(s - 1 for s in shape)
            want = conc.grad(name, index)
            got = sym.grad(name, index).subs(n, width)  # class lookup: any index of the width-n layer
            assert sp.simplify(got - want) == 0 or sp.expand(got - want) == 0, (name, width)


def test_wide_layers_are_class_matrices():
    net = sd.mlp([4, 4096, 4096, 3], "tanh")
    d = derive(net, sd.constant(sp.Rational(1, 10)))
    g = d["W2"]
    assert isinstance(g, ClassMatrix) and g.shape == (4096, 4096)
    assert len(g.blocks) == 1
    assert g[4095, 17] == g[0, 0]
    with pytest.raises(sd.SymderivError):
        g.to_matrix()


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "softplus", "gelu", "silu", "elu"])
@pytest.mark.parametrize("loss", LOSSES)
def test_closed_forms_match_finite_differences_float64(act, loss):
    """The closed forms, evaluated at a random float64 point, against central differences of
    the independent NumPy loss (symderiv.numeric)."""
    from symderiv import numeric

    net = sd.mlp([3, 3, 2], act, loss)
    d = derive(net, sd.generic())
    params = numeric.params_from_init(net, sd.generic(), seed=5)
    X, Y = numeric.random_data(net, 1, seed=6)
    fd = numeric.finite_differences(net, params, X, Y, eps=1e-6)
    point = {s: sp.Rational(float(v)) for s, v in zip(d.x, X[0])}
    for k, sym in enumerate(d.label_symbols):
        point[sym] = sp.Rational(float(Y[0, k]))
    for name in net.parameter_names():
        for index in np.ndindex(*net.shape(name)):
            point[d.param(name, index)] = sp.Rational(float(params[name][index]))
    for name in net.parameter_names():
        for index in np.ndindex(*net.shape(name)):
            exact = float(mpmath.mpf(endpoints(enclose([d.grad(name, index)], point)[0])[0]))
            numeric_value = float(fd[name][index])
            assert abs(exact - numeric_value) <= 1e-6 * max(abs(exact), abs(numeric_value)) + 1e-9, (name, index)


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda: sd.mlp([4]), "at least two"),
        (lambda: sd.mlp([4, 0, 3]), "sizes[1]"),
        (lambda: sd.mlp([4, -2, 3]), "sizes[1]"),
        (lambda: sd.mlp([4, 3.5, 3]), "sizes[1]"),
        (lambda: sd.mlp(["n", 3, 3]), "sizes[0]"),
        (lambda: sd.mlp("4,3"), "list"),
        (lambda: sd.mlp([4, 3, 3], "swish"), "unknown activation 'swish'"),
        (lambda: sd.mlp([4, 3, 3], ["tanh", "relu"]), "2 entries but the network has 1"),
        (lambda: sd.mlp([4, 3, 3], loss="hinge"), "unknown loss 'hinge'"),
        (lambda: sd.mlp([4, 3, 1]), "at least 2 outputs"),
        (lambda: sd.mlp([4, 3, 3], "relu", kink_grad=2), "between the one-sided derivatives"),
        (lambda: sd.activation("leaky_relu", beta=1), "no parameter 'beta'"),
        (lambda: derive(sd.mlp([2, 2, 2]), {"W1": np.zeros((3, 2)), "*": sd.zeros()}), "shape (3, 2)"),
        (lambda: derive(sd.mlp([2, 2, 2]), {"W1": sd.zeros()}), "does not cover"),
        (lambda: derive(sd.mlp([2, 2, 2]), {"W9": sd.zeros(), "*": sd.zeros()}), "'W9'"),
        (lambda: derive(sd.mlp([2, "n", 2]), sd.generic()), "symbolic shape"),
        (lambda: derive(sd.mlp([2, 2, 2]), "zeros"), "init for W1"),
        (lambda: derive(sd.mlp([2, 2, 2]), sd.zeros()).grad("W3", (0, 0)), "no parameter named 'W3'"),
        (lambda: derive(sd.mlp([2, 2, 2]), sd.zeros()).grad("W1", (5, 0)), "out of range"),
        (lambda: derive(sd.mlp([2, 2, 2]), sd.zeros()).z(0, 0), "layers 1..2"),
        (lambda: derive(sd.mlp([2, 1000, 1000, 2]), sd.generic()), "limit"),
        (lambda: sd.constant(float("nan")), "finite"),
    ],
)
def test_bad_input_gets_one_line_library_error(call, fragment):
    with pytest.raises(sd.SymderivError) as info:
        call()
    message = str(info.value)
    assert fragment in message and "\n" not in message
