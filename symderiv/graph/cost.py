"""What one forward pass of a graph costs at the entry level: the number of multiply-adds.

The entry path (:mod:`symderiv.graph.prover`) builds a closed form per entry, so its cost grows with
this count (and, through nested closed forms, faster); the tensor-level path
(:mod:`symderiv.graph.structural`) does not depend on it.  :func:`forward_cost` is how the analysis
chooses between them, and how the structured witnesses decide whether their quotient is small
enough to run exactly.  A rule per op (:data:`COST`: contractions count their inner dimension);
every other op costs its output size.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .conv import conv_cost
from .ir import Graph, Node

__all__ = ["COST", "forward_cost"]

Shapes = list  # the input shapes of a node (None for an absent input)
CostRule = Callable[[Shapes, dict, tuple[int, ...]], int]


def _linear(shapes: Shapes, at: dict, out: tuple[int, ...]) -> int:
    return int(np.prod(out)) * int(shapes[1][1])


def _matmul(shapes: Shapes, at: dict, out: tuple[int, ...]) -> int:
    return int(np.prod(out)) * int(shapes[0][-1])


def _conv(shapes: Shapes, at: dict, out: tuple[int, ...]) -> int:
    return conv_cost(shapes, at)


def _windows(shapes: Shapes, at: dict, out: tuple[int, ...]) -> int:
    kernel = at.get("kernel")
    size = int(np.prod(kernel)) if kernel is not None else \
        max(1, int(np.prod(shapes[0])) // max(1, int(np.prod(out))))
    return int(np.prod(out)) * size


def _statistics(shapes: Shapes, at: dict, out: tuple[int, ...]) -> int:
    """Batch and group statistics: every output entry depends on its whole row (the batch's positions of its
    channel, or its group), so each entry's closed form is as long as the row."""
    size = int(np.prod(out))
    axis = int(at.get("channel_axis", 0))
    channels = int(out[axis]) if len(out) > axis else 1
    per_row = size // max(1, channels) if "groups" not in at else \
        size // max(1, int(np.prod(out[:axis])) * int(at["groups"]))
    return size * max(1, per_row)


#: op -> cost(input shapes, attributes, output shape); ops not listed cost their output size
COST: dict[str, CostRule] = {"linear": _linear, "matmul": _matmul, "conv": _conv, "max_pool": _windows,
                             "avg_pool": _windows, "adaptive_avg_pool": _windows, "batch_norm_train": _statistics,
                             "group_norm": _statistics}


def forward_cost(graph: Graph, shape_of: Callable[[int], Sequence[int]] | None = None) -> int:
    """Multiply-adds of one forward pass; ``shape_of(node id)`` overrides the node shapes (a quotient's
    shapes, before building it)."""
    def shape(nid: int) -> tuple[int, ...]:
        return tuple(int(n) for n in (shape_of(nid) if shape_of is not None else graph.nodes[nid].shape))

    total = 0
    for node in graph.nodes:
        if node.op in ("input", "param"):
            continue
        total += _node_cost(node, [None if i is None else shape(i) for i in node.inputs], shape(node.id))
    return total


def _node_cost(node: Node, shapes: Shapes, out: tuple[int, ...]) -> int:
    rule = COST.get(node.op)
    try:
        return rule(shapes, node.attrs, out) if rule is not None else int(np.prod(out))
    except (ValueError, TypeError, IndexError):  # a quotient shape the rule does not read: count the output
        return int(np.prod(out)) if out else 1
