"""The graph engine's per-entry gradients against sympy.diff (tiny graphs) and torch autograd (every op)."""
import random

import numpy as np
import pytest
import sympy as sp

from symderiv.activations import activation
from symderiv.certify import enclose, midpoint
from symderiv.graph import Graph, backprop
from symderiv.graph.engine import symbolic_values
from symderiv.graph.ops import registered_ops


def _tiny_graphs():
    out = {}
    g = Graph(); x = g.input((2, 2))
    W = g.param("W", (3, 2)); b = g.param("b", (3,))
    h = g.op("linear", [x, W, b])
    s = g.op("softmax", [g.op("matmul", [h, g.op("rearrange", [h], kind="permute", perm=(1, 0))])], axis=-1)
    o = g.op("matmul", [s, h]); g.set_loss(o, "ce"); out["attention_ce"] = g
    g = Graph(); x = g.input((3,))
    h = g.op("layer_norm", [g.op("linear", [x, g.param("W", (3, 3)), None]), g.param("gamma", (3,)),
                            g.param("beta", (3,))], n_axes=1, eps=sp.Rational(1, 100))
    g.set_loss(h, "mse"); out["layer_norm_mse"] = g
    g = Graph(); x = g.input((2, 4))
    c = g.op("conv", [x, g.param("K", (2, 2, 3)), g.param("kb", (2,))], stride=(2,), padding=(1,))
    a = g.op("activation", [c], activation=activation("sigmoid"))
    r = g.op("rearrange", [a], kind="reshape", shape=(4,))
    cat = g.op("cat", [g.op("rearrange", [r], kind="getitem", index=(slice(1, 3),)), r], axis=0)
    m = g.op("mul", [cat, g.op("scale", [cat], c=sp.Rational(1, 3))])
    o = g.op("linear", [m, g.param("V", (2, 6)), None]); g.set_loss(o, "bce"); out["conv_cat_bce"] = g
    g = Graph(); x = g.input((3,))
    h = g.op("activation", [g.op("linear", [x, g.param("A", (2, 3)), None])], activation=activation("tanh"))
    h2 = g.op("layer_norm", [h, g.param("r", (2,))], n_axes=1, eps=sp.Rational(1, 50), rms=True)
    s = g.op("div", [g.op("sub", [h2, h]), g.op("shift", [g.op("mean", [h], axis=0, keepdim=True)], c=3)])
    o = g.op("add", [s, g.op("sum", [h], axis=None)]); g.set_loss(o, "mse"); out["rms_div_mse"] = g
    g = Graph(); x = g.input((3,))  # class sizes of a lumped quotient (symderiv.graph.lumping)
    h = g.op("scale_axis", [g.op("linear", [x, g.param("A", (2, 3)), None])], axis=0, c=(sp.Integer(2), sp.Integer(3)))
    o = g.op("linear", [h, g.param("B", (2, 2)), None]); g.set_loss(o, "ce"); out["scale_axis_ce"] = g
    g = Graph(); x = g.input((3,))
    u = g.op("shift", [g.op("pointwise", [g.op("linear", [x, g.param("P", (3, 3)), None])], fn="pow",
                            c=sp.Integer(2))], c=1)  # u = z² + 1 > 0: in every function's domain
    parts = [g.op("pointwise", [u], fn=f) for f in ("exp", "log", "sqrt", "rsqrt", "reciprocal")]
    parts.append(g.op("pointwise", [u], fn="pow", c=sp.Rational(3, 2)))
    o = parts[0]
    for q in parts[1:]:
        o = g.op("add", [o, g.op("scale", [q], c=sp.Rational(1, 7))])
    g.set_loss(o, "mse"); out["pointwise_mse"] = g
    g = Graph(); x = g.input((4, 2))  # channels first: group norm, then batch norm with frozen statistics
    h = g.op("group_norm", [x, g.param("gn_g", (4,)), g.param("gn_b", (4,))], groups=2, eps=sp.Rational(1, 100))
    h = g.op("batch_norm_eval", [h, g.param("bn_w", (4,)), g.param("bn_b", (4,))],
             mean=(sp.Rational(1, 2), sp.Integer(0), sp.Integer(-1), sp.Rational(1, 3)),
             scale=(sp.Integer(2), sp.Integer(1), sp.Rational(1, 3), 1 / sp.sqrt(2)))
    o = g.op("linear", [h, g.param("V", (3, 2)), None]); g.set_loss(o, "mse"); out["norms_mse"] = g
    g = Graph(); x = g.input((2, 3))  # the export front end's ops: constants, selections, masked softmax, expand
    h = g.op("linear", [x, g.param("Q", (3, 3)), None])
    c = g.op("const", [], value=np.array([[sp.Integer(1)], [sp.Rational(-1, 2)]], dtype=object))
    e = g.op("rearrange", [c], kind="expand", shape=(2, 3))
    w = g.op("select", [g.op("mul", [h, e]), h], cond=np.array([True, False, True]))
    p = g.op("softmax", [w], axis=-1, mask=np.array([[False, True, False], [False, False, False]]))
    o = g.op("matmul", [p, g.param("R", (3, 2))]); g.set_loss(o, "mse"); out["export_ops_mse"] = g
    return out


