"""Lumping through convolutions, pooling and channel normalizations: the quotient's lifted gradients equal the
entry-level engine's exactly, channels really lump, positions and kernel offsets never do, and channels with
different frozen BatchNorm statistics are never one class."""
import numpy as np
import pytest
import sympy as sp

from symderiv.activations import activation
from symderiv.graph import Graph
from symderiv.graph.lumping import lumping, quotient_graph
from symderiv.graph.norms import batch_norm_scale

from test_graph_lumping import _compare  # noqa: E402  (the quotient against the entry-level engine)

TANH = activation("tanh")


def _conv_net(stats=None, batch=None, train_bn=False, pool="avg_pool"):
    """conv (4 identical filters) -> norm -> tanh -> pool -> conv (identical rows) -> pooled head."""
    g = Graph()
    lead = () if batch is None else (batch,)
    if batch is not None:
        g.batch_size = batch
    x = g.input(lead + (2, 4, 4))
    ch = len(lead)
    w1 = np.full((4, 2, 3, 3), 0.5)
    w1[:, :, 0, 1] = -0.25  # kernel offsets differ: they must stay discrete
    h = g.op("conv", [x, g.param("c1.w", (4, 2, 3, 3), init=w1), g.param("c1.b", (4,), init=np.full(4, 0.1))],
             stride=(1, 1), padding=(1, 1))
    gamma, beta = g.param("bn.w", (4,), init=np.ones(4)), g.param("bn.b", (4,), init=np.zeros(4))
    if train_bn:
        h = g.op("batch_norm_train", [h, gamma, beta], eps=sp.Rational(1, 10), channel_axis=ch)
    elif stats is not None:
        mean, var = stats
        h = g.op("batch_norm_eval", [h, gamma, beta], mean=tuple(sp.Rational(v) for v in mean),
                 scale=tuple(batch_norm_scale(v, 0.5) for v in var), channel_axis=ch)
    h = g.op("activation", [h], activation=TANH)
    attrs = {"output_size": (2, 2)} if pool == "adaptive_avg_pool" else {"kernel": (2, 2), "stride": (2, 2)}
    h = g.op(pool, [h], **attrs)
    h = g.op("conv", [h, g.param("c2.w", (3, 4, 1, 1), init=np.full((3, 4, 1, 1), 0.25)), None],
             stride=(1, 1), padding=(0, 0))
    h = g.op("mean", [h], axis=(ch + 1, ch + 2), keepdim=False)
    g.set_loss(h, "mse")
    return g


@pytest.mark.parametrize("make", [
    lambda: _conv_net(),
    lambda: _conv_net(pool="max_pool"),
    lambda: _conv_net(pool="adaptive_avg_pool"),
    lambda: _conv_net(stats=([0.0, 0.0, 0.5, 0.5], [1.0, 1.0, 2.0, 2.0])),
])
def test_quotient_through_convolutions_equals_entry_gradients(make):
    g = make()
    lump = lumping(g)
    full, small = lump.entries()
    assert small < full  # channels lumped
    assert _compare(g) == full


def test_positions_kernel_offsets_and_statistics_stay_discrete():
    g = _conv_net(stats=([0.0, 0.0, 0.5, 0.5], [1.0, 1.0, 2.0, 2.0]))
    lump = lumping(g)
    labels = lump.param_labels("c1.w")
    assert list(labels[0]) == [0, 0, 1, 1]  # output channels: two classes, split by the BatchNorm statistics
    assert list(labels[2]) == [0, 1, 2] and list(labels[3]) == [0, 1, 2]  # kernel offsets: discrete
    conv = next(n for n in g.nodes if n.op == "conv")
    assert lump.quotient_shape(conv.id) == (2, 4, 4)  # positions never lump


def test_train_batch_norm_keeps_the_batch_discrete_and_lumps_channels():
    g = _conv_net(batch=2, train_bn=True)
    lump = lumping(g, structured=True)
    bn = next(n for n in g.nodes if n.op == "batch_norm_train")
    assert lump.quotient_shape(bn.id) == (2, 1, 4, 4)
    q = quotient_graph(lump)
    assert q.params["c1.w"].shape == (1, 1, 3, 3)
