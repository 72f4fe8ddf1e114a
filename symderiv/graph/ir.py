"""A small typed graph of tensor operations: the network beyond the MLP chain.

* ``input`` nodes - the example, one tensor of data symbols per argument of ``forward`` (shape
  without the batch axis; ``(tokens, width)`` sequences allowed);
* :class:`ParamSpec` - a parameter by its ``named_parameters()`` name: shape, trainable or
  frozen (a frozen parameter is a constant of the graph), and its init values;
* :class:`Node` - one op of :mod:`symderiv.graph.ops` applied to earlier nodes;
* a loss at the output (:mod:`symderiv.graph.losses`).

Build one by hand with :class:`Graph` (``g.input``, ``g.param``, ``g.op``, ``g.set_loss``) or
from a PyTorch module with :func:`symderiv.graph.graph_from_module` (``torch.export``, :mod:`.export`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from ..errors import InternalError, NetworkError
from .losses import graph_loss
from .ops import op_rule
from . import pointwise  # noqa: F401  (registers the "pointwise" op: exp, log, sqrt, rsqrt, x**c)
from . import norms  # noqa: F401  (registers "group_norm", "batch_norm_eval", "batch_norm_train")
from . import conv  # noqa: F401  (registers "conv")
from . import pooling  # noqa: F401  (registers "max_pool", "avg_pool", "adaptive_avg_pool")
from . import shapes  # noqa: F401  (shape rules: real-size graphs build without a symbolic probe)

__all__ = ["Node", "ParamSpec", "Graph"]


@dataclass
class Node:
    """One tensor of the graph: ``op`` is ``"input"``, ``"param"`` or a registered op."""

    id: int
    op: str
    inputs: tuple[int | None, ...] = ()
    attrs: dict[str, Any] = field(default_factory=dict)
    shape: tuple[int, ...] = ()
    where: str = ""  # module path or traced node, for messages


@dataclass
class ParamSpec:
    """A parameter: its ``named_parameters()`` name, shape, whether the optimizer touches it,
    and its init values (a float64 array, or None when unknown)."""

    name: str
    shape: tuple[int, ...]
    trainable: bool = True
    init: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1


class Graph:
    """A directed acyclic graph of tensor operations ending in a loss."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.params: dict[str, ParamSpec] = {}
        self._param_node: dict[str, int] = {}
        self.input_nodes: list[int] = []  # one per example tensor, in the forward's argument order
        self.output: int | None = None
        self.loss_name: str | None = None

    # ------------------------------------------------------------ building
    @property
    def input_node(self) -> int | None:
        """The first input tensor (the only one of a single-input graph)."""
        return self.input_nodes[0] if self.input_nodes else None

    def input(self, shape: tuple[int, ...]) -> int:
        """A new input tensor of the example (``forward(self, x, c)``: one per argument, in order;
        input ``k`` (0-based) has the data symbols of :func:`symderiv.graph.engine.input_symbols`)."""
        shape = tuple(int(n) for n in shape)
        if not shape or any(n < 1 for n in shape):
            raise NetworkError(f"input shape must be a non-empty tuple of positive sizes, got {shape}")
        k = len(self.input_nodes)
        nid = self._add(Node(len(self.nodes), "input", attrs={"index": k}, shape=shape,
                             where="input" if k == 0 else f"input {k + 1}"))
        self.input_nodes.append(nid)
        return nid

    def input_shapes(self) -> list[tuple[int, ...]]:
        """The shape of every input tensor, in order."""
        return [self.nodes[i].shape for i in self.input_nodes]

    def param(self, name: str, shape: tuple[int, ...], *, trainable: bool = True,
              init: np.ndarray | None = None) -> int:
        """The node of parameter ``name`` (one node per parameter, however often it is used)."""
        if name in self._param_node:
            return self._param_node[name]
        shape = tuple(int(n) for n in shape)
        if init is not None:
            init = np.asarray(init, dtype=np.float64).reshape(shape)
        self.params[name] = ParamSpec(name, shape, trainable, init)
        node = self._add(Node(len(self.nodes), "param", shape=shape, attrs={"name": name}, where=name))
        self._param_node[name] = node
        return node

    def op(self, op: str, inputs: list[int | None], *, where: str = "", **attrs: Any) -> int:
        """Append ``op`` applied to ``inputs`` (node ids; None for an absent optional input)."""
        rule = op_rule(op)
        for i in inputs:
            if i is not None and not (0 <= i < len(self.nodes)):
                raise NetworkError(f"{op}: input node {i} does not exist")
        probe = [None if i is None else _probe(self.nodes[i].shape) for i in inputs]
        try:
            if rule.shape is not None:  # contractions: a symbolic probe would cost width² SymPy operations
                shape = rule.shape(_present([None if i is None else self.nodes[i].shape for i in inputs]), attrs)
            else:
                shape = np.shape(rule.forward(_present(probe), attrs))
        except (ValueError, IndexError, TypeError) as exc:
            shapes = [None if i is None else self.nodes[i].shape for i in inputs]
            raise NetworkError(f"{op} at {where or '?'}: inputs of shapes {shapes} do not fit ({exc})") from exc
        return self._add(Node(len(self.nodes), op, tuple(inputs), dict(attrs), tuple(shape), where))

    def set_loss(self, node: int, loss: str) -> None:
        """Apply the loss ``loss`` (``softmax_cross_entropy``, ``mse``, ``bce``) to ``node``."""
        entry = graph_loss(loss)
        entry.check_shape(self.nodes[node].shape)
        self.output, self.loss_name = node, entry.name

    def _add(self, node: Node) -> int:
        self.nodes.append(node)
        return node.id

    # ------------------------------------------------------------ reading
    def ends(self) -> tuple[int, int, str]:
        """``(input node, output node, loss name)`` of a finished graph (InternalError before ``set_loss``)."""
        if self.input_node is None or self.output is None or self.loss_name is None:
            raise InternalError("the graph has no input or no loss")
        return self.input_node, self.output, self.loss_name

    def trainable(self) -> list[str]:
        return [n for n, p in self.params.items() if p.trainable]

    def frozen(self) -> list[str]:
        return [n for n, p in self.params.items() if not p.trainable]

    def param_node(self, name: str) -> int:
        return self._param_node[name]

    def describe(self) -> str:
        ops = [n.op if n.op != "activation" else n.attrs["activation"].name for n in self.nodes
               if n.op not in ("input", "param")]
        shapes = self.input_shapes()
        shown = shapes[0] if len(shapes) == 1 else ", ".join(map(str, shapes)) if shapes else None
        return (f"graph of {len(ops)} ops ({', '.join(dict.fromkeys(ops))}), input{'s' if len(shapes) > 1 else ''} "
                f"{shown}, "
                f"loss {self.loss_name}")


_PROBE = sp.Symbol("probe", real=True)


def _probe(shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    out.fill(_PROBE)
    return out


def _present(arrays: list) -> list:
    # trailing absent inputs (a bias) are dropped; rules read optional inputs by position
    while arrays and arrays[-1] is None:
        arrays = arrays[:-1]
    return arrays
