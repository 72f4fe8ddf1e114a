"""The public hypothesis strategies: what they draw, and the arguments they refuse."""
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st

import symderiv as sd
from symderiv import activations as _activations
from symderiv import numeric as N
from symderiv.errors import InvalidArgument, RegistryError, SymderivError
from symderiv.init import resolve_init
from symderiv.strategies import INIT_KINDS, datasets, inits, networks

NET = sd.mlp([2, 3, 2], "tanh")


@settings(deadline=None)
@given(net=networks(depth=(2, 3), widths=(2, 3), inputs=3, outputs=(1, 2),
                    activations=["relu", "leaky_relu"], losses=["softmax_cross_entropy", "mse"], bias=False))
def test_networks_respect_their_arguments(net):
    assert 2 <= net.depth <= 3
    assert net.sizes[0] == 3 and all(2 <= n <= 3 for n in net.sizes[1:-1])
    # K in (1, 2), raised to 2 for softmax cross-entropy
    assert net.n_outputs == 2 if net.loss.name == "softmax_cross_entropy" else net.n_outputs in (1, 2)
    assert {a.name for a in net.activations} <= {"relu", "leaky_relu"}
    assert net.loss.name in ("softmax_cross_entropy", "mean_squared_error")
    assert net.bias is False


def test_networks_draw_every_numeric_activation_and_loss_by_default():
    seen_acts, seen_losses = set(), set()

    # derandomized: the same 200 draws every run, so the check cannot flake (with random seeds,
    # 60 of 60 runs saw all 9 activations and 3 losses; missing one in 200 draws of 9 choices
    # has probability about 9·(8/9)^200 ≈ 5e-10 even for uniform draws)
    @settings(max_examples=200, deadline=None, database=None, derandomize=True)
    @given(networks(depth=2))
    def collect(net):
        seen_acts.add(net.activations[0].name)
        seen_losses.add(net.loss.name)

    collect()
    assert seen_losses == set(N.numeric_losses())
    assert seen_acts == set(N.numeric_activations())


@settings(deadline=None)
@given(data=st.data())
def test_inits_are_accepted_by_resolve_init(data):
    net = data.draw(networks(depth=(1, 3), widths=(1, 3)))
    kinds = data.draw(st.lists(st.sampled_from(INIT_KINDS), min_size=1, unique=True))
    init = data.draw(inits(net, kinds=kinds))
    resolved = resolve_init(net, init)
    assert set(resolved) == set(net.parameter_names())
    for p in resolved.values():
        if p.kind == "uniform":
            assert isinstance(p.value, sp.Rational)  # exact, never a float
        elif p.kind == "array":
            assert all(isinstance(v, sp.Rational) for v in p.array.flat)
    params = N.params_from_init(net, init)
    assert all(np.all(np.isfinite(v)) for v in params.values())


@given(init=inits(NET, kinds=["constant"]))
def test_constant_inits_are_nonzero_exact_rationals(init):
    assert isinstance(init.value, sp.Rational) and init.value != 0


@given(data=st.data())
def test_datasets_respect_the_label_domain(data):
    net = data.draw(networks(depth=1, inputs=(1, 3)))
    X, Y = data.draw(datasets(net, batch=(2, 5)))
    assert X.dtype == np.float64 and X.shape[1] == net.sizes[0] and 2 <= X.shape[0] <= 5
    assert Y.shape == (X.shape[0], net.n_outputs)
    N.loss(net, N.params_from_init(net, sd.zeros()), X, Y)  # the domain check accepts them
    if net.loss.name == "softmax_cross_entropy":
        assert np.all(Y >= 0) and np.allclose(Y.sum(axis=1), 1)


@given(data=st.data())
def test_datasets_with_a_fixed_seed_are_the_random_data_of_that_seed(data):
    X, Y = data.draw(datasets(NET, batch=4, seed=11))
    X2, Y2 = N.random_data(NET, 4, seed=11)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(Y, Y2)


@pytest.fixture
def activation_without_numpy():
    """A registered activation with no NumPy form, removed again afterwards."""
    name = "strategies_test_no_numpy"
    sd.register_activation(name, lambda z: z**3)
    yield name
    del _activations._REGISTRY[name]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: networks(depth=0), r"depth must satisfy 1 <= min <= max, got 0"),
        (lambda: networks(depth=(3, 2)), r"depth must satisfy 1 <= min <= max, got \(3, 2\)"),
        (lambda: networks(widths=(1, 2, 3)), r"widths must be an integer or a pair \(min, max\)"),
        (lambda: networks(widths=(1.0, 2)), r"widths must be an integer or a pair"),
        (lambda: networks(inputs=True), r"inputs must be an integer or a pair"),
        (lambda: networks(outputs=(0, 3)), r"outputs must satisfy 1 <= min <= max"),
        (lambda: networks(outputs=1, losses=["softmax_cross_entropy"]), r"at least 2 outputs for loss softmax"),
        (lambda: networks(activations=[]), r"activations must be None or a non-empty list, got \[\]"),
        (lambda: networks(activations="tanh"), r"activations must be None or a non-empty list, got 'tanh'"),
        (lambda: networks(activations=[3]), r"activations must be names or Activation objects, got 3"),
        (lambda: networks(activations=["strategies_test_no_numpy"]), r"must have a NumPy implementation"),
        (lambda: networks(losses=[]), r"losses must be None or a non-empty list"),
        (lambda: networks(bias="yes"), r"bias must be None, True or False, got 'yes'"),
        (lambda: inits("not a net"), r"net must be a Network"),
        (lambda: inits(NET, kinds=()), r"kinds must be None or a non-empty list"),
        (lambda: inits(NET, kinds=["orthogonal"]), r"kinds must be drawn from .*got 'orthogonal'"),
        (lambda: inits(sd.mlp([2, "n", 2]), kinds=["generic"]), r"symbolic widths only admits"),
        (lambda: datasets(NET, batch=0), r"batch must satisfy 1 <= min <= max, got 0"),
        (lambda: datasets(NET, seed=-1), r"seed must be None or a non-negative integer, got -1"),
        (lambda: datasets(sd.mlp([2, "n", 2])), r"net must have concrete widths"),
    ],
)
def test_invalid_arguments_raise_before_anything_is_drawn(make, message, activation_without_numpy):
    with pytest.raises(InvalidArgument, match=message):
        make()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: networks(activations=["swish2"]), r"unknown activation 'swish2'"),
        (lambda: networks(losses=["hinge"]), r"unknown loss 'hinge'"),
    ],
)
def test_unknown_names_raise_registry_errors(make, message):
    with pytest.raises(RegistryError, match=message):
        make()
    assert issubclass(RegistryError, SymderivError) and issubclass(InvalidArgument, SymderivError)
