"""One generic block with symbolic neighbour states: the engine computations behind every induction.

A *window* is a small network run by the engines (:func:`symderiv.engine.backprop`,
:func:`symderiv.graph.engine.backprop`) in which the block's neighbours are symbols:

* the state below, ``h = h^(l−1)`` (one class of identical units; the real input ``x`` for the first
  block), enters as the window's data;
* the state above, ``δ^(l+1)`` (one class, or the ``K`` output deltas ``d_k``), enters through
  ``output_delta``, together with the weight block above (``u``: every entry of ``W^(l+1)``; ``v_k``:
  column ``k`` of the output layer's entries);
* the block's own values ``(w, b)`` are whatever the abstract state says: 0, a constant, a free symbol.

The engine computes ``z``, ``h``, ``δ`` and the block gradients of a window exactly as it does for a
whole network (class sizes enter as in docs/theory.md §4: ``z = n·w·h + b``, ``δ = f'(z)·n·u·δ^(l+1)``),
so a fact checked on the window holds for the block at every position ``l`` of every member: that is the
layer transfer the inductions of :mod:`symderiv.depth.induction` use.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, cast

import numpy as np
import sympy as sp

from ..engine import backprop, input_symbols
from ..init import generic, resolve_init, zeros
from ..network import mlp
from ..patterns import Block, unit_partition
from .family import MLPFamily, ReZeroFamily

__all__ = ["BlockPass", "H", "D", "W", "B", "U", "output_deltas", "output_columns", "first_weights",
           "hidden_block", "first_block", "output_block", "generic_block", "rezero_block", "GenericPass",
           "RezeroPass"]

#: the state below (h^(l−1) of one class), the hidden δ above, the block's own weight and bias, the weight above
H, D, W, B, U = (sp.Symbol(s, real=True) for s in ("h", "d", "w", "b", "u"))


def output_deltas(K: int) -> list[sp.Symbol]:
    """``d_1 … d_K``: the output deltas as free symbols."""
    return [sp.Symbol(f"d_{k}", real=True) for k in range(1, K + 1)]


def output_columns(K: int) -> list[sp.Symbol]:
    """``v_1 … v_K``: the entries of the output layer's (tied) columns, one per output unit."""
    return [sp.Symbol(f"v_{k}", real=True) for k in range(1, K + 1)]


def first_weights(n_in: int) -> list[sp.Symbol]:
    """``w_1 … w_{n_in}``: the first layer's (tied) rows, one entry per input."""
    return [sp.Symbol(f"w_{j}", real=True) for j in range(1, n_in + 1)]


@dataclass(frozen=True)
class BlockPass:
    """What the engine computed for one block of one class: ``z``, ``h = f(z)``, ``δ``, and the gradient
    of its weight entries (one per column class below) and of its bias."""

    z: sp.Expr
    h: sp.Expr
    delta: sp.Expr
    grad_w: tuple[sp.Expr, ...]
    grad_b: sp.Expr | None


def _window(family: MLPFamily, n_below: int, n_above: int, loss: str):
    net = mlp([n_below, family.width, n_above], family.activation, loss, family.bias)
    return net, unit_partition(net, resolve_init(net, zeros()))  # uniform: the block is one class


def _above(family: MLPFamily, above: str, up: "sp.Expr | Sequence[sp.Expr]") -> tuple[int, list, list]:
    """(width above, the weight block values above, the δ above) for ``above`` in ``hidden``/``output``;
    above the output layer ``up`` is the list of its column entries (default: the free ``v_k``)."""
    if above == "hidden":
        return 1, [family.width * cast(sp.Expr, up)], [D]
    K = family.n_out
    return K, list(up) if isinstance(up, (list, tuple)) else output_columns(K), output_deltas(K)


