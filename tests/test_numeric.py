"""The NumPy reference against itself by other means: finite differences, the theory's
facts at zero/constant init, the optimizers' formulas written out by hand."""
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given, settings, strategies as st

import symderiv as sd
from symderiv import activations as _activations
from symderiv import numeric as N
from symderiv.errors import InitError, InvalidArgument, RegistryError, SymderivError, UnsupportedError
from symderiv.strategies import datasets, inits, networks

ACTIVATIONS = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "elu", "silu", "gelu"]
LOSSES = ["softmax_cross_entropy", "sigmoid_binary_cross_entropy", "mean_squared_error"]
OPTIMIZERS = ["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"]


def fd_mismatch(net, params, X, Y):
    """Entries where the analytic gradient and central differences disagree.

    Agreement is relative error < 1e-6, or an absolute difference below the floor that
    rounding puts under central differences (machine eps · |L| / eps ≈ 1e-10 · |L|).
    """
    analytic = N.gradients(net, params, X, Y)
    numeric = N.finite_differences(net, params, X, Y)
    floor = 1e-8 * max(1.0, abs(N.loss(net, params, X, Y)))
    bad = {}
    for name in analytic:
        ok = (N.relative_error(analytic[name], numeric[name]) < 1e-6) | (np.abs(analytic[name] - numeric[name]) < floor)
        if not ok.all():
            bad[name] = (analytic[name], numeric[name])
    return bad


# ---------------------------------------------------------------- gradients vs finite differences
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_gradients_match_finite_differences_for_every_activation_and_loss(act, loss):
    net = sd.mlp([3, 4, 3, 3], act, loss)
    params = N.params_from_init(net, sd.generic(), seed=7)
    X, Y = N.random_data(net, 5, seed=3)
    assert not N.at_kink(net, params, X)
    assert max(np.abs(g).max() for g in N.gradients(net, params, X, Y).values()) > 1e-3  # not vacuous
    assert fd_mismatch(net, params, X, Y) == {}


@pytest.mark.parametrize("act", ACTIVATIONS)
@settings(deadline=None)
@given(data=st.data())
def test_gradients_match_finite_differences_on_drawn_networks(act, data):
    net = data.draw(networks(depth=(1, 3), widths=(1, 3), inputs=(1, 3), outputs=(2, 3), activations=[act]))
    init = data.draw(inits(net))
    params = N.params_from_init(net, init, seed=data.draw(st.integers(0, 100)))
    X, Y = data.draw(datasets(net, batch=(1, 4)))
    assume(not _fd_unreliable(net, params, X))
    assert fd_mismatch(net, params, X, Y) == {}


def _fd_unreliable(net, params, X, eps=1e-4):
    """Whether central differences may miss fd_mismatch's tolerance for a reason other than a bug:
    a kinked activation within ``eps`` of its kink (:func:`symderiv.numeric.at_kink`), where the
    loss is not differentiable.  ``eps`` exceeds any step's effect here: 1e-6 times |∂z/∂θ| (a few
    tens at most for these small networks and N(0, 1) inputs) is below 1e-4.  (An ELU at 0 is
    C¹ with a jump of f'': finite differences use one-sided formulas there, so it is compared.)
    """
    return N.at_kink(net, params, X, eps=eps)


def test_per_example_gradients_average_to_the_batch_gradient():
    net = sd.mlp([3, 4, 2], "tanh", "mean_squared_error")
    params = N.params_from_init(net, sd.generic(), seed=1)
    X, Y = N.random_data(net, 6, seed=2)
    per = N.gradients(net, params, X, Y, per_example=True)
    batch = N.gradients(net, params, X, Y)
    for name in batch:
        assert per[name].shape == (6,) + batch[name].shape
        np.testing.assert_allclose(per[name].mean(axis=0), batch[name], rtol=1e-13, atol=1e-15)
    one = N.gradients(net, params, X[2:3], Y[2:3])
    for name in batch:
        np.testing.assert_allclose(per[name][2], one[name], rtol=1e-13, atol=1e-15)


