"""The vision ops of the graph engine (conv with lead axes/groups/dilation, max/avg/adaptive pooling, train-mode
BatchNorm, channel-axis group norm and eval BatchNorm) against torch autograd on hand-built graphs: the
engine's closed-form gradients, evaluated at the point in 60-digit balls, equal autograd's float64 gradients."""
from __future__ import annotations

import types

import numpy as np
import pytest
import sympy as sp

torch = pytest.importorskip("torch", reason="the vision ops are checked against torch autograd")
F = torch.nn.functional

from symderiv.graph import Graph  # noqa: E402
from symderiv.graph.replay import engine_gradients  # noqa: E402


def check(build, torch_fn, params: dict, x_shape, *, seed: int = 0, x=None, batch_size=None):
    """Build the graph ``build(g, x_node, param_nodes)``, put MSE on it, and compare the engine's gradients with
    autograd of ``torch_fn(x, params)`` (the same function on the same unbatched tensor); gradients must not all
    vanish (a comparison of zeros proves nothing)."""
    rng = np.random.default_rng(seed)
    g = Graph()
    if batch_size is not None:
        g.batch_size = batch_size
    xin = g.input(x_shape)
    nodes = {n: g.param(n, v.shape, init=v) for n, v in params.items()}
    out = build(g, xin, nodes)
    g.set_loss(out, "mse")
    xt = torch.tensor(rng.standard_normal(x_shape) if x is None else x, dtype=torch.float64)
    tp = {n: torch.tensor(v, dtype=torch.float64, requires_grad=True) for n, v in params.items()}
    z = torch_fn(xt, tp)
    assert tuple(z.shape) == g.nodes[out].shape
    y = torch.tensor(rng.standard_normal(tuple(z.shape)), dtype=torch.float64)
    F.mse_loss(z, y).backward()
    fake = types.SimpleNamespace(named_parameters=lambda: list(tp.items()))
    ours = engine_gradients(g, fake, xt.numpy(), y.numpy())
    for n, t in tp.items():
        assert np.allclose(ours[n], t.grad.numpy(), rtol=1e-9, atol=1e-12), n
        assert np.any(t.grad.numpy() != 0), n
    return g


