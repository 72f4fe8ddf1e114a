"""The NumPy reference against PyTorch: autograd gradients, torch.optim trajectories,
and the nn.Sequential bridge.  (That ``import symderiv`` never imports torch, and that
``symderiv.torch`` fails clearly without it, is tested in test_numeric.py, which runs
without torch.)"""
import numpy as np
import pytest

import symderiv as sd
from symderiv import numeric as N
from symderiv.errors import NetworkError, SymderivError, UnsupportedError
from symderiv.init import resolve_init


torch = pytest.importorskip("torch", reason="PyTorch is an optional extra: pip install torch==2.13.0")
nn = torch.nn
from symderiv.torch import from_module, torch_gradients, torch_trajectory  # noqa: E402

ACTIVATIONS = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "elu", "silu", "gelu"]
LOSSES = ["softmax_cross_entropy", "sigmoid_binary_cross_entropy", "mean_squared_error"]
MODULES = {
    "relu": nn.ReLU(), "leaky_relu": nn.LeakyReLU(0.2), "tanh": nn.Tanh(), "sigmoid": nn.Sigmoid(),
    "softplus": nn.Softplus(), "elu": nn.ELU(alpha=0.5), "silu": nn.SiLU(), "gelu": nn.GELU(), "identity": nn.Identity(),
}


def assert_close(a, b, rtol):
    for name in a:
        err = N.relative_error(a[name], b[name]).max()
        assert err < rtol, f"{name}: relative error {err:.1e}"


# ---------------------------------------------------------------- gradients
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_numeric_gradients_match_torch_autograd(act, loss):
    net = sd.mlp([3, 4, 3, 3], act, loss)
    params = N.params_from_init(net, sd.generic(), seed=5)
    X, Y = N.random_data(net, 6, seed=1)
    ours = N.gradients(net, params, X, Y)
    assert max(np.abs(g).max() for g in ours.values()) > 1e-3
    assert_close(ours, torch_gradients(net, params, X, Y), 1e-10)


# ---------------------------------------------------------------- optimizers
@pytest.mark.parametrize(
    "optimizer, options",
    [
        ("sgd", {}),
        ("sgd", {"weight_decay": 0.1}),
        ("momentum", {}),
        ("momentum", {"momentum": 0.5, "dampening": 0.2, "weight_decay": 0.05}),
        ("nesterov", {"weight_decay": 0.01}),
        ("rmsprop", {}),
        ("rmsprop", {"centered": True, "momentum": 0.5, "weight_decay": 0.1, "alpha": 0.9}),
        ("adam", {}),
        ("adam", {"betas": (0.8, 0.99), "weight_decay": 0.1, "amsgrad": True}),
        ("adamw", {}),
        ("adamw", {"weight_decay": 0.3, "eps": 1e-6, "amsgrad": True}),
    ],
)
def test_optimizer_trajectories_match_torch_optim(optimizer, options):
    net = sd.mlp([3, 4, 3, 3], "tanh", "softmax_cross_entropy")
    params = N.params_from_init(net, sd.generic(), seed=2)
    X, Y = N.random_data(net, 8, seed=3)
    ours = N.train(net, params, X, Y, optimizer=optimizer, steps=12, lr=0.05, batch_size=5, seed=1, **options)
    theirs = torch_trajectory(net, params, X, Y, optimizer=optimizer, steps=12, lr=0.05, batch_size=5, seed=1,
                              **options)
    assert ours.options == theirs.options and len(ours.params) == len(theirs.params) == 13
    assert set(ours.moved()) == set(net.parameter_names())
    for t, (a, b) in enumerate(zip(ours.params, theirs.params)):
        for name in a:
            err = N.relative_error(a[name], b[name]).max()
            assert err < 1e-10, f"step {t}, {name}: relative error {err:.1e}"


