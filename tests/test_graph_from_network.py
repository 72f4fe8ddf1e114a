"""The MLP as one builder of graphs: symderiv.mlp(...) built as a Graph (no torch) gives, through the
graph prover, the same facts as the chain prover on the same network and init (exact values)."""
from fractions import Fraction

import numpy as np
import pytest

import symderiv as sd
from symderiv.errors import InitError
from symderiv.graph.analysis import analyze_graph
from symderiv.graph.from_network import graph_of_network


def _floats(net, spec):
    """Per parameter: a float array of the constant ``spec[name]`` (exact in binary)."""
    out = {}
    sizes = list(net.sizes)
    for l in range(1, len(sizes)):
        out[f"W{l}"] = np.full((sizes[l], sizes[l - 1]), float(spec[f"W{l}"]))
        if net.bias:
            out[f"b{l}"] = np.full((sizes[l],), float(spec[f"b{l}"]))
    return out


def _partition(ids):
    groups: dict = {}
    for pos, i in enumerate(ids):
        groups.setdefault(i, set()).add(pos)
    return {frozenset(g) for g in groups.values()}


CASES = [
    ([3, 2, 2], "tanh", "ce", True, {"W1": 0, "b1": 0, "W2": 0, "b2": 0}),
    ([2, 2, 2, 2], "sigmoid", "ce", True, {"W1": 0, "b1": 0, "W2": 0, "b2": 0, "W3": 0, "b3": 0}),
    ([3, 2, 2], "tanh", "mse", True, {"W1": 0.5, "b1": 0.5, "W2": 0.5, "b2": 0.5}),
    ([2, 3, 2], "relu", "ce", False, {"W1": 0.25, "W2": 0}),
    ([2, 2, 1], "sigmoid", "bce", True, {"W1": -0.5, "b1": 0, "W2": 0, "b2": 0.25}),
]


@pytest.mark.parametrize("lumped", [False, True], ids=["entries", "lumped"])
@pytest.mark.parametrize("sizes,act,loss,bias,spec", CASES)
def test_graph_of_network_matches_chain_prover(sizes, act, loss, bias, spec, lumped):
    net = sd.mlp(sizes, act, loss, bias=bias)
    init = {name: (sd.zeros() if v == 0 else sd.constant(Fraction(v))) for name, v in spec.items()}
    chain = sd.analyze(net, init)
    graph = analyze_graph(graph_of_network(net, _floats(net, spec)), values="exact", lumped=lumped)
    ours, theirs = [], []
    for name in spec:
        facts = graph.entry_facts(name)
        for idx in np.ndindex(*facts["stays_zero"].shape):
            assert facts["stays_zero"][idx] == chain.stays_zero(name, idx), (name, idx)
            assert facts["first_move_step"][idx] == chain.first_move_step(name, idx), (name, idx)
            ours.append(facts["tie_class"][idx])
            theirs.append(chain.tie_class(name, idx))
    assert _partition(ours) == _partition(theirs)


def test_graph_of_network_refuses_what_it_cannot_build():
    net = sd.mlp([2, 2], "tanh")
    with pytest.raises(InitError):
        graph_of_network(net, {"W1": np.zeros((2, 2))})  # b1 missing
    with pytest.raises(InitError):
        graph_of_network(net, {"W1": np.zeros((2, 3)), "b1": np.zeros(2)})  # wrong orientation