def _r(*shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("stride,padding,dilation,groups", [(1, 1, 1, 1), (2, 1, 1, 2), (1, 2, 2, 1), (2, 0, 1, 4)])
def test_conv2d_with_a_batch_axis_matches_autograd(stride, padding, dilation, groups):
    params = {"w": _r(4, 4 // groups, 3, 3), "b": _r(4, seed=2)}
    check(lambda g, x, p: g.op("conv", [x, p["w"], p["b"]], stride=(stride,) * 2, padding=(padding,) * 2,
                               dilation=(dilation,) * 2, groups=groups),
          lambda x, p: F.conv2d(x, p["w"], p["b"], stride=stride, padding=padding, dilation=dilation, groups=groups),
          params, (2, 4, 5, 5))


def test_conv1d_per_example_matches_autograd():
    params = {"w": _r(3, 2, 2)}
    check(lambda g, x, p: g.op("conv", [x, p["w"]], stride=(1,), padding=(1,)),
          lambda x, p: F.conv1d(x[None], p["w"], padding=1)[0], params, (2, 4))


@pytest.mark.parametrize("kernel,stride,padding,dilation,ceil", [(2, 2, 0, 1, False), (3, 2, 1, 1, False),
                                                                 (3, 2, 1, 1, True), (2, 1, 0, 2, False)])
def test_max_pool_matches_autograd(kernel, stride, padding, dilation, ceil):
    params = {"w": _r(2, 2, 1, 1)}
    check(lambda g, x, p: g.op("max_pool", [g.op("conv", [x, p["w"]], stride=(1, 1), padding=(0, 0))],
                               kernel=(kernel,) * 2, stride=(stride,) * 2, padding=(padding,) * 2,
                               dilation=(dilation,) * 2, ceil_mode=ceil),
          lambda x, p: F.max_pool2d(F.conv2d(x[None], p["w"]), kernel, stride, padding, dilation, ceil)[0],
          params, (2, 5, 5))


def test_max_pool_ties_go_to_the_first_maximal_index_as_pytorch():
    """An input with many equal entries: every window has ties, and PyTorch sends the gradient to the first
    maximal entry of the window (row-major); so does the engine (Heaviside factors with H(0) = 0 before i,
    1 after)."""
    x = np.array([[[1.0, 1, 0, 2], [1, 1, 2, 2], [0, 1, 1, 1], [1, 0, 1, 1]]])
    params = {"s": np.array([1.5])}
    check(lambda g, x, p: g.op("max_pool", [g.op("mul", [x, p["s"]])], kernel=(2, 2), stride=(1, 1)),
          lambda x, p: F.max_pool2d((x * p["s"])[None], 2, 1)[0], params, (1, 4, 4), x=x)
    # and the input cotangent itself: autograd's pattern of where the gradient goes
    from symderiv.graph.ops import op_rule

    xs = np.array([[sp.Rational(int(v)) for v in row] for row in x[0]], dtype=object)[None]
    gout = np.empty((1, 3, 3), dtype=object)
    gout.fill(sp.Integer(1))
    ours = op_rule("max_pool").vjp(gout, [xs], None, {"kernel": (2, 2), "stride": (1, 1)})[0]
    xt = torch.tensor(x, requires_grad=True)
    F.max_pool2d(xt[None], 2, 1).sum().backward()
    assert np.array_equal(np.array(ours, dtype=float), xt.grad.numpy())


@pytest.mark.parametrize("kernel,stride,padding,ceil,include,override", [
    (2, 2, 0, False, True, None), (3, 2, 1, False, True, None), (3, 2, 1, False, False, None),
    (3, 2, 1, True, True, None), (3, 2, 1, True, False, None), (2, 1, 1, False, True, 3)])
def test_avg_pool_matches_autograd(kernel, stride, padding, ceil, include, override):
    params = {"w": _r(2, 2, 1, 1)}
    check(lambda g, x, p: g.op("avg_pool", [g.op("conv", [x, p["w"]], stride=(1, 1), padding=(0, 0))],
                               kernel=(kernel,) * 2, stride=(stride,) * 2, padding=(padding,) * 2, ceil_mode=ceil,
                               count_include_pad=include, divisor_override=override),
          lambda x, p: F.avg_pool2d(F.conv2d(x[None], p["w"]), kernel, stride, padding, ceil, include, override)[0],
          params, (2, 6, 6))


@pytest.mark.parametrize("out", [(1, 1), (2, 3), (4, 4), (3, 5)])
def test_adaptive_avg_pool_matches_autograd(out):
    params = {"w": _r(2, 2, 1, 1)}
    check(lambda g, x, p: g.op("adaptive_avg_pool", [g.op("conv", [x, p["w"]], stride=(1, 1), padding=(0, 0))],
                               output_size=out),
          lambda x, p: F.adaptive_avg_pool2d(F.conv2d(x[None], p["w"]), out)[0], params, (2, 5, 7))


def test_batch_norm_train_matches_autograd():
    """Batch statistics: the examples of the batch are coupled (the graph's input is the whole batch)."""
    params = {"w": _r(3, 2, 1, 1), "gamma": _r(3, seed=4), "beta": _r(3, seed=5)}
    eps = 1e-5
    check(lambda g, x, p: g.op("batch_norm_train", [g.op("conv", [x, p["w"]], stride=(1, 1), padding=(0, 0)),
                                                    p["gamma"], p["beta"]], eps=sp.Rational(eps), channel_axis=1),
          lambda x, p: F.batch_norm(F.conv2d(x, p["w"]), None, None, p["gamma"], p["beta"], training=True, eps=eps),
          params, (3, 2, 2, 3), batch_size=3)


def test_batch_norm_train_couples_the_examples():
    """One example's output depends on another example's input (unlike every per-example op)."""
    from symderiv.graph.engine import backprop

    g = Graph()
    g.batch_size = 2
    x = g.input((2, 1, 2))
    out = g.op("batch_norm_train", [x], eps=sp.Rational(1, 100), channel_axis=1)
    g.set_loss(out, "mse")
    z = backprop(g, {}, backward=False).output
    assert sp.Symbol("x_2_1_2", real=True) in z[0, 0, 0].free_symbols


@pytest.mark.parametrize("op", ["group_norm", "batch_norm_eval"])
def test_channel_axis_norms_with_a_batch_axis_match_autograd(op):
    params = {"w": _r(4, 2, 1, 1), "gamma": _r(4, seed=4), "beta": _r(4, seed=5)}
    mean, var = np.array([0.25, -0.5, 1.0, 0.0]), np.array([1.5, 0.5, 2.0, 1.0])
    if op == "group_norm":
        attrs = {"groups": 2, "eps": sp.Rational(1, 100000)}
        tfn = lambda z, p: F.group_norm(z, 2, p["gamma"], p["beta"], eps=1e-5)  # noqa: E731
    else:
        from symderiv.graph.norms import batch_norm_scale

        attrs = {"mean": tuple(sp.Rational(v) for v in mean), "scale": tuple(batch_norm_scale(v, 1e-5) for v in var)}
        tfn = lambda z, p: F.batch_norm(z, torch.tensor(mean), torch.tensor(var), p["gamma"], p["beta"],  # noqa: E731
                                        training=False, eps=1e-5)
    check(lambda g, x, p: g.op(op, [g.op("conv", [x, p["w"]], stride=(1, 1), padding=(0, 0)), p["gamma"], p["beta"]],
                               channel_axis=1, **attrs),
          lambda x, p: tfn(F.conv2d(x, p["w"]), p), params, (2, 2, 2, 2))


@pytest.mark.parametrize("op,attrs,needle", [
    ("conv", {"stride": (1, 1), "padding": (0, 0), "groups": 3}, "groups=3"),
    ("max_pool", {"kernel": (3, 3), "padding": (2, 2)}, "padding"),
    ("adaptive_avg_pool", {"output_size": (0, 1)}, "output size"),
])
def test_bad_geometry_is_one_line(op, attrs, needle):
    from symderiv.errors import NetworkError

    g = Graph()
    x = g.input((4, 3, 3))
    ins = [x, g.param("w", (4, 4, 1, 1), init=np.ones((4, 4, 1, 1)))] if op == "conv" else [x]
    with pytest.raises(NetworkError) as err:
        g.op(op, ins, **attrs)
    assert needle in str(err.value) and "\n" not in str(err.value)