@pytest.mark.parametrize("name", sorted(_tiny_graphs()))
def test_engine_matches_sympy_diff(name):
    g = _tiny_graphs()[name]
    vals = symbolic_values(g)
    state = backprop(g, vals)
    loss = state.loss()
    rng = random.Random(5)
    point = {s: sp.Rational(rng.randint(-9, 9) or 1, rng.randint(3, 7)) for s in loss.free_symbols}
    for pname, arr in vals.items():
        for idx in list(np.ndindex(*arr.shape))[:2]:  # sympy.diff of the whole loss is slow: two entries each
            ours, ref = enclose([state.grads[pname][idx], sp.diff(loss, arr[idx])], point, dps=50)
            assert midpoint(ours) == pytest.approx(midpoint(ref), rel=1e-12, abs=1e-14), (pname, idx)


def test_structural_zero_propagates_through_products():
    """B = 0 makes ∂ℓ/∂A literally 0 (not merely simplifiable), whatever else is symbolic."""
    g = Graph(); x = g.input((3,))
    o = g.op("linear", [g.op("linear", [x, g.param("A", (2, 3)), None]), g.param("B", (3, 2)), None])
    g.set_loss(o, "ce")
    vals = symbolic_values(g)
    vals["B"] = np.full((3, 2), sp.Integer(0), dtype=object)
    state = backprop(g, vals)
    assert all(e == 0 for e in state.grads["A"].flat)
    assert not any(e == 0 for e in state.grads["B"].flat)


torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from symderiv.graph import graph_from_module  # noqa: E402
from symderiv.graph.replay import engine_gradients, random_batch, torch_loss  # noqa: E402