def test_the_checker_rejects_a_wrong_derivative():
    """A NumPy derivative that is off (here f' = 1 - tanh, missing the square) is caught."""
    name = "tanh_wrong_derivative"
    sd.register_activation(name, sp.tanh, lambda z: 1 - sp.tanh(z) ** 2)
    try:
        N.register_numeric_activation(name, np.tanh, lambda z: 1.0 - np.tanh(z))
        net = sd.mlp([3, 3, 2], name)
        params = N.params_from_init(net, sd.generic(), seed=0)
        X, Y = N.random_data(net, 4, seed=0)
        assert set(fd_mismatch(net, params, X, Y)) == {"W1", "b1"}
    finally:
        del _activations._REGISTRY[name]
        N._ACTIVATIONS.pop(name, None)


# ---------------------------------------------------------------- kinks
def _net_with_one_unit_at_the_kink(kink_grad):
    """3-2-2 ReLU net whose first hidden unit has z = 0 on every input (zero row, zero bias)."""
    net = sd.mlp([3, 2, 2], "relu", kink_grad=kink_grad)
    params = N.params_from_init(net, sd.generic(), seed=4)
    params["W1"][0] = 0.0
    params["b1"][0] = 0.0
    return net, params


def test_at_kink_detects_a_relu_at_its_kink_and_finite_differences_see_the_symmetric_derivative():
    net, params = _net_with_one_unit_at_the_kink(kink_grad=None)  # PyTorch's f'(0) = 0
    X, Y = N.random_data(net, 5, seed=1)
    assert N.at_kink(net, params, X)
    analytic = N.gradients(net, params, X, Y)
    numeric = N.finite_differences(net, params, X, Y)
    # the unit at the kink: f'(0) = 0 gives no gradient; central differences average the sides
    assert np.all(analytic["W1"][0] == 0) and analytic["b1"][0] == 0
    assert np.abs(numeric["b1"][0]) > 1e-3
    # with the convention f'(0) = 1/2 the two agree: the central difference of relu at 0 is 1/2
    # (only to first order in the step: on one side of the kink the unit is off)
    half, _ = _net_with_one_unit_at_the_kink(kink_grad=sp.Rational(1, 2))
    assert N.at_kink(half, params, X)
    for name, g in N.gradients(half, params, X, Y).items():
        np.testing.assert_allclose(g, numeric[name], rtol=1e-4, atol=1e-9)


def test_at_kink_is_false_for_smooth_activations_even_at_zero():
    net = sd.mlp([3, 2, 2], "tanh")
    params = N.params_from_init(net, sd.zeros())
    assert not N.at_kink(net, params, np.ones((2, 3)))
    relu = sd.mlp([3, 2, 2], "relu")
    assert N.at_kink(relu, params, np.ones((2, 3)))


def test_elu_with_alpha_one_is_smooth_and_other_alphas_use_the_kink_convention():
    z = np.array([[-1.0, 0.0, 1.0]])
    net1 = sd.mlp([3, 3, 2], sd.activation("elu", alpha=1))
    _, df1 = N._bind_activation(net1.activation_of(1))
    np.testing.assert_array_equal(df1(z), [[np.exp(-1.0), 1.0, 1.0]])
    net2 = sd.mlp([3, 3, 2], sd.activation("elu", alpha=2), kink_grad=sp.Rational(3, 2))
    _, df2 = N._bind_activation(net2.activation_of(1))
    np.testing.assert_array_equal(df2(z), [[2 * np.exp(-1.0), 1.5, 1.0]])


