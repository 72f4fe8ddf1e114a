"""An MLP (:func:`symderiv.mlp`) as a :class:`~symderiv.graph.ir.Graph`: the chain is one builder of graphs.

``z^(l) = W^(l) h^(l-1) + b^(l)``, ``h^(l) = f_l(z^(l))``, the network's loss on ``z^(L)``, with the
parameters named ``W1, b1, …`` as in the chain engine and their init values as floats (the graph's
init convention: zeros are zeros, equal values one value).  The chain engine
(:mod:`symderiv.engine`, classes of identical units, symbolic widths) stays the fast path for MLPs;
this builder lets the graph prover be checked against it on the same network, and lets MLPs be
composed with the graph operations.
"""
from __future__ import annotations

import numpy as np

from ..errors import InitError, NetworkError
from ..network import Network
from .ir import Graph

__all__ = ["graph_of_network"]


def graph_of_network(net: Network, init: dict[str, np.ndarray]) -> Graph:
    """The graph of ``net`` with init values ``init`` (parameter name ``W1``, ``b1``, … -> float array of
    the parameter's shape; ``W^(l)`` is ``n_l × n_{l-1}`` as in the chain engine)."""
    sizes = list(net.sizes)
    if not all(isinstance(n, int) for n in sizes):
        raise NetworkError("graph_of_network needs concrete widths (symbolic widths stay with the chain engine)")
    g = Graph()
    h = g.input((sizes[0],))
    for layer in range(1, len(sizes)):
        shapes: dict[str, tuple[int, ...]] = {f"W{layer}": (sizes[layer], sizes[layer - 1])}
        if net.bias:
            shapes[f"b{layer}"] = (sizes[layer],)
        nodes = {}
        for name, shape in shapes.items():
            if name not in init:
                raise InitError(f"graph_of_network: no init values for {name}")
            value = np.asarray(init[name], dtype=np.float64)
            if value.shape != shape:
                raise InitError(f"graph_of_network: {name} needs shape {shape}, got {value.shape}")
            nodes[name] = g.param(name, shape, init=value)
        z = g.op("linear", [h, nodes[f"W{layer}"], nodes.get(f"b{layer}")], where=f"layer {layer}")
        if layer < len(sizes) - 1:
            act = net.activations[layer - 1]
            h = z if act.name == "identity" else g.op("activation", [z], activation=act, where=f"layer {layer}")
        else:
            h = z
    g.set_loss(h, net.loss.name)
    return g
