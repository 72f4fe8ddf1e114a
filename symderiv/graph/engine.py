"""Forward and reversed δ pass over a :class:`~symderiv.graph.ir.Graph`, entry by entry.

Every tensor is a NumPy object array of SymPy scalars, one closed form per entry.  The
backward pass walks the nodes in reverse and applies each op's registered VJP rule
(:mod:`symderiv.graph.ops`), accumulating the cotangents of a tensor used several times
(weight sharing, residual branches); the loss's ``δ = ∂ℓ/∂z`` seeds it
(:mod:`symderiv.graph.losses`).  SymPy never differentiates the loss.

The example is symbolic (``x_…``, labels ``y_…`` with the loss's constraint built in), so
every closed form holds for every example.  Parameter values come from the caller: a
symbol per tie class, 0 for zeros, constants (numbers or init symbols) for frozen entries.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import sympy as sp

from ..errors import InitError, InternalError
from .ir import Graph, _present
from .losses import _names, graph_loss
from .ops import add_terms, op_rule, zeros

__all__ = ["GraphPass", "backprop", "input_symbols", "data_symbols", "symbolic_values"]


def input_symbols(shape: tuple[int, ...], index: int = 0) -> np.ndarray:
    """``x_1 … x_n`` (``x_t_j`` for a ``tokens × width`` example), 1-based; the ``index``-th
    (0-based) further input of a several-input module is ``x2_…``, ``x3_…`` (no parameter, label or
    class symbol starts with ``x``: those are ``c_``, ``e_``, ``y_``, ``t_``, ``w_``, ``dz_``)."""
    return _names(tuple(shape), "x" if index == 0 else f"x{index + 1}")


def data_symbols(graph: Graph) -> list[np.ndarray]:
    """The data symbols of every input tensor of ``graph``, in order."""
    return [input_symbols(shape, k) for k, shape in enumerate(graph.input_shapes())]


@dataclass
class GraphPass:
    """Every node's value, the loss's δ at the output, and the gradient of every parameter."""

    graph: Graph
    values: dict[int, np.ndarray]
    x: np.ndarray
    y: np.ndarray
    label_symbols: list[sp.Symbol]
    delta: np.ndarray | None = None
    cotangents: dict[int, np.ndarray] = field(default_factory=dict)
    grads: dict[str, np.ndarray] = field(default_factory=dict)
    xs: list[np.ndarray] = field(default_factory=list)  # every input's data symbols (``x`` is the first)

    @property
    def output(self) -> np.ndarray:
        return self.values[self.graph.ends()[1]]

    def loss(self) -> sp.Expr:
        """The per-example loss value (a check; never differentiated)."""
        return graph_loss(self.graph.ends()[2]).value(self.output, self.y)


def symbolic_values(graph: Graph, prefix: str = "w") -> dict[str, np.ndarray]:
    """A distinct symbol for every entry of every parameter (for tests against ``sympy.diff``)."""
    return {name: _names(p.shape, f"{prefix}{k}") for k, (name, p) in enumerate(graph.params.items())}


def backprop(graph: Graph, params: Mapping[str, np.ndarray], *, backward: bool = True,
             output_delta: np.ndarray | None = None) -> GraphPass:
    """Forward (and backward) pass with parameter values ``params`` (name -> object array).

    ``output_delta`` replaces the loss's ``δ`` at the output (e.g. by independent symbols, to see
    which zeros rest on the loss's own cancellations such as ``Σ_k δ_k = 0``)."""
    _, output, loss_name = graph.ends()
    loss = graph_loss(loss_name)
    xs = data_symbols(graph)
    out_shape = graph.nodes[output].shape
    y = loss.labels(out_shape)
    result = GraphPass(graph, {}, xs[0], y, loss.label_symbols(out_shape), xs=xs)
    env = result.values
    for node in graph.nodes:
        if node.op == "input":
            env[node.id] = xs[int(node.attrs.get("index", 0))]
        elif node.op == "param":
            name = node.attrs["name"]
            value = np.asarray(params[name], dtype=object) if name in params else None
            if value is None or value.shape != node.shape:
                raise InitError(f"parameter {name} needs values of shape {node.shape}")
            env[node.id] = value
        else:
            ins = _present([None if i is None else env[i] for i in node.inputs])
            env[node.id] = np.asarray(op_rule(node.op).forward(ins, node.attrs), dtype=object)
    if not backward:
        return result

    delta = loss.delta(env[output], y) if output_delta is None else output_delta
    result.delta = delta
    cot: dict[int, list[np.ndarray]] = {output: [delta]}
    needed = _needs_gradient(graph)
    for node in reversed(graph.nodes):
        parts = cot.pop(node.id, None)
        if parts is None or node.op in ("input", "param"):
            if parts is not None:
                result.cotangents[node.id] = _sum_parts(parts, node.shape)
            continue
        g = _sum_parts(parts, node.shape)
        result.cotangents[node.id] = g
        if all(v == 0 for v in g.flat):  # nothing flows back through this node
            continue
        ins = _present([None if i is None else env[i] for i in node.inputs])
        vjp = op_rule(node.op).vjp
        if vjp is None:
            raise InternalError(f"the op {node.op} has no VJP rule")
        grads = vjp(g, ins, env[node.id], node.attrs)
        for i, gi in zip(node.inputs, grads):
            if i is None or gi is None or not needed[i]:
                continue
            cot.setdefault(i, []).append(np.asarray(gi, dtype=object).reshape(graph.nodes[i].shape))
    for name in graph.params:
        nid = graph.param_node(name)
        got = result.cotangents.get(nid)
        result.grads[name] = zeros(graph.params[name].shape) if got is None else got
    sizes = getattr(graph, "entry_sizes", None)  # a lumped quotient: a block's sum -> each entry's gradient
    if sizes:
        for name, g in result.grads.items():
            result.grads[name] = np.vectorize(lambda v, m: v if m == 1 or v == 0 else v * sp.Rational(1, int(m)),
                                              otypes=[object])(g, sizes[name]) if g.size else g
    return result


def _sum_parts(parts: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    if len(parts) == 1:
        return parts[0]
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        out[idx] = add_terms(p[idx] for p in parts)
    return out


def _needs_gradient(graph: Graph) -> list[bool]:
    """Whether a node depends on a trainable parameter (other cotangents are never needed)."""
    needs = [False] * len(graph.nodes)
    for node in graph.nodes:
        if node.op == "param":  # frozen parameters are constants: their cotangent is never needed
            needs[node.id] = graph.params[node.attrs["name"]].trainable
        elif node.op != "input":
            needs[node.id] = any(i is not None and needs[i] for i in node.inputs)
    return needs