# ---------------------------------------------------------------- from_module
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_from_module_round_trip(act, bias):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4, bias=bias), MODULES[act], nn.Linear(4, 5, bias=bias), MODULES[act],
                          nn.Linear(5, 3, bias=bias)).double()
    net, params = from_module(model, loss="mean_squared_error")
    assert net.sizes == (3, 4, 5, 3) and net.bias is bias and net.loss.name == "mean_squared_error"
    assert [a.name for a in net.activations] == [act, act]
    X, Y = N.random_data(net, 7, seed=4)
    # forward values
    out = model(torch.from_numpy(X)).detach().numpy()
    np.testing.assert_allclose(N.forward(net, params, X)["z"][net.depth], out, rtol=1e-10, atol=1e-14)
    # gradients: autograd of torch's own MSELoss on the module
    model.zero_grad()
    nn.MSELoss()(model(torch.from_numpy(X)), torch.from_numpy(Y)).backward()
    linears = [m for m in model if isinstance(m, nn.Linear)]
    theirs = {}
    for l, m in enumerate(linears, start=1):
        theirs[f"W{l}"] = m.weight.grad.numpy()
        if bias:
            theirs[f"b{l}"] = m.bias.grad.numpy()
    assert_close(N.gradients(net, params, X, Y), theirs, 1e-10)


def test_from_module_parameters_are_an_exact_init():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))  # float32 weights
    net, params = from_module(model)
    assert net.activations[0].name == "relu" and net.loss.name == "softmax_cross_entropy"
    resolved = resolve_init(net, params)
    w = model[0].weight.detach()[1, 0].item()
    assert resolved["W1"].array[1, 0] == sd.init.exact_value(w, "w")  # the float32 value, exactly
    again = N.params_from_init(net, params)
    for name in params:
        np.testing.assert_array_equal(again[name], params[name])


def test_from_module_parameters_of_activations_and_implicit_identity():
    model = nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(0.1), nn.Linear(3, 3), nn.Linear(3, 2), nn.Identity())
    net, _ = from_module(model)
    assert net.activations[0].name == "leaky_relu" and float(dict(net.activations[0].params)["slope"]) == 0.1
    assert net.activations[1].name == "identity"
    net, _ = from_module(nn.Linear(4, 3))
    assert net.sizes == (4, 3) and net.depth == 1


@pytest.mark.parametrize(
    "model, error, message",
    [
        (nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.1), nn.Linear(3, 2)), UnsupportedError,
         r"module 1 \(Dropout\) is not supported; supported modules: Linear, ReLU, LeakyReLU, Tanh"),
        (nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2), nn.Softmax(dim=1)), UnsupportedError,
         r"module 3 \(Softmax\) is not supported"),
        (nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Tanh(), nn.Linear(3, 2)), UnsupportedError,
         r"two activations in a row"),
        (nn.Sequential(nn.ReLU(), nn.Linear(2, 2)), UnsupportedError, r"before the first Linear"),
        (nn.Sequential(nn.Linear(2, 3), nn.Tanh()), UnsupportedError, r"follows the last Linear"),
        (nn.Sequential(nn.Linear(2, 3), nn.GELU(approximate="tanh"), nn.Linear(3, 2)), UnsupportedError,
         r"GELU\(approximate='tanh'\)"),
        (nn.Sequential(nn.Linear(2, 3), nn.Softplus(beta=2), nn.Linear(3, 2)), UnsupportedError, r"Softplus\(beta=2"),
        (nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2, bias=False)), NetworkError,
         r"layers 1 have one, layers 2 do not"),
        (nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(4, 2)), NetworkError, r"takes 4 inputs"),
        (nn.Conv1d(1, 1, 1), UnsupportedError, r"nn.Sequential"),
    ],
)
def test_from_module_refuses_what_it_cannot_describe(model, error, message):
    with pytest.raises(error, match=message):
        from_module(model)


def test_a_kink_convention_torch_does_not_use_is_refused():
    net = sd.mlp([2, 2, 2], "relu", kink_grad=1)
    params = N.params_from_init(net, sd.zeros())
    with pytest.raises(UnsupportedError, match="f'\\(0\\) = 0"):
        torch_gradients(net, params, np.ones((1, 2)), [[1.0, 0.0]])
    assert issubclass(UnsupportedError, SymderivError)