# ---------------------------------------------------------------- the theory, numerically
def _simplex_roundoff_bounds(net, params, X, c):
    """Per-example bounds on |hidden gradients| of a softmax net whose W^(L) is the constant ``c``,
    where the exact hidden gradients are 0 (theory.md §1): {name: array shaped like the per-example
    gradient}.  Why these bound the float64 values, whatever the data:

    * exactly, W^(L)ᵀ(p − y) = c·Σ_k(p_k − y_k) = 0.  In float64, Σ_k p_k (p = exp(log_softmax z))
      and Σ_k y_k (Dirichlet: gammas over their sum) are each 1 within (2K + 8)·eps, and the K-term
      product δ^(L) @ W^(L) adds at most (K + 2)·eps·Σ_k|c||p_k − y_k| ≤ (2K + 4)·|c|·eps, so
      |W^(L)ᵀδ^(L)| ≤ (6K + 20)·|c|·eps < 64·K·|c|·eps (a margin of 3 or more for K >= 2);
    * going back, |δ^(l)| ≤ (|δ^(l+1)| @ |W^(l+1)|)·|f'(z^(l))| up to a relative n·eps from the
      rounding of the width-n sum, covered by a factor 2 per layer; a per-example gradient is the
      bound on δ times |h| (one more rounding, covered by the factor 2 the caller applies).
    """
    eps = np.finfo(float).eps
    fwd = N.forward(net, params, X)
    z, h = fwd["z"], fwd["h"]
    L, K = net.depth, net.n_outputs
    beta = np.full(h[L - 1].shape, 64 * K * abs(c) * eps)  # bounds |W^(L)ᵀ δ^(L)|, per example and unit
    bounds = {}
    for l in range(L - 1, 0, -1):
        _, df = N._bind_activation(net.activation_of(l))
        beta = beta * np.abs(df(z[l]))  # bounds |δ^(l)|
        bounds[f"W{l}"] = beta[:, :, None] * np.abs(h[l - 1])[:, None, :]
        if net.bias:
            bounds[f"b{l}"] = beta
        if l > 1:
            beta = 2 * (beta @ np.abs(params[f"W{l}"]))
    return bounds


@settings(deadline=None)
@given(
    net=networks(depth=(2, 4), widths=(1, 4), losses=["softmax_cross_entropy"]),
    c=st.sampled_from([sp.Rational(1, 2), sp.Rational(-1, 3), sp.Integer(2), sp.Rational(3, 4)]),
    seed=st.integers(0, 1000),
    data=st.data(),
)
def test_softmax_constant_init_gives_no_hidden_gradient_at_step_zero(net, c, seed, data):
    """theory.md §1: W^(L)ᵀ(p − y) = c·Σ_k(p_k − y_k)·1 = 0 for labels on the simplex, example by example.

    No threshold here depends on the data: the hidden gradients are compared with a roundoff
    bound computed from the same forward pass, and the output gradient with an exact fact.
    (A fixed threshold such as "output gradient > 1e-4" fails on random data: a ReLU layer
    without bias can be dead on the whole batch, and a batch mean of p − y can be tiny.)
    """
    params = N.params_from_init(net, sd.constant(c))
    X, Y = N.random_data(net, 5, seed=seed)
    K, L = net.n_outputs, net.depth
    k = data.draw(st.integers(0, K - 1), label="example 0's one-hot class")
    Y[0] = np.eye(K)[k]  # a vertex of the simplex, exactly: makes the output gradient below certain
    per = N.gradients(net, params, X, Y, per_example=True)
    batch = N.gradients(net, params, X, Y)
    bounds = _simplex_roundoff_bounds(net, params, X, float(c))
    assert set(bounds) == {n for n in net.parameter_names() if int(n[1:]) < L}
    for name, bound in bounds.items():
        assert np.all(np.abs(per[name]) <= 2 * bound), name  # every example, not just the mean
        assert np.all(np.abs(batch[name]) <= 2 * bound.mean(axis=0)), name
    # Not vacuous: the output layer does learn.  Every z^(L)_k is the same sum (W^(L) constant), so
    # p_0 = (1/K, …, 1/K) up to roundoff, and with y_0 = e_k: ∂ℓ_0/∂b^(L)_k = p_0k − 1 <= 1/2 − 1
    # and ∂ℓ_0/∂W^(L)_kj = (p_0k − 1)·h^(L-1)_0j, at least h^(L-1)_0j/2 in size.
    h0 = N.forward(net, params, X)["h"][L - 1][0]
    assert np.all(np.abs(per[f"W{L}"][0][k]) >= 0.49 * np.abs(h0))
    if net.bias:
        assert per[f"b{L}"][0][k] <= -0.49