def hidden_block(family: MLPFamily, w: sp.Expr, b: sp.Expr, up: "sp.Expr | Sequence[sp.Expr]" = U,
                 above: str = "hidden") -> BlockPass:
    """A hidden block ``l`` (``2 ≤ l ≤ L − 1``): state below ``h`` (one class of ``n`` units), its own
    entries ``w``, bias ``b``, the block above ``up`` (hidden) or the output columns ``v_k``."""
    m, ups, deltas = _above(family, above, up)
    net, part = _window(family, 1, m, "mean_squared_error")
    values = {Block(1, "W", 0, 0): family.width * w, Block(1, "b", 0): b}
    values.update({Block(2, "W", k, 0): ups[k] for k in range(m)})
    values.update({Block(2, "b", k): sp.Integer(0) for k in range(m)})
    return _read(backprop(net, part, _bias(net, values), output_delta=deltas), {input_symbols(1)[0]: H})


def first_block(family: MLPFamily, ws: Sequence[sp.Expr], b: sp.Expr, up: "sp.Expr | Sequence[sp.Expr]" = U,
                above: str = "hidden") -> BlockPass:
    """The first block: the inputs ``x_1 … x_{n_in}`` below, row entries ``ws`` (one per input column)."""
    m, ups, deltas = _above(family, above, up)
    net, part = _window(family, family.n_in, m, "mean_squared_error")
    values = {Block(1, "W", 0, j): ws[j] for j in range(family.n_in)}
    values[Block(1, "b", 0)] = b
    values.update({Block(2, "W", k, 0): ups[k] for k in range(m)})
    values.update({Block(2, "b", k): sp.Integer(0) for k in range(m)})
    return _read(backprop(net, part, _bias(net, values), output_delta=deltas), {})


def output_block(family: MLPFamily, vs: Sequence[sp.Expr], bs: Sequence[sp.Expr]):
    """The output block under the family's loss: state below ``h`` (one class of ``n`` units), column entries
    ``vs`` and biases ``bs`` per output.  Returns the engine's pass (``z``, ``p``, ``δ^(L)``, gradients)."""
    net = mlp([1, family.n_out], "tanh", family.loss, family.bias)
    part = unit_partition(net, resolve_init(net, zeros()))
    values = {Block(1, "W", k, 0): family.width * vs[k] for k in range(family.n_out)}
    if family.bias:
        values.update({Block(1, "b", k): bs[k] for k in range(family.n_out)})
    state = backprop(net, part, values)
    x1 = input_symbols(1)[0]
    return {
        "z": [e.xreplace({x1: H}) for e in state.z[1]],
        "delta": [e.xreplace({x1: H}) for e in state.delta[1]],
        "grad_w": [state.grad[Block(1, "W", k, 0)].xreplace({x1: H}) for k in range(family.n_out)],
        "grad_b": [state.grad[Block(1, "b", k)].xreplace({x1: H}) for k in range(family.n_out)] if family.bias else [],
        "labels": list(state.label_symbols),
    }


def _bias(net, values: dict) -> dict:
    return values if net.bias else {k: v for k, v in values.items() if k.kind == "W"}


def _read(state, rename: dict) -> BlockPass:
    def r(e: sp.Expr) -> sp.Expr:
        return e.xreplace(rename) if rename else e

    grads_w = tuple(r(g) for blk, g in sorted(state.grad.items()) if blk.layer == 1 and blk.kind == "W")
    gb = state.grad.get(Block(1, "b", 0))
    return BlockPass(r(state.z[1][0]), r(state.h[1][0]), r(state.delta[1][0]), grads_w,
                     None if gb is None else r(gb))


# ---------------------------------------------------------------- untied (generic) blocks
@dataclass(frozen=True)
class GenericPass:
    """A block of concrete width with every entry its own symbol: per-unit ``δ`` and every gradient entry."""

    delta: tuple[sp.Expr, ...]
    grads: tuple[sp.Expr, ...]
    symbols: tuple[sp.Symbol, ...]


