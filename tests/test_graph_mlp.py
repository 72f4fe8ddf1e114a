"""An MLP built as a graph gives the same facts as the chain prover (symderiv.analyze(symderiv.mlp(...)))."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import symderiv  # noqa: E402
from symderiv.graph import analyze_module  # noqa: E402

ACT = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def _module(sizes, act, value):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(ACT[act]())
    m = nn.Sequential(*layers)
    with torch.no_grad():
        for p in m.parameters():
            p.fill_(value)
    return m


def _partition(ids: list) -> set:
    """The tie partition as a set of frozensets of positions (ids themselves may be numbered differently)."""
    groups: dict = {}
    for pos, i in enumerate(ids):
        groups.setdefault(i, set()).add(pos)
    return {frozenset(g) for g in groups.values()}


@pytest.mark.parametrize("sizes,act,value", [([3, 2, 2], "tanh", 0.0), ([2, 2, 2, 2], "sigmoid", 0.0),
                                             ([3, 2, 2], "tanh", 0.5)])
def test_graph_mlp_matches_chain_prover(sizes, act, value):
    net = symderiv.mlp(sizes, act)
    init = symderiv.zeros() if value == 0 else symderiv.constant(sp_value(value))
    chain = symderiv.analyze(net, init)
    module = _module(sizes, act, value)
    graph = analyze_module(module, loss="ce", input_shape=(sizes[0],))
    ours, theirs = [], []
    for l in range(1, len(sizes)):
        for kind, torch_name in (("W", f"{2 * (l - 1)}.weight"), ("b", f"{2 * (l - 1)}.bias")):
            facts = graph.entry_facts(torch_name)
            for idx in np.ndindex(*facts["stays_zero"].shape):
                name = f"{kind}{l}"
                assert facts["stays_zero"][idx] == chain.stays_zero(name, idx), (name, idx)
                assert facts["first_move_step"][idx] == chain.first_move_step(name, idx), (name, idx)
                ours.append(facts["tie_class"][idx])
                theirs.append(chain.tie_class(name, idx))
    assert _partition(ours) == _partition(theirs)


def sp_value(v):
    from fractions import Fraction

    return Fraction(v)