def test_constant_init_hidden_gradient_is_not_zero_for_other_losses():
    """The simplex fact is about softmax cross-entropy: with squared error the hidden layers learn."""
    net = sd.mlp([3, 4, 3], "tanh", "mean_squared_error")
    params = N.params_from_init(net, sd.constant(sp.Rational(1, 2)))
    X, Y = N.random_data(net, 5, seed=0)
    assert np.abs(N.gradients(net, params, X, Y)["W1"]).max() > 1e-3


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@settings(deadline=None)
@given(net=networks(depth=(2, 4), activations=["tanh"]), seed=st.integers(0, 1000))
def test_zero_init_tanh_only_the_output_bias_moves(optimizer, net, seed):
    """theory.md §3: at zero init with tanh hidden layers every weight stays exactly 0."""
    params = N.params_from_init(net, sd.zeros())
    X, Y = N.random_data(net, 8, seed=seed)
    traj = N.train(net, params, X, Y, optimizer=optimizer, steps=20, lr=0.1, batch_size=4, seed=seed)
    assert traj.steps == 20
    for name in net.parameter_names():
        if name[0] == "W":
            assert np.all(traj.final[name] == 0), name
    L = net.depth
    assert traj.moved() == ((f"b{L}",) if net.bias else ())


def _tie_drift(W, axis):
    """How far the rows (axis 0) or columns (axis 1) of ``W`` are from the first one, relative to the
    scale of ``W``: entrywise relative error would blow up at entries passing near 0."""
    first = W[:1] if axis == 0 else W[:, :1]
    return np.abs(W - first).max() / np.abs(W).max()


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_constant_init_keeps_hidden_units_tied_along_training(optimizer):
    """theory.md §3: units of each hidden layer stay tied (up to last-bit drift, reported).

    Tied rows are the same arithmetic, so this BLAS keeps them bit-identical; another BLAS may
    sum them in another order and drift in the last bits, which training can amplify.  The bound
    1e-10 (of the matrix's scale, at every step) has a margin of 300 or more against gradients
    perturbed by 16 ulps at random at every step (measured: at most 1.5e3 eps for every optimizer
    here), while a real break of the tie shows up at the size of the moves (> 1e-3).  c = 1/3, not
    1/2: RMSprop's first step is lr/sqrt(1 - alpha) = 0.5 per entry, which would take W from 1/2 to
    ~0 and make the ties of the next steps hypersensitive to roundoff (6e-9 in the same experiment).
    """
    net = sd.mlp([3, 4, 4, 3], "sigmoid", "mean_squared_error")
    params = N.params_from_init(net, sd.constant(sp.Rational(1, 3)))
    X, Y = N.random_data(net, 6, seed=5)
    traj = N.train(net, params, X, Y, optimizer=optimizer, steps=15, lr=0.05)
    for l in (1, 2):
        assert np.abs(traj.final[f"W{l}"] - traj.initial[f"W{l}"]).max() > 1e-3  # it did move
    for t, theta in enumerate(traj.params):
        for l in (1, 2):
            drift = _tie_drift(theta[f"W{l}"], axis=0)
            assert drift < 1e-10, f"step {t}: rows of W{l} drifted apart by {drift:.1e}"
        assert _tie_drift(theta["W3"], axis=1) < 1e-10, f"step {t}: columns of W3 drifted apart"
    assert np.ptp(traj.final["W3"][:, 0]) > 1e-3  # output rows separate


# ---------------------------------------------------------------- optimizers by hand
def test_sgd_momentum_and_nesterov_formulas():
    p, g1, g2 = {"w": np.array([1.0, -2.0])}, {"w": np.array([0.5, 1.0])}, {"w": np.array([-1.0, 2.0])}
    sgd = N.make_optimizer("sgd", lr=0.1, weight_decay=0.5)
    np.testing.assert_allclose(sgd.step(p, g1)["w"], p["w"] - 0.1 * (g1["w"] + 0.5 * p["w"]))
    mom = N.make_optimizer("momentum", lr=0.1)
    p1 = mom.step(p, g1)
    p2 = mom.step(p1, g2)
    np.testing.assert_allclose(p1["w"], p["w"] - 0.1 * g1["w"])  # the buffer starts as the gradient
    np.testing.assert_allclose(p2["w"], p1["w"] - 0.1 * (0.9 * g1["w"] + g2["w"]))
    nes = N.make_optimizer("nesterov", lr=0.1)
    q1 = nes.step(p, g1)
    np.testing.assert_allclose(q1["w"], p["w"] - 0.1 * (g1["w"] + 0.9 * g1["w"]))


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_the_first_adam_step_has_size_lr_per_coordinate(name):
    p, g = {"w": np.array([1.0, -2.0, 0.0])}, {"w": np.array([3e-3, -40.0, 0.0])}
    opt = N.make_optimizer(name, lr=0.01, weight_decay=0.0)
    step = opt.step(p, g)["w"] - p["w"]
    np.testing.assert_allclose(step, [-0.01, 0.01, 0.0], rtol=1e-5)


