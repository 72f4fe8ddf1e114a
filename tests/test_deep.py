"""Deep and wide networks: the abbreviated prover agrees with the fully expanded one, and
its results hold on real trajectories."""
from __future__ import annotations

import json

import numpy as np
import pytest
import sympy as sp

import symderiv as sd
from symderiv import prover


def _facts(a):
    """Per entry: stays zero, tie class, first-move step and its tightness (the prover's results).
    Read from entry_facts, not to_json: the JSON also prints every closed form and builds the
    summary, seconds per call on these depth-6 networks, none of it a fact the two proofs decide."""
    return {name: {k: np.asarray(v).tolist() for k, v in a.entry_facts(name).items() if k != "block"}
            for name in a.net.parameter_names()}


@pytest.mark.parametrize("act, init", [
    ("sigmoid", sd.zeros()),
    ("tanh", sd.constant(sp.Rational(1, 3))),
    ("relu", {"W": sd.constant(sp.Rational(1, 2)), "b": sd.constant(sp.Rational(1, 4)), "W6": sd.zeros()}),
    ("softplus", {"*": sd.generic(), "W3": sd.zeros()}),
])
def test_abbreviated_and_expanded_proofs_agree(act, init, monkeypatch):
    net = sd.mlp([2, 2, 2, 2, 2, 2, 2], act)  # depth 6
    monkeypatch.setattr(prover, "ABBREVIATE_FROM_DEPTH", 6)
    short = sd.analyze(net, init)
    assert short.proof.definitions, "the deep proof must use abbreviations"
    monkeypatch.setattr(prover, "ABBREVIATE_FROM_DEPTH", 100)
    full = sd.analyze(net, init)
    assert not full.proof.definitions
    assert _facts(short) == _facts(full)
    assert not short.proof.undecided


@pytest.mark.parametrize("act, init", [
    ("sigmoid", sd.zeros()),
    ("tanh", sd.constant(sp.Rational(1, 4))),
    ("gelu", {"*": sd.generic(), "W7": sd.zeros(), "b7": sd.zeros()}),
])
def test_deep_proofs_hold_on_trajectories(act, init):
    net = sd.mlp([2] + [3] * 6 + [2], act)  # depth 7
    a = sd.analyze(net, init)
    report = a.verify(optimizers=("sgd", "adam"), batch=3)
    assert report.ok, str(report)


def test_wide_and_deep_constant_init_is_proved_with_certified_moves():
    net = sd.mlp([3] + [512] * 12 + [3], "tanh")
    a = sd.analyze(net, sd.constant(sp.Rational(1, 10)))
    assert all(k == 1 for _, _, k in a.hidden_layer_classes())
    assert all(fm.tight for fm in a.proof.first_moves.values())
    data = a.to_dict()
    assert data["parameters"]["W5"]["layout"] == "blocks"  # 512 x 512: per block, not 262144 entries
    assert {b["first_move_step"] for b in data["parameters"]["W5"]["blocks"]} == {2}
    json.dumps(data)


def test_cli_commands(capsys):
    from symderiv.cli import main

    assert main(["analyze", "--layers", "3,2,2", "--activation", "sigmoid", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["parameters"]["W1"]["first_move_step"] == [[2, 2, 2], [2, 2, 2]]
    assert main(["derive", "--layers", "2,2", "--init", "zeros", "--param", "W1"]) == 0
    assert "x_1*(1/2 - y_1)" in capsys.readouterr().out
    assert main(["analyze", "--layers", "3,two,2", "--init", "constant:1/2"]) == 0
    assert main(["analyze", "--layers", "3,2,2", "--init", "constant:1/0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symderiv: error:") and err.count("\n") == 1
    assert main(["analyze", "--layers", "3,2,2", "--activation", "swish"]) == 2
    assert main(["verify", "--layers", "2,2,2", "--activation", "tanh", "--init", "constant:1/2"]) == 0