def generic_block(family: MLPFamily, n_below: int, n_above: int, *, delta_above_zero: bool,
                  weights_above_zero: bool) -> GenericPass:
    """A block of the family's (concrete) width with generic entries, ``n_below`` units below (data
    symbols), ``n_above`` units above whose entries are generic symbols or 0 (``weights_above_zero``) and
    whose δ are free symbols or 0 (``delta_above_zero``)."""
    width = int(family.width)
    net = mlp([n_below, width, n_above], family.activation, "mean_squared_error", family.bias)
    part = unit_partition(net, resolve_init(net, generic()))
    values: dict[Block, sp.Expr] = {}
    names: list[sp.Symbol] = []
    for i in range(width):
        for j in range(n_below):
            values[Block(1, "W", i, j)] = s = sp.Symbol(f"W_{i + 1}_{j + 1}", real=True)
            names.append(s)
        if family.bias:
            values[Block(1, "b", i)] = s = sp.Symbol(f"b_{i + 1}", real=True)
            names.append(s)
    for k in range(n_above):
        for i in range(width):
            values[Block(2, "W", k, i)] = sp.Integer(0) if weights_above_zero else sp.Symbol(f"U_{k + 1}_{i + 1}",
                                                                                                real=True)
        if family.bias:
            values[Block(2, "b", k)] = sp.Integer(0)
    deltas = [sp.Integer(0)] * n_above if delta_above_zero else output_deltas(n_above)
    state = backprop(net, part, values, output_delta=deltas)
    grads = tuple(g for blk, g in sorted(state.grad.items()) if blk.layer == 1)
    return GenericPass(tuple(state.delta[1]), grads, tuple(names))


# ---------------------------------------------------------------- one ReZero block (graph engine)
@dataclass(frozen=True)
class RezeroPass:
    """One ReZero block ``out = u + α F(u)``: the stream below ``u`` (data symbols), the δ above ``g``
    (free symbols), the output, the δ passed below, and the gradient of every parameter."""

    u: tuple[sp.Symbol, ...]
    g: tuple[sp.Symbol, ...]
    out: tuple[sp.Expr, ...]
    delta_below: tuple[sp.Expr, ...]
    grads: dict[str, tuple[sp.Expr, ...]]
    branch: tuple[sp.Expr, ...]


ALPHA = sp.Symbol("alpha", real=True)


def rezero_block(family: ReZeroFamily, alpha: sp.Expr) -> RezeroPass:
    """One ReZero block with generic branch weights (``A_i_j``, ``a_i``, ``C_i_j``, ``c_i``) and ``α = alpha``."""
    from ..graph.engine import backprop as graph_backprop
    from ..graph.ir import Graph

    d = family.d
    g = Graph()
    g.input((d,))  # the engines need an example; the stream below is a parameter, so its cotangent is computed
    x = g.param("stream", (d,))
    W1, b1 = g.param("f1.weight", (d, d)), g.param("f1.bias", (d,))
    W2, b2 = g.param("f2.weight", (d, d)), g.param("f2.bias", (d,))
    a = g.param("alpha", (1,))
    hidden = g.op("activation", [g.op("linear", [x, W1, b1])], activation=family.activation)
    branch = g.op("linear", [hidden, W2, b2])
    out = g.op("add", [x, g.op("mul", [a, branch])])
    g.set_loss(out, "mse")

    def named(prefix: str, shape: tuple[int, ...]) -> np.ndarray:
        arr = np.empty(shape, dtype=object)
        for idx in np.ndindex(*shape):
            arr[idx] = sp.Symbol(prefix + "_" + "_".join(str(i + 1) for i in idx), real=True)
        return arr

    params = {"f1.weight": named("A", (d, d)), "f1.bias": named("a", (d,)), "f2.weight": named("C", (d, d)),
              "f2.bias": named("c", (d,)), "alpha": np.array([alpha], dtype=object), "stream": named("u", (d,))}
    deltas = np.array([sp.Symbol(f"g_{i + 1}", real=True) for i in range(d)], dtype=object)
    state = graph_backprop(g, params, output_delta=deltas)
    grads = {name: tuple(v.flat) for name, v in state.grads.items()}
    return RezeroPass(tuple(params["stream"].flat), tuple(deltas.flat), tuple(state.values[out].flat),
                      grads.pop("stream"), grads, tuple(state.values[branch].flat))