def test_adamw_decays_weights_decoupled_from_the_gradient():
    p, g = {"w": np.array([2.0])}, {"w": np.array([0.0])}
    np.testing.assert_allclose(N.make_optimizer("adamw", lr=0.1, weight_decay=0.5).step(p, g)["w"], [2.0 * 0.95])
    # Adam's L2 term goes through the moments instead: the first step is lr·sign(wd·p)
    np.testing.assert_allclose(N.make_optimizer("adam", lr=0.1, weight_decay=0.5).step(p, g)["w"], [1.9], rtol=1e-6)


def test_rmsprop_first_step():
    p, g = {"w": np.array([1.0])}, {"w": np.array([2.0])}
    out = N.make_optimizer("rmsprop", lr=0.01).step(p, g)["w"]
    np.testing.assert_allclose(out, 1.0 - 0.01 * 2.0 / (np.sqrt(0.01 * 4.0) + 1e-8))


def test_minibatches_are_reproducible_and_recorded():
    net = sd.mlp([2, 3, 2], "tanh")
    params = N.params_from_init(net, sd.generic(), seed=0)
    X, Y = N.random_data(net, 10, seed=0)
    a = N.train(net, params, X, Y, optimizer="adam", steps=4, lr=0.01, batch_size=3, seed=9)
    b = N.train(net, params, X, Y, optimizer="adam", steps=4, lr=0.01, batch_size=3, seed=9)
    assert len(a.batches) == 4 and all(len(i) == 3 for i in a.batches)
    for ta, tb in zip(a.params, b.params):
        for k in ta:
            np.testing.assert_array_equal(ta[k], tb[k])
    assert a.options["betas"] == (0.9, 0.999) and a.optimizer == "adam"
    assert a.params[0] is not params and set(a.moved()) == set(net.parameter_names())


# ---------------------------------------------------------------- inits and data
def test_params_from_init_kinds():
    net = sd.mlp([2, 3, 2], "tanh")
    c = sp.Symbol("c")
    params = N.params_from_init(
        net, {"W1": sd.constant(c), "b1": sd.zeros(), "W2": [[1, sp.Rational(1, 2), c], [0, -1, 2]], "b2": sd.generic()},
        values={"c": 0.25},
    )
    np.testing.assert_array_equal(params["W1"], np.full((3, 2), 0.25))
    np.testing.assert_array_equal(params["b1"], np.zeros(3))
    np.testing.assert_array_equal(params["W2"], [[1.0, 0.5, 0.25], [0.0, -1.0, 2.0]])
    assert params["b2"].shape == (2,) and np.all(params["b2"] != 0)
    again = N.params_from_init(net, {"*": sd.generic()}, seed=3)
    np.testing.assert_array_equal(again["W1"], N.params_from_init(net, sd.generic(), seed=3)["W1"])
    with pytest.raises(InitError, match="c"):
        N.params_from_init(net, sd.constant(c))
    np.testing.assert_array_equal(N.params_from_init(net, sd.constant(c), values={c: 2})["b2"], [2.0, 2.0])


@pytest.mark.parametrize("loss", LOSSES)
def test_random_data_respects_the_label_domain(loss):
    net = sd.mlp([3, 4], loss=loss)
    X, Y = N.random_data(net, 50, seed=1)
    assert X.shape == (50, 3) and Y.shape == (50, 4)
    if loss == "softmax_cross_entropy":
        assert np.all(Y >= 0) and np.allclose(Y.sum(axis=1), 1.0)
    elif loss == "sigmoid_binary_cross_entropy":
        assert np.all((Y >= 0) & (Y <= 1))
    else:
        assert Y.min() < 0 < Y.max()


def test_forward_layers_and_prediction():
    net = sd.mlp([2, 3, 3], "relu")
    params = N.params_from_init(net, sd.generic(), seed=2)
    X = np.array([[1.0, -1.0], [0.5, 2.0]])
    fwd = N.forward(net, params, X)
    np.testing.assert_array_equal(fwd["h"][0], X)
    np.testing.assert_allclose(fwd["z"][1], X @ params["W1"].T + params["b1"])
    np.testing.assert_allclose(fwd["h"][1], np.maximum(fwd["z"][1], 0))
    np.testing.assert_allclose(fwd["p"].sum(axis=1), 1.0)
    Y = np.eye(3)[[0, 2]]
    expected = -np.mean(np.log(fwd["p"][[0, 1], [0, 2]]))
    assert N.loss(net, params, X, Y) == pytest.approx(expected, rel=1e-14)