class Soup(nn.Module):
    """Tokens × width: linear, gelu, layer norm, broadcast scale, constants, matmul with a parameter,
    slices, cat, transpose, reshape/view, rms norm, relu, silu, softmax, permute, sum, mean, neg, sub."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.ln = nn.LayerNorm(4)
        self.rms = nn.RMSNorm(4)
        self.w = nn.Parameter(torch.randn(4, 4))
        self.scale = nn.Parameter(torch.randn(4))
        self.head = nn.Linear(2, 3)

    def forward(self, x):
        h = F.gelu(self.lin(x))
        h = self.ln(h) * self.scale - 0.5
        a = h @ self.w
        b = torch.cat([a[:, :, :2], torch.sigmoid(a[:, :, 2:])], dim=-1)
        c = b.transpose(1, 2).reshape(x.shape[0], 8).view(-1, 2, 4).contiguous()
        d = self.rms(c) / 2.0 + torch.relu(c) * F.silu(h) - (-c)
        e = torch.softmax(d, dim=1) @ d.permute(0, 2, 1)
        f = e.sum(dim=-1, keepdim=True) + e.mean(-1, keepdim=True) - e
        return self.head(f)


class Convs(nn.Module):
    """conv2d (stride, padding), conv1d through F.conv1d, elu, leaky_relu, softplus, tanh, bmm, div, flatten."""

    def __init__(self):
        super().__init__()
        self.c2 = nn.Conv2d(2, 2, (2, 3), stride=(1, 2), padding=1)
        self.k1 = nn.Parameter(torch.randn(2, 2, 2))
        self.b1 = nn.Parameter(torch.randn(2))
        self.act = nn.ELU()
        self.out = nn.Linear(6, 3)

    def forward(self, x):  # x (B, 2, 3, 3)
        y = F.leaky_relu(self.act(self.c2(x)), 0.1)  # (B, 2, 4, 2)
        z = torch.flatten(y, 2)  # (B, 2, 8)
        z = F.conv1d(z, self.k1, self.b1, stride=2, padding=1)  # (B, 2, 5)
        s = torch.bmm(z, torch.tanh(z).transpose(1, 2))  # (B, 2, 2)
        s = s / (1.0 + F.softplus(s))
        return self.out(torch.cat([s.flatten(1), z[:, :, 0]], dim=1))


@pytest.mark.parametrize("make,shape,loss", [(Soup, (2, 4), "ce"), (Soup, (2, 4), "mse"),
                                             (Convs, (2, 3, 3), "ce"), (Convs, (2, 3, 3), "bce")])
def test_engine_matches_torch_autograd(make, shape, loss):
    torch.manual_seed(0)
    module = make().double()
    graph = graph_from_module(module, shape, loss)
    gen = torch.Generator().manual_seed(1)
    x, y = random_batch(loss, shape, graph.nodes[graph.output].shape, 1, gen)
    module.zero_grad()
    torch_loss(loss)(module(x), y).backward()
    ours = engine_gradients(graph, module, x[0].numpy(), y[0].numpy())
    for name, p in module.named_parameters():
        assert np.allclose(ours[name], p.grad.numpy(), rtol=1e-9, atol=1e-12), name


def test_every_registered_op_is_exercised():
    used = set()
    for make, shape in ((Soup, (2, 4)), (Convs, (2, 3, 3))):
        torch.manual_seed(0)
        used |= {n.op for n in graph_from_module(make().double(), shape, "mse").nodes}
    for g in _tiny_graphs().values():
        used |= {n.op for n in g.nodes}
    g = Graph(); x = g.input((2,))  # a gradient stop (an embedding's padding row): its parameter gets no gradient
    W = g.param("W", (2, 2))
    o = g.op("add", [g.op("linear", [x, g.op("detach", [W]), None]), g.op("linear", [x, g.param("V", (2, 2)), None])])
    g.set_loss(o, "mse")
    state = backprop(g, symbolic_values(g))
    assert all(v == 0 for v in state.grads["W"].flat) and any(v != 0 for v in state.grads["V"].flat)
    used |= {n.op for n in g.nodes}
    used |= _vision_ops_against_autograd()
    assert set(registered_ops()) <= used


def _vision_ops_against_autograd() -> set:
    """Pooling (max, average, adaptive) and BatchNorm in eval mode through the export front end, the engine's
    gradients against autograd; train-mode BatchNorm (a batch graph) against autograd in test_vision_ops.py,
    its op name collected here from the graph."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    from export_oracle import assert_export_matches_autograd
    from symderiv.graph.export import graph_from_export

    class Pools(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn, self.head = nn.Conv2d(1, 2, 2), nn.BatchNorm2d(2), nn.Linear(8, 2)

        def forward(self, x):
            h = self.bn(self.conv(x))
            h = nn.functional.max_pool2d(h, 2, 1) + nn.functional.avg_pool2d(h, 2, 1)
            return self.head(nn.functional.adaptive_avg_pool2d(h, 2).flatten(1))  # 3×3 -> 2×2: overlapping windows

    torch.manual_seed(0)
    m = Pools().double().eval()
    used = {n.op for n in assert_export_matches_autograd(m, (1, 5, 5), "mse").nodes}
    used |= {n.op for n in graph_from_export(m.train(), (1, 5, 5), "mse", batch_size=2).nodes}
    return used
