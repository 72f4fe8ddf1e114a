"""Issue 19: certificates that certify: witness moves name the published tie_class ids."""
from __future__ import annotations

import json

import numpy as np
import pytest
import sympy as sp

import symderiv as sd

CASES = [
    (sd.mlp([3, 3, 3, 2], "sigmoid"), sd.zeros()),
    (sd.mlp([3, 3, 3, 2], "tanh"), sd.zeros()),
    (sd.mlp([3, 4, 2], "tanh"), {"W1": sd.generic(), "b1": sd.generic(), "W2": sd.zeros(), "b2": sd.zeros()}),
    (sd.mlp([2, 3, 3, 2], "relu"), sd.constant(sp.Rational(1, 2))),
    (sd.mlp([6, 3, 2], "tanh"), sd.zeros()),  # identical input columns: an input reduction
]


@pytest.mark.parametrize("net, init", CASES)
def test_every_witness_move_names_a_published_tie_class_that_first_moves_at_its_step(net, init):
    a = sd.analyze(net, init)
    data = json.loads(a.to_json())
    w = data["witness_trajectory"]
    if w is None:
        pytest.skip("no witness trajectory")
    facts = {name: a.entry_facts(name) for name in net.parameter_names()}
    for move in w["moves"]:
        entries = [(f["tie_class"] == move["class"]) & (f["first_move_step"] == move["step"]) for f in facts.values()]
        assert any(e.any() for e in entries), move
        # and no entry of another first-move step carries that id
        assert all(not ((f["tie_class"] == move["class"]) & (f["first_move_step"] != move["step"])).any()
                   for f in facts.values()), move