def test_relative_error():
    np.testing.assert_array_equal(N.relative_error([0.0, 1.0, -2.0, 1.0], [0.0, 1.0, 2.0, 0.0]), [0, 0, 2, 1])


# ---------------------------------------------------------------- errors
def _net():
    return sd.mlp([2, 3, 2], "tanh")


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: N.gradients(_net(), {"W1": np.zeros((3, 2))}, np.zeros((1, 2)), [[1, 0]]), InvalidArgument, "missing"),
        (lambda: N.gradients(_net(), N.params_from_init(_net(), sd.zeros()), np.zeros((1, 3)), [[1, 0]]),
         InvalidArgument, r"X must have shape \(batch, 2\)"),
        (lambda: N.gradients(_net(), N.params_from_init(_net(), sd.zeros()), np.zeros((1, 2)), [[1, 1]]),
         InvalidArgument, "simplex"),
        (lambda: N.gradients(_net(), {**N.params_from_init(_net(), sd.zeros()), "W1": np.zeros((2, 3))},
                             np.zeros((1, 2)), [[1, 0]]), InvalidArgument, "W1 has shape"),
        (lambda: N.make_optimizer("lbfgs", lr=0.1), RegistryError, "known optimizers: adam"),
        (lambda: N.make_optimizer("adam", lr=0.1, momentum=0.9), InvalidArgument, "no option 'momentum'"),
        (lambda: N.make_optimizer("sgd", lr=0.1, nesterov=True), InvalidArgument, "Nesterov"),
        (lambda: N.make_optimizer("adam", lr=0.1, betas=(0.9, 1.5)), InvalidArgument, "betas"),
        (lambda: N.random_data(_net(), 0), InvalidArgument, "batch must be a positive integer"),
        (lambda: N.params_from_init(sd.mlp([2, "n", 2]), sd.zeros()), SymderivError, "concrete widths"),
        (lambda: N.train(_net(), N.params_from_init(_net(), sd.zeros()), np.zeros((2, 2)), [[1, 0], [0, 1]],
                         batch_size=5), InvalidArgument, "batch_size"),
        # labels are required by every loss computation (they used to reach the arithmetic as None)
        (lambda: N.loss(_net(), N.params_from_init(_net(), sd.zeros()), np.zeros((1, 2)), None),
         InvalidArgument, r"Y \(the labels\) is required"),
        (lambda: N.gradients(_net(), N.params_from_init(_net(), sd.zeros()), np.zeros((1, 2)), None),
         InvalidArgument, r"Y \(the labels\) is required"),
        (lambda: N.train(_net(), N.params_from_init(_net(), sd.zeros()), np.zeros((1, 2)), None),
         InvalidArgument, r"Y \(the labels\) is required"),
    ],
)
def test_bad_arguments_raise_library_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_an_activation_without_numpy_form_is_named():
    name = "cube_no_numpy"
    sd.register_activation(name, lambda z: z**3)
    try:
        net = sd.mlp([2, 2, 2], name)
        with pytest.raises(UnsupportedError, match="'cube_no_numpy' has no NumPy implementation"):
            N.gradients(net, N.params_from_init(net, sd.generic()), np.ones((1, 2)), [[0.5, 0.5]])
        assert name not in N.numeric_activations()
    finally:
        del _activations._REGISTRY[name]
    with pytest.raises(RegistryError, match="register it first"):
        N.register_numeric_activation("not_registered", np.sin, np.cos)


# ---------------------------------------------------------------- the optional torch bridge
def test_importing_symderiv_does_not_import_torch():
    code = "import sys, symderiv, symderiv.numeric; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_symderiv_torch_without_torch_raises_a_clear_library_error():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from symderiv.errors import SymderivError\n"
        "try:\n    import symderiv.torch\n"
        "except SymderivError as e:\n    assert 'pip install' in str(e) and isinstance(e, ImportError), e\n"
        "else:\n    raise SystemExit('no error')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
